"""Synthetic multi-view scenes with exact ground truth.

Scene ``index`` of seed ``seed`` is a pure function of ``(seed, index)`` and the
:class:`SynthConfig`: scenes can be generated in any order, in parallel, or rendered lazily frame
by frame (:meth:`SyntheticScene.to_scene`), and always come out the same.

Splits by convention: training data uses seeds below :data:`HELDOUT_SEED_START`; the held-out
test split is seed :data:`TEST_SEED` and validation is :data:`VAL_SEED` (see ``docs/data.md``).

On disk (:func:`write_scene`)::

    OUT_DIR/<scene>/images/NNNN.png   # uint8 RGB
    OUT_DIR/<scene>/depth/NNNN.npy    # float32 [H, W] z-depth in metres, 0 = nothing (sky)
    OUT_DIR/<scene>/cameras.json      # the ../shared/scenes schema: OpenCV, x_cam = R x_world + t
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from openvggt.data.scene import Scene
from openvggt.data.synth.cameras import sample_intrinsics
from openvggt.data.synth.families import BUILDERS, FAMILIES, LayoutFailed
from openvggt.data.synth.render import Camera, Photometric, SceneGeometry, render, shade_grid, trace_grid

log = logging.getLogger(__name__)

GENERATOR_VERSION = 2
HELDOUT_SEED_START = 1_000_000
TEST_SEED = 1_000_000
VAL_SEED = 1_000_001
FAMILY_WEIGHTS = {"indoor": 0.3, "object": 0.25, "street": 0.25, "video": 0.2}
CONVENTION = "OpenCV camera; x_cam = R @ x_world + t; K in pixels of the stored image"


@dataclass(frozen=True)
class SynthConfig:
    """What to generate. ``family=None`` mixes the families with :data:`FAMILY_WEIGHTS`.

    ``size``: longer image side in pixels (the aspect ratio varies per scene); ``samples``: rays
    per pixel for anti-aliasing (1, 5 or 9); ``photometric``: per-frame exposure, white balance and
    noise variation (off makes a surface point the same colour in every frame).
    """

    num_frames: int = 8
    size: int = 256
    family: str | None = None
    samples: int = 5
    photometric: bool = True

    def __post_init__(self) -> None:
        if self.family is not None and self.family not in FAMILIES:
            raise ValueError(f"unknown scene family {self.family!r}; choose one of {FAMILIES}")
        if self.num_frames < 1 or self.size < 16:
            raise ValueError(f"need num_frames >= 1 and size >= 16, got {self.num_frames}, {self.size}")


@dataclass(frozen=True)
class SyntheticScene:
    """A generated scene: geometry, one camera and one camera response per frame."""

    name: str
    family: str
    seed: int
    index: int
    geometry: SceneGeometry
    cameras: tuple[Camera, ...]
    photometric: tuple[Photometric, ...]
    samples: int

    @property
    def num_frames(self) -> int:
        return len(self.cameras)

    def render(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Frame ``i``: ``image [H, W, 3]`` uint8 and ``depth [H, W]`` float32 (0 = sky)."""
        return render(self.geometry, self.cameras[i], self.photometric[i], self.samples)

    def to_scene(self) -> Scene:
        """The scene interface with lazily rendered frames (each frame rendered once, on demand)."""
        cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

        def get(i: int, k: int):
            if i not in cache:
                cache.clear()  # keep one frame: image and depth are asked for one after the other
                cache[i] = self.render(i)
            return cache[i][k]

        cams = self.cameras
        return Scene(
            name=self.name,
            K=np.stack([c.K for c in cams]),
            R=np.stack([c.R for c in cams]),
            t=np.stack([c.t for c in cams]),
            sizes=np.array([[c.height, c.width] for c in cams]),
            images=tuple((lambda i=i: get(i, 0)) for i in range(len(cams))),
            depths=tuple((lambda i=i: get(i, 1)) for i in range(len(cams))),
        )


def _rng(seed: int, index: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, index, *stream]))


def scene_family(seed: int, index: int, config: SynthConfig) -> str:
    if config.family is not None:
        return config.family
    names = list(FAMILY_WEIGHTS)
    return str(_rng(seed, index, 0).choice(names, p=list(FAMILY_WEIGHTS.values())))


def scene_name(seed: int, index: int, family: str) -> str:
    """The folder name of scene ``index`` of ``seed``, e.g. ``seed0_00042_street``."""
    return f"seed{seed}_{index:05d}_{family}"


def generate_scene(seed: int, index: int, config: SynthConfig = SynthConfig()) -> SyntheticScene:
    """Scene ``index`` of seed ``seed`` (deterministic); frames are rendered on demand."""
    family = scene_family(seed, index, config)
    for attempt in range(20):
        rng = _rng(seed, index, 1, attempt)
        fov = (40.0, 75.0) if family == "object" else (40.0, 100.0)
        intr = sample_intrinsics(rng, config.size, fov)
        try:
            geometry, cameras = BUILDERS[family](rng, config.num_frames, intr)
        except LayoutFailed as e:
            log.debug("scene %d/%d attempt %d: %s", seed, index, attempt, e)
            continue
        photo = _photometric(seed, index, geometry, cameras, config.photometric)
        name = scene_name(seed, index, family)
        return SyntheticScene(name, family, seed, index, geometry, tuple(cameras), photo, config.samples)
    raise RuntimeError(f"no acceptable layout for scene {index} of seed {seed} ({family}) in 20 attempts")


