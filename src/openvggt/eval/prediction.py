"""What a reconstruction method hands to the evaluation: cameras, optional depth and points, time.

Every method (VGGT, COLMAP, ...) is run on the image files of a scene and returns one
:class:`Prediction` with a row per reference frame, in the reference frame order. Frames the
method could not place are marked in ``registered``; their camera rows are NaN.

Conventions: OpenCV camera (x right, y down, z forward), world-to-camera ``x_cam = R x_world + t``,
in the method's own world frame and scale (the metrics are invariant to a similarity transform or
align one first).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Prediction"]


@dataclass(frozen=True)
class Prediction:
    """One method's output on one scene of ``S`` frames.

    Fields:
        extrinsics: ``[S, 3, 4]`` float64 world-to-camera; NaN rows where not registered.
        registered: ``[S]`` bool, True where the method produced a camera for the frame.
        time_s: wall-clock seconds from image files on disk to cameras (and depth), excluding
            one-time set-up such as loading model weights (reported in ``info`` when relevant).
        depth: optional per-frame ``[H_s, W_s]`` float z-depth on the method's own pixel grid,
            0 (or non-finite) where the method has no depth; ``None`` entries for frames without.
        depth_from_original: optional per-frame ``[3, 3]`` affine ``A`` taking original-image
            pixel coordinates to depth-grid coordinates, corner origin (pixel ``u`` spans
            ``[u, u + 1)``): ``[x_d, y_d, 1] = A @ [x_o, y_o, 1]``. ``None`` means identity.
        points: optional ``[N, 3]`` points in the method's world frame.
        info: method-specific facts worth keeping in the report (JSON-serialisable).
    """

    extrinsics: np.ndarray
    registered: np.ndarray
    time_s: float
    depth: tuple[np.ndarray | None, ...] | None = None
    depth_from_original: tuple[np.ndarray, ...] | None = None
    points: np.ndarray | None = None
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        e, r = np.asarray(self.extrinsics), np.asarray(self.registered)
        if e.ndim != 3 or e.shape[1:] != (3, 4):
            raise ValueError(f"extrinsics must be [S, 3, 4], got shape {e.shape}")
        if r.shape != (e.shape[0],) or r.dtype != bool:
            raise ValueError(f"registered must be a bool array of shape [{e.shape[0]}], got {r.dtype} {r.shape}")
        for name in ("depth", "depth_from_original"):
            seq = getattr(self, name)
            if seq is not None and len(seq) != e.shape[0]:
                raise ValueError(f"{name} has {len(seq)} entries for {e.shape[0]} frames")
        if self.points is not None and (np.ndim(self.points) != 2 or np.shape(self.points)[1] != 3):
            raise ValueError(f"points must be [N, 3], got shape {np.shape(self.points)}")

    @property
    def num_frames(self) -> int:
        return int(self.extrinsics.shape[0])

    @property
    def num_registered(self) -> int:
        return int(np.sum(self.registered))
