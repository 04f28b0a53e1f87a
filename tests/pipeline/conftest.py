"""Fixtures for the pipeline tests: a random tiny model on disk and small test images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import one_torch_thread

SIZE = 224  # model input side used by the tests (the track head needs >= 128 px)


@pytest.fixture(scope="package", autouse=True)
def _one_torch_thread():
    with one_torch_thread():
        yield


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from openvggt.io.checkpoint import save_model
    from openvggt.models.config import VGGTConfig
    from openvggt.models.init import random_model

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    save_model(random_model(VGGTConfig.preset("vggt-tiny")), path)
    return path


@pytest.fixture(scope="session")
def tiny_model(tiny_weights: Path):
    from openvggt.io.checkpoint import load_model

    return load_model(tiny_weights)


def textured(width: int, height: int, seed: int = 0) -> np.ndarray:
    """``[H, W, 3]`` uint8 smooth random texture with corners (blocks) that trackers and detectors like."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 255, size=(max(1, height // 16) + 1, max(1, width // 16) + 1, 3), dtype=np.uint8)
    image = Image.fromarray(blocks).resize((width, height), Image.Resampling.NEAREST)
    return np.asarray(image)


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """Three 196x140 JPEGs."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(textured(196, 140, seed=i)).save(folder / f"frame_{i}.jpg", quality=95)
    return folder
