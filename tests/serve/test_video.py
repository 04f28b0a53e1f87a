"""Video uploads: checked by content and length, sampled to a bounded number of frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from openvggt.serve.uploads import Limits
from tests.serve.test_api import API, AUTH, submit, wait

av = pytest.importorskip("av", reason="video uploads need PyAV (the recon extra)")


def make_video(path: Path, seconds: float, fps: int = 10, size: tuple[int, int] = (96, 64)) -> bytes:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (size[1] // 8, size[0] // 8, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for i in range(int(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(np.roll(base, i, axis=1), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path.read_bytes()


def test_a_short_video_is_reconstructed_from_a_bounded_number_of_frames(make_client, tmp_path):
    client = make_client(limits=Limits(max_video_frames=3))
    data = make_video(tmp_path / "clip.mp4", 2.0)
    r = submit(client, files=[("files", ("clip.mp4", data, "video/mp4"))], options='{"size": 112, "max_frames": 10}')
    assert r.status_code == 202, r.text
    done = wait(client, r.json()["id"])
    assert done["status"] == "done", done
    job = client.app.state.manager.get(r.json()["id"])
    assert job.options["max_frames"] == 3  # the server's limit wins over the client's 10
    assert len(client.get(done["results"]["transforms.json"], headers=AUTH).json()["frames"]) == 3


def test_too_long_a_video_gets_413(make_client, tmp_path):
    client = make_client(limits=Limits(max_video_seconds=1.0))
    data = make_video(tmp_path / "long.mp4", 3.0)
    r = submit(client, files=[("files", ("long.mp4", data, "video/mp4"))])
    assert r.status_code == 413 and "limit is 1 s" in r.json()["detail"]


def test_fake_or_mixed_videos_get_422(client, tmp_path):
    fake = b"\x00\x00\x00\x18ftypmp42" + bytes(200)  # an mp4 header and nothing behind it
    r = submit(client, files=[("files", ("v.mp4", fake, "video/mp4"))])
    assert r.status_code == 422 and "not a readable video" in r.json()["detail"]
    data = make_video(tmp_path / "clip.mp4", 0.5)
    r = submit(client, files=[("files", ("a.mp4", data, "video/mp4")), ("files", ("b.mp4", data, "video/mp4"))])
    assert r.status_code == 422 and "not both" in r.json()["detail"]
    assert client.get(f"{API}/health", headers=AUTH).json()["queue"]["queued"] == 0
