"""Long sequences: thousands of frames with bounded memory.

Layer: above :mod:`openvggt.predictor` and :mod:`openvggt.data`, beside :mod:`openvggt.pipeline` (which
imports it; it never imports the pipeline). The pieces:

* :mod:`~openvggt.longseq.plan` — chunk planning, from ``--chunk/--overlap`` or from a memory budget;
* :mod:`~openvggt.longseq.sim3` — robust, confidence-weighted Sim(3) fits (IRLS around weighted Umeyama);
* :mod:`~openvggt.longseq.source` — frame sources that decode images lazily, by index;
* :mod:`~openvggt.longseq.store` — predictions of finished chunks on disk (memory-mapped ``.npy``);
* :mod:`~openvggt.longseq.chunked` — the chunk loop: run, align, store;
* :mod:`~openvggt.longseq.loop` — revisit detection, verification and the Sim(3) chunk-graph optimisation;
* :mod:`~openvggt.longseq.voxel` — an on-the-fly voxel-downsampled point cloud;
* :mod:`~openvggt.longseq.metrics` — ATE / RPE (evo), AUC@30 on sampled pairs, depth AbsRel.
"""
