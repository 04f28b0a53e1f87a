"""The synthetic scene engine: analytic primitives, a numpy ray caster, scene families and layouts.

:func:`~openvggt.data.synth.synthetic.generate_scene` makes one :class:`~openvggt.data.scene.Scene` with exact
cameras, depth and correspondences; :func:`~openvggt.data.synth.synthetic.generate` writes many to disk.
The readers, training samples and datasets that consume scenes live one level up in :mod:`openvggt.data`.
"""
