"""VGGT chunk by chunk (:mod:`openvggt.pipeline.chunked`) as an evaluated method, for long sequences.

The code path of ``openvggt reconstruct --chunk N --overlap K``; the model is loaded once. ``time_s`` covers
the whole reconstruction including writing its outputs to the scratch folder (they are streamed to disk;
the depth maps are read back from ``depth/<stem>.npy`` for the depth metrics).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from openvggt.eval.prediction import Prediction
from openvggt.longseq.source import ImageFilesSource
from openvggt.pipeline.chunked import make_predictor, reconstruct_chunked

__all__ = ["ChunkedVggtMethod"]


class ChunkedVggtMethod:
    name = "vggt-chunked"

    def __init__(self, options, weights: str = "default"):  # noqa: ANN001 - pipeline.chunked.ChunkedOptions
        options.check()
        self.options, self.weights = options, weights
        self.model = make_predictor(weights, None, options).model

    def __call__(self, image_paths: Sequence[Path], work_dir: Path) -> Prediction:
        out = Path(work_dir) / "vggt-chunked"
        start = time.perf_counter()
        result = reconstruct_chunked(
            None,
            out,
            model=self.model,
            options=self.options,
            overwrite=True,
            copy_images=False,
            source=ImageFilesSource(image_paths),
        )
        seconds = time.perf_counter() - start
        meta = json.loads((out / "depth" / "meta.json").read_text())
        depth, affine = [], []
        for name in result.names:
            m = meta["images"][name]
            depth.append(np.load(out / "depth" / m["depth"]))
            x0, y0, x1, y1 = m["original_box"]
            w, h = m["size"]
            sx, sy = w / (x1 - x0), h / (y1 - y0)
            affine.append(np.array([[sx, 0.0, -x0 * sx], [0.0, sy, -y0 * sy], [0.0, 0.0, 1.0]]))
        info = {k: result.summary[k] for k in ("chunks", "chunk", "overlap", "loop_closure", "merge_tokens")}
        info["loops"] = len(result.summary["loops"])
        shutil.rmtree(out, ignore_errors=True)
        return Prediction(
            result.extrinsics, np.ones(len(result.names), bool), seconds, tuple(depth), tuple(affine), info=info
        )
