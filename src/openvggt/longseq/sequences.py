"""Sequences with ground truth: the long synthetic video, scenes read from disk (7-Scenes redkitchen), and an
oracle chunk model that "predicts" each chunk from the exact depth and cameras seen through a random Sim(3).

Ground-truth conventions are the data package's: OpenCV cameras, world-to-camera, ``K`` in pixels of the
stored image with pixel ``(u, v)``'s centre at ``(u, v)``; depth in metres, 0 = invalid.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from openvggt.data.scene import Scene
from openvggt.data.synth.synthetic import SynthConfig, generate_scene
from openvggt.longseq.chunked import ChunkModel
from openvggt.longseq.sim3 import to_matrix, transform_extrinsics
from openvggt.longseq.source import CallableSource, FrameSource, ImageFilesSource
from openvggt.longseq.store import ChunkPrediction


@dataclass
class GroundTruth:
    """Exact (or reference) cameras and depth of a sequence of S frames."""

    extrinsics: np.ndarray  # [S, 3, 4] world-to-camera
    intrinsics: np.ndarray  # [S, 3, 3] stored-image pixels, centre origin
    sizes: np.ndarray  # [S, 2] (height, width)
    depth: Callable[[int], np.ndarray | None]  # frame -> [H, W] metres, 0 = invalid


def scene_sequence(scene: Scene) -> tuple[FrameSource, GroundTruth]:
    """A :class:`Scene` (e.g. ``read_scene('../shared/sequences/7scenes-redkitchen')``) as a lazy source."""
    if all(isinstance(p, Path) for p in scene.images):
        source: FrameSource = ImageFilesSource(list(scene.images))
    else:
        source = CallableSource([f"{i:05d}.png" for i in range(scene.num_frames)], scene.load_image)
    depth = scene.load_depth if scene.depths is not None else (lambda i: None)
    return source, GroundTruth(scene.extrinsics, scene.K, scene.sizes, depth)


def synthetic_sequence(
    num_frames: int, seed: int = 0, index: int = 0, size: int = 168, samples: int = 1
) -> tuple[FrameSource, GroundTruth]:
    """The ``long_video`` synthetic family (two laps of a loop): ``num_frames`` frames rendered on demand."""
    config = SynthConfig(num_frames=num_frames, size=size, family="long_video", samples=samples, photometric=False)
    scene = generate_scene(seed, index, config)
    cams = scene.cameras
    extrinsics = np.stack([np.concatenate([c.R, c.t[:, None]], 1) for c in cams])
    names = [f"{i:05d}.png" for i in range(len(cams))]
    last: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def render(i: int) -> tuple[np.ndarray, np.ndarray]:
        if i not in last:
            last.clear()  # one frame: image and depth are asked for one after the other
            last[i] = scene.render(i)
        return last[i]

    gt = GroundTruth(
        extrinsics, np.stack([c.K for c in cams]), np.array([[c.height, c.width] for c in cams]), lambda i: render(i)[1]
    )
    return CallableSource(names, lambda i: render(i)[0]), gt


def random_sim3(rng: np.random.Generator, scale_range=(0.3, 3.0), translation: float = 2.0) -> np.ndarray:
    """A random ``[4, 4]`` similarity (log-uniform scale, uniform rotation)."""
    scale = float(np.exp(rng.uniform(*np.log(scale_range))))
    return to_matrix(scale, Rotation.random(random_state=rng).as_matrix(), rng.normal(0, translation, 3))


class OracleChunkModel(ChunkModel):
    """Exact depth and cameras of each chunk, expressed in a world distorted by a random Sim(3) per chunk.

    ``distortions[key]`` is the similarity from the true world to the chunk's world (``key`` the tuple of its
    frames), so the correct chunk poses are known. Confidence is 1 everywhere (2 on every other row, to
    exercise the weights); images are the source's frames at full size.
    """

    def __init__(self, source: FrameSource, gt: GroundTruth, seed: int = 0):
        self.source, self.gt = source, gt
        self.rng = np.random.default_rng(seed)
        self.distortions: dict[tuple[int, ...], np.ndarray] = {}
        self.metas = {}

    def __call__(self, frames: Sequence[int]) -> ChunkPrediction:
        frames = [int(f) for f in frames]
        d = random_sim3(self.rng)
        self.distortions[tuple(frames)] = d
        scale = float(np.cbrt(np.linalg.det(d[:3, :3])))
        depth = np.stack([self.gt.depth(f) for f in frames]).astype(np.float64) * scale
        k = self.gt.intrinsics[frames].copy()
        k[:, :2, 2] += 0.5  # centre origin -> corner origin
        conf = np.ones(depth.shape, np.float32)
        conf[:, ::2] = 2.0
        return ChunkPrediction(
            frames=np.array(frames, np.int64),
            depth=depth,  # float64, so that the oracle checks can reach ~1e-9
            conf=conf,
            valid=depth > 0,
            images=np.stack([self.source.image(f) for f in frames]),
            extrinsics=transform_extrinsics(d, self.gt.extrinsics[frames]),
            intrinsics=k,
        )
