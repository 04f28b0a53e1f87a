"""Named sets of evaluation scenes.

* ``real``: every scene folder with a ``cameras.json`` under the shared real-scene folder
  (``../shared/scenes``: real photographs with reference cameras, see its README). The folder is
  found from ``$OPENVGGT_SHARED/scenes``, then ``../shared/scenes`` beside the working directory,
  then beside the source checkout; or given explicitly.
* ``synthetic-test``: the held-out synthetic test split of the data engine: scenes ``0 .. n-1``
  of seed :data:`openvggt.data.synth.synthetic.TEST_SEED` with the default :class:`SynthConfig`
  (families mixed by their default weights, 8 frames, 256 px). The first 8 scenes cover all four
  families. Scenes are rendered once into a cache folder and reused (the engine is
  deterministic, and a scene folder is complete once its ``cameras.json`` exists).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from openvggt.data.synth.synthetic import GENERATOR_VERSION, TEST_SEED, SynthConfig, generate

log = logging.getLogger(__name__)

__all__ = ["SUITES", "SYNTHETIC_TEST_SCENES", "default_cache_dir", "real_scenes_root", "suite_scenes"]

SUITES = ("real", "synthetic-test")
SYNTHETIC_TEST_SCENES = 8
_CHECKOUT = Path(__file__).resolve().parents[3]


def real_scenes_root(root: str | Path | None = None) -> Path:
    """The folder holding the real scenes (see the module docstring for the search order)."""
    if root is not None:
        path = Path(root)
        if not path.is_dir():
            raise FileNotFoundError(f"{path}: real-scene folder does not exist")
        return path
    candidates = []
    if os.environ.get("OPENVGGT_SHARED"):
        candidates.append(Path(os.environ["OPENVGGT_SHARED"]) / "scenes")
    candidates += [Path.cwd().parent / "shared" / "scenes", _CHECKOUT.parent / "shared" / "scenes"]
    for path in candidates:
        if path.is_dir():
            return path
    raise FileNotFoundError(
        f"no real-scene folder found (tried {', '.join(str(c) for c in candidates)}); pass --scenes-root"
    )


def default_cache_dir() -> Path:
    """Where synthetic-test scenes are rendered: ``$OPENVGGT_CACHE`` or ``~/.cache/openvggt``, one
    folder per generator version (delete it if the engine changed its images without a new version)."""

    base = os.environ.get("OPENVGGT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "openvggt")
    return Path(base) / f"synthetic-test-v{GENERATOR_VERSION}"


def _synthetic_test(cache_dir: Path, num_scenes: int) -> list[Path]:

    log.info("synthetic-test: %d scenes of seed %d in %s (rendered once)", num_scenes, TEST_SEED, cache_dir)
    return generate(cache_dir, num_scenes, seed=TEST_SEED, config=SynthConfig())


def suite_scenes(
    name: str,
    scenes_root: str | Path | None = None,
    cache_dir: str | Path | None = None,
    num_synthetic: int = SYNTHETIC_TEST_SCENES,
) -> list[Path]:
    """Scene folders of suite ``name``, sorted by name."""
    if name == "real":
        root = real_scenes_root(scenes_root)
        scenes = sorted(p for p in root.iterdir() if (p / "cameras.json").is_file())
        if not scenes:
            raise FileNotFoundError(f"{root}: no scene folder with a cameras.json")
        return scenes
    if name == "synthetic-test":
        if num_synthetic < 1:
            raise ValueError(f"the synthetic-test suite needs at least one scene, got {num_synthetic}")
        return sorted(_synthetic_test(Path(cache_dir) if cache_dir else default_cache_dir(), num_synthetic))
    raise ValueError(f"unknown suite {name!r}; choose one of {SUITES}")
