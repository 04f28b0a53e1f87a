"""`openvggt serve` as a real process on a loopback port: 8 concurrent clients, then SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.serve.conftest import EXAMPLES

REPO = Path(__file__).resolve().parents[2]
CLIENTS = 8
TOKEN = "real-server-token"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> Path:
    from openvggt.io.checkpoint import save_model
    from openvggt.models.config import VGGTConfig
    from openvggt.models.init import random_model

    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    save_model(random_model(VGGTConfig.preset("vggt-tiny")), path)
    return path


def one_client(base: str, index: int) -> dict:
    """Submit the example images, poll until the job ends, fetch points.ply; returns the final status."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    files = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in sorted(EXAMPLES.glob("*.jpg"))][: 2 + index % 3]
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        r = client.post("/api/v1/jobs", files=files, data={"options": json.dumps({"size": 56})})
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            status = client.get(f"/api/v1/jobs/{job_id}").json()
            if status["status"] in ("done", "failed"):
                break
            time.sleep(0.2)
        if status["status"] == "done":
            ply = client.get(status["results"]["points.ply"])
            assert ply.status_code == 200 and ply.content.startswith(b"ply\n")
        return status


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_eight_concurrent_clients_all_done_then_sigterm(tiny_weights, tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    workdir = tmp_path / "work"
    cmd = [sys.executable, "-m", "openvggt.cli", "serve", "--port", str(port), "--weights", str(tiny_weights),
           "--device", "cpu", "--workers", "2", "--queue", str(CLIENTS), "--threads", "1",
           "--workdir", str(workdir)]  # fmt: skip
    env = os.environ | {"OPENVGGT_TOKEN": TOKEN, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    log = open(tmp_path / "server.log", "w+")  # noqa: SIM115
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            try:
                r = httpx.get(f"{base}/api/v1/health", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=2)
                if r.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not come up: " + (tmp_path / "server.log").read_text()
            time.sleep(0.3)
        assert httpx.get(f"{base}/api/v1/health").status_code == 401  # the token from the environment
        with ThreadPoolExecutor(CLIENTS) as pool:
            results = list(pool.map(lambda i: one_client(base, i), range(CLIENTS)))
        assert [r["status"] for r in results] == ["done"] * CLIENTS, results
        assert len({r["id"] for r in results}) == CLIENTS
        assert (
            httpx.get(f"{base}/api/v1/health", headers={"Authorization": f"Bearer {TOKEN}"}).json()["queue"]["done"]
            == CLIENTS
        )
        proc.send_signal(signal.SIGTERM)
        # uvicorn stops gracefully, then re-raises the signal: exit status -SIGTERM is the clean outcome
        assert proc.wait(60) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    text = (tmp_path / "server.log").read_text()
    assert "Traceback" not in text, text
    assert "job manager stopped" in text and "Application shutdown complete" in text, text
    assert not any(workdir.iterdir()), "the job folders outlived the server"
