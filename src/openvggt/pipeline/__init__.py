"""User-facing jobs: ``reconstruct`` (cameras, depth, points, COLMAP model) and ``track_points``.

``reconstruct`` is both a submodule and the function it defines; importing the function here
(rather than lazily) keeps ``openvggt.pipeline.reconstruct(...)`` callable however the submodule
was imported first.
"""

from __future__ import annotations

from openvggt.pipeline.ba import BAOptions
from openvggt.pipeline.reconstruct import Reconstruction, ReconstructOptions, reconstruct
from openvggt.pipeline.track import TrackResult, track_points

__all__ = ["BAOptions", "ReconstructOptions", "Reconstruction", "TrackResult", "reconstruct", "track_points"]