def _photometric(seed, index, geometry, cameras, vary: bool) -> tuple[Photometric, ...]:
    """Auto-exposure from a coarse render of frame 0, then per-frame exposure/white-balance/noise."""
    rng = _rng(seed, index, 2)
    base = 0.2 / max(_mean_luminance(geometry, cameras[0]), 1e-3)
    wb = 1 + rng.normal(0, 0.06, 3)
    wb /= wb.mean()
    out = []
    for i in range(len(cameras)):
        fr = _rng(seed, index, 3, i)
        if vary:
            frame_wb = wb * (1 + fr.normal(0, 0.03, 3))
            out.append(
                Photometric(
                    float(base * np.exp(fr.normal(0, 0.2))),
                    tuple(frame_wb / frame_wb.mean()),
                    float(fr.uniform(0, 0.012)),
                    int(fr.integers(2**31)),
                )
            )
        else:
            out.append(Photometric(float(base), tuple(wb), 0.0, 0))
    return tuple(out)


def _mean_luminance(geometry: SceneGeometry, cam: Camera) -> float:
    """Mean linear luminance of a 1-ray-per-pixel render of ``cam`` at about 48 px."""
    s = 48 / max(cam.width, cam.height)
    K = cam.K.copy()
    K[:2] *= s
    small = Camera(K, cam.R, cam.t, max(int(cam.width * s), 4), max(int(cam.height * s), 4))
    depth, index, dx, dy = trace_grid(geometry, small, np.zeros((1, 2)))
    radiance = shade_grid(geometry, small, depth, index, dx, dy)
    return float(np.mean(radiance[0] * 0.3 + radiance[1] * 0.6 + radiance[2] * 0.1))


# ------------------------------------------------------------------------------------ writing
def cameras_json(scene: SyntheticScene, config: SynthConfig | None = None) -> dict:
    """The ``cameras.json`` content in the ``../shared/scenes`` schema plus a ``generator`` record."""
    frames = [
        {
            "file": f"images/{i:04d}.png",
            "width": int(c.width),
            "height": int(c.height),
            "K": c.K.tolist(),
            "R": c.R.tolist(),
            "t": c.t.tolist(),
        }
        for i, c in enumerate(scene.cameras)
    ]
    gen = {
        "version": GENERATOR_VERSION,
        "seed": scene.seed,
        "index": scene.index,
        "family": scene.family,
        "samples": scene.samples,
    }
    if config is not None:
        gen.update(size=config.size, photometric=config.photometric)
    return {
        "scene": scene.name,
        "source": f"openvggt synthetic engine v{GENERATOR_VERSION}, family {scene.family}",
        "gt": "exact: ray-cast analytic geometry; depth/NNNN.npy holds z-depth in metres, 0 = nothing hit",
        "licence": "generated; textures from scikit-image sample images (see their licences)",
        "convention": CONVENTION,
        "generator": gen,
        "frames": frames,
    }


def write_scene(scene: SyntheticScene, root: Path, config: SynthConfig | None = None) -> Path:
    """Render every frame of ``scene`` into ``root/<scene.name>``; returns that folder."""
    from PIL import Image  # noqa: PLC0415

    out = Path(root) / scene.name
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "depth").mkdir(exist_ok=True)
    for i in range(scene.num_frames):
        image, depth = scene.render(i)
        Image.fromarray(image).save(out / "images" / f"{i:04d}.png", compress_level=1)
        np.save(out / "depth" / f"{i:04d}.npy", depth)
    # Written last: a folder with cameras.json is complete (used to resume interrupted runs).
    tmp = out / "cameras.json.tmp"
    tmp.write_text(json.dumps(cameras_json(scene, config), indent=1))
    tmp.replace(out / "cameras.json")
    return out


def generate(
    out_dir: Path,
    num_scenes: int,
    seed: int = 0,
    config: SynthConfig = SynthConfig(),
    overwrite: bool = False,
    start: int = 0,
) -> list[Path]:
    """Write scenes ``start .. start + num_scenes - 1`` of ``seed`` under ``out_dir``.

    Resumable: a scene whose ``cameras.json`` exists and was written by this generator version with
    the same settings is skipped unless ``overwrite``; anything else is rendered (again).
    """
    out_dir = Path(out_dir)
    paths = []
    for index in range(start, start + num_scenes):
        folder = out_dir / scene_name(seed, index, scene_family(seed, index, config))
        if _is_current(folder, config) and not overwrite:
            paths.append(folder)
            continue
        scene = generate_scene(seed, index, config)
        paths.append(write_scene(scene, out_dir, config))
        log.info("wrote %s (%d frames)", paths[-1], scene.num_frames)
    return paths


def _is_current(folder: Path, config: SynthConfig) -> bool:
    """Whether ``folder`` holds a complete scene from this generator version and ``config``."""
    try:
        meta = json.loads((folder / "cameras.json").read_text())
    except (OSError, ValueError):
        return False
    gen = meta.get("generator", {})
    return (
        gen.get("version") == GENERATOR_VERSION
        and gen.get("size") == config.size
        and gen.get("samples") == config.samples
        and gen.get("photometric") == config.photometric
        and len(meta.get("frames", ())) == config.num_frames
    )
