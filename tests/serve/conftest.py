"""Fixtures for the service tests: a tiny random model wrapped in a Predictor, example uploads, a client."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import one_torch_thread

pytest.importorskip("fastapi", reason="the service needs the serve extra: pip install 'openvggt[serve]'")

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "openvggt" / "assets" / "examples"
TOKEN = "test-token-123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FAST = '{"size": 112}'  # small model input: the result's quality does not matter here


@pytest.fixture(scope="package", autouse=True)
def _one_torch_thread():
    with one_torch_thread():
        yield


@pytest.fixture(scope="session")
def tiny_predictor():
    from openvggt import Predictor
    from openvggt.models.config import VGGTConfig
    from openvggt.models.init import random_model

    return Predictor(model=random_model(VGGTConfig.preset("vggt-tiny"), seed=0), device="cpu", dtype="fp32")


def example_files() -> list[tuple[str, tuple[str, bytes, str]]]:
    """The bundled example images as multipart ``files`` entries."""
    return [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in sorted(EXAMPLES.glob("*.jpg"))]


def jpeg_bytes(width: int = 64, height: int = 48, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.fixture
def make_client(tiny_predictor, tmp_path):
    """``make_client(**settings)`` -> a started TestClient (token TOKEN unless given); all are closed at the end."""
    from fastapi.testclient import TestClient

    from openvggt.serve.app import ServeSettings, create_app

    clients = []

    def make(manager=None, **kw):
        kw.setdefault("token", TOKEN)
        kw.setdefault("workdir", tmp_path / "work")
        client = TestClient(create_app(tiny_predictor, ServeSettings(**kw), manager=manager))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client):
    return make_client()
