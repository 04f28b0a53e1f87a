"""The JSON API in-process: the whole job life cycle, and every kind of bad request."""

from __future__ import annotations

import io
import json
import threading
import time
import zipfile

import pytest

from openvggt.serve.jobs import JobManager
from openvggt.serve.uploads import Limits
from tests.serve.conftest import AUTH, FAST, TOKEN, example_files, jpeg_bytes

API = "/api/v1"


def wait(client, job_id: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.get(f"{API}/jobs/{job_id}", headers=AUTH)
        assert r.status_code == 200, r.text
        body = r.json()
        assert 0.0 <= body["progress"] <= 1.0
        if body["status"] in ("done", "failed"):
            return body
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


def submit(client, files=None, options: str | None = FAST, headers=AUTH):
    data = {"options": options} if options is not None else {}
    return client.post(f"{API}/jobs", files=files if files is not None else example_files(), data=data, headers=headers)


# ---------------------------------------------------------------------------------------------- life cycle
def test_job_life_cycle(client):
    health = client.get(f"{API}/health", headers=AUTH).json()
    assert health["status"] == "ok" and health["device"] == "cpu" and health["queue"]["queued"] == 0
    r = submit(client)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "queued" and len(body["id"]) >= 22 and set(body) == {"id", "status"}
    done = wait(client, body["id"])
    assert done["status"] == "done" and done["progress"] == 1.0 and "error" not in done
    expected = {"result.zip", "points.ply", "scene.glb", "sparse.zip", "transforms.json", "report.html"}
    assert expected <= set(done["results"])
    got = {}
    for name, url in done["results"].items():
        r = client.get(url, headers=AUTH)
        assert r.status_code == 200, (name, r.text)
        got[name] = r.content
    assert got["points.ply"].startswith(b"ply\n")
    assert got["scene.glb"][:4] == b"glTF"
    assert len(json.loads(got["transforms.json"])["frames"]) == 4
    assert b"OpenVGGTViewer.mount" in got["report.html"]
    assert json.loads(got["viewer.json"])["points"]["count"] > 0
    names = zipfile.ZipFile(io.BytesIO(got["result.zip"])).namelist()
    assert {"points.ply", "predictions.npz", "report.html", "sparse/0/cameras.bin"} <= set(names)
    assert not any(".partial" in n for n in names)
    sparse = set(zipfile.ZipFile(io.BytesIO(got["sparse.zip"])).namelist())
    assert {"0/cameras.bin", "0/images.bin", "0/points3D.bin"} <= sparse
    # stored under server-chosen names, inputs removed once the job ended
    job = client.app.state.manager.get(body["id"])
    assert not (job.folder / "inputs").exists()
    assert json.loads((job.folder / "out" / "run.json").read_text())["images"][0]["name"] == "frame_00000.jpg"
    # delete: gone, with its files
    assert client.delete(f"{API}/jobs/{body['id']}", headers=AUTH).json() == {"id": body["id"], "status": "deleted"}
    assert client.get(f"{API}/jobs/{body['id']}", headers=AUTH).status_code == 404
    assert client.get(done["results"]["points.ply"], headers=AUTH).status_code == 404
    assert client.delete(f"{API}/jobs/{body['id']}", headers=AUTH).status_code == 404
    assert not job.folder.exists()


def test_failing_job_is_reported_and_the_server_carries_on(client):
    # --ba needs a model input of at least 128 px: the pipeline refuses 56 px with a one-line error
    r = submit(client, options='{"size": 56, "ba": true}')
    assert r.status_code == 202
    failed = wait(client, r.json()["id"])
    assert failed["status"] == "failed" and "ba" in failed["error"] and "\n" not in failed["error"]
    assert "results" not in failed
    assert client.get(f"{API}/jobs/{r.json()['id']}/files/points.ply", headers=AUTH).status_code == 409
    assert client.get(f"{API}/health", headers=AUTH).json()["queue"]["failed"] == 1


def test_internal_error_fails_the_job_not_the_server(make_client, tiny_predictor, tmp_path):
    def explode(job, predictor, progress):
        raise RuntimeError("boom")

    client = make_client(manager=JobManager(tiny_predictor, tmp_path / "jobs", runner=explode))
    failed = wait(client, submit(client).json()["id"])
    assert failed["status"] == "failed" and failed["error"].startswith("internal error (RuntimeError)")
    assert client.get(f"{API}/health", headers=AUTH).status_code == 200


def test_page_static_files_and_openapi(client):
    page = client.get("/")
    assert page.status_code == 200 and "/static/viz/three.bundle.min.js" in page.text
    for path in ("/static/viz/three.bundle.min.js", "/static/viz/viewer.js", "/static/app/app.js"):
        assert client.get(path).status_code == 200, path
    schema = client.get(f"{API}/openapi.json").json()
    assert {f"{API}/jobs", f"{API}/jobs/{{job_id}}", f"{API}/jobs/{{job_id}}/files/{{name}}", f"{API}/health"} <= set(
        schema["paths"]
    )
    assert "multipart/form-data" in schema["paths"][f"{API}/jobs"]["post"]["requestBody"]["content"]
    assert client.get("/docs").status_code == 404  # Swagger UI would load scripts from a CDN


# ---------------------------------------------------------------------------------------------- token
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}])
def test_wrong_or_missing_token_is_refused_everywhere(client, headers):
    for method, path in [
        ("GET", f"{API}/health"),
        ("GET", f"{API}/jobs/AAAAAAAAAAAAAAAAAAAAAA"),
        ("GET", f"{API}/jobs/AAAAAAAAAAAAAAAAAAAAAA/files/points.ply"),
        ("DELETE", f"{API}/jobs/AAAAAAAAAAAAAAAAAAAAAA"),
    ]:
        r = client.request(method, path, headers=headers)
        assert r.status_code == 401, (method, path)
        assert r.json()["detail"] == "missing or wrong bearer token"
    r = submit(client, headers=headers)
    assert r.status_code == 401
    assert client.app.state.manager.stats()["queued"] == 0


def test_no_token_configured_means_open(make_client):
    client = make_client(token=None)
    assert client.get(f"{API}/health").status_code == 200


# ---------------------------------------------------------------------------------------------- bad uploads
def _truncated_jpeg() -> bytes:
    data = jpeg_bytes(200, 150)
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    ("files", "status", "reason"),
    [
        ([("files", ("a.jpg", b"", "image/jpeg"))], 422, "file 1: empty file"),
        ([("files", ("a.jpg", b"this is not an image at all", "image/jpeg"))], 422, "not an image"),
        ([("files", ("a.jpg", _truncated_jpeg(), "image/jpeg"))], 422, "truncated or corrupt JPEG"),
        ([("files", ("ok.jpg", jpeg_bytes(), "image/jpeg")), ("files", ("b.png", b"\x89PNG\r\n\x1a\nxx", "x"))], 422,
         "file 2"),
        ([("files", ("a.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "image/gif"))], 422, ""),
        ([], 422, "no files"),
    ],
    ids=["empty", "not-an-image", "truncated-jpeg", "one-bad-of-two", "gif", "no-files"],
)  # fmt: skip
def test_unusable_uploads_get_422(client, files, status, reason):
    r = submit(client, files=files or [("other", ("x", b"1", "text/plain"))])
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and reason in detail
    assert client.app.state.manager.stats()["queued"] == 0
    assert not any(client.app.state.manager.root.iterdir())  # nothing left behind


def test_too_many_files_too_large_too_many_pixels_get_413(make_client):
    client = make_client(limits=Limits(max_total_bytes=60_000, max_files=3, max_image_pixels=100 * 100))
    small = [("files", (f"{i}.jpg", jpeg_bytes(32, 32, i), "image/jpeg")) for i in range(4)]
    r = submit(client, files=small)
    assert r.status_code == 413 and "over the limit of 3" in r.json()["detail"]
    r = submit(client, files=[("files", ("big.jpg", jpeg_bytes(101, 100), "image/jpeg"))])
    assert r.status_code == 413 and "101x100" in r.json()["detail"]
    big = [("files", ("a.bin", bytes(40_000), "image/jpeg")), ("files", ("b.bin", bytes(40_000), "image/jpeg"))]
    r = submit(client, files=big)
    assert r.status_code == 413 and "limit" in r.json()["detail"]


def test_body_over_the_limit_is_cut_off_without_content_length(make_client):
    client = make_client(limits=Limits(max_total_bytes=10_000))
    boundary = "xyzzy"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="a.jpg"\r\n\r\n'.encode()

    def body():  # a streamed (chunked) body: no Content-Length to check up front
        yield head
        for _ in range(100):
            yield bytes(50_000)
        yield f"\r\n--{boundary}--\r\n".encode()

    headers = AUTH | {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    r = client.post(f"{API}/jobs", content=body(), headers=headers)
    assert r.status_code == 413, r.text
    r = client.post(f"{API}/jobs", content=b"x" * 2_000_000, headers=headers)  # with Content-Length
    assert r.status_code == 413 and "limit" in r.json()["detail"]


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ("{not json", "options"),
        ('{"size": 100}', "size"),
        ('{"mode": "stretch"}', "mode"),
        ('{"chunk_size": 8}', "chunk_size"),
        ('{"conf_threshold": 100}', "conf_threshold"),
        ('{"fps": 2}', "video only"),
        ('{"cameras": "colmap"}', "cameras"),
        ('{"focal": -3}', "focal"),
        ('{"focal": 300}', "focal applies to cameras from matches"),  # auto with this model: the camera head
        ('{"focal": 300, "cameras": "matches", "chunk": 4}', "focal not available with chunk"),
    ],
)
def test_bad_options_get_422_with_one_line(client, options, reason):
    r = submit(client, options=options)
    assert r.status_code == 422, r.text
    assert reason in r.json()["detail"] and "\n" not in r.json()["detail"]


def test_a_job_can_solve_its_cameras_from_matches(client):
    """``cameras`` reaches the pipeline; ``auto`` with a model that is not the shipped one is the camera head."""
    for options, source in (('{"cameras": "matches"}', "matches"), ("{}", "camera head")):
        r = submit(client, options=options)
        assert r.status_code == 202, r.text
        assert wait(client, r.json()["id"])["status"] == "done"
        run = json.loads((client.app.state.manager.get(r.json()["id"]).folder / "out" / "run.json").read_text())
        assert run["cameras"]["source"] == source
    r = submit(client, options='{"cameras": "matches", "focal": 210.5}')
    assert r.status_code == 202, r.text
    assert wait(client, r.json()["id"])["status"] == "done"
    run = json.loads((client.app.state.manager.get(r.json()["id"]).folder / "out" / "run.json").read_text())
    assert run["cameras"]["focal_length"] == "given" and run["cameras"]["focal_px"] == 210.5


# ---------------------------------------------------------------------------------------------- names and ids
def test_client_file_names_never_reach_the_file_system(make_client, tiny_predictor, tmp_path):
    gate = Gate()
    client = make_client(manager=JobManager(tiny_predictor, tmp_path / "jobs", runner=gate))
    files = [("files", (name, jpeg_bytes(64, 48, i), "image/jpeg"))
             for i, name in enumerate(["../../evil.jpg", "/etc/passwd", "..\\..\\x.jpg"])]  # fmt: skip
    r = submit(client, files=files)
    assert r.status_code == 202
    assert gate.started.wait(10)
    job = client.app.state.manager.get(r.json()["id"])
    assert sorted(p.name for p in (job.folder / "inputs").iterdir()) == [f"frame_0000{i}.jpg" for i in range(3)]
    assert job.folder.parent == tmp_path / "jobs"
    gate.release.set()
    assert wait(client, job.id)["status"] == "done"
    assert not list(tmp_path.rglob("evil*")) and not list(tmp_path.rglob("x.jpg"))


@pytest.mark.parametrize(
    "path",
    [
        "/jobs/AAAAAAAAAAAAAAAAAAAAAA",
        "/jobs/..%2F..%2Fetc",
        "/jobs/AAAAAAAAAAAAAAAAAAAAAA/files/points.ply",
        "/jobs/AAAAAAAAAAAAAAAAAAAAAA/files/..%2F..%2Fetc%2Fpasswd",
    ],
)
def test_unknown_ids_and_traversal_paths_get_404_or_422(client, path):
    r = client.get(API + path, headers=AUTH)
    assert r.status_code in (404, 422), r.text
    assert "root:" not in r.text


def test_unknown_and_traversal_file_names_of_a_real_job(client):
    job_id = submit(client).json()["id"]
    assert wait(client, job_id)["status"] == "done"
    for name in ["..%2F..%2Fetc%2Fpasswd", "run.json", "out", "predictions.npz", "%2Fetc%2Fpasswd"]:
        r = client.get(f"{API}/jobs/{job_id}/files/{name}", headers=AUTH)
        assert r.status_code in (404, 422), (name, r.status_code)
        assert "root:" not in r.text


def test_job_ids_are_unguessable():
    from openvggt.serve.jobs import new_job_id

    ids = {new_job_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(len(i) == 22 for i in ids)


# ---------------------------------------------------------------------------------------------- queue, expiry, shutdown
class Gate:
    """A runner that blocks until released (to hold jobs in the running state)."""

    def __init__(self) -> None:
        self.release, self.started = threading.Event(), threading.Event()

    def __call__(self, job, predictor, progress) -> None:
        progress(0.5, "held")
        self.started.set()
        assert self.release.wait(30)


def test_full_queue_gets_503(make_client, tiny_predictor, tmp_path):
    gate = Gate()
    client = make_client(manager=JobManager(tiny_predictor, tmp_path / "jobs", workers=1, queue_size=1, runner=gate))
    first = submit(client).json()["id"]
    assert gate.started.wait(10)
    assert client.get(f"{API}/jobs/{first}", headers=AUTH).json()["status"] == "running"
    assert submit(client).status_code == 202  # waits in the queue
    r = submit(client)
    assert r.status_code == 503 and "queue is full" in r.json()["detail"] and r.headers["retry-after"]
    gate.release.set()
    assert wait(client, first)["status"] == "done"


def test_finished_jobs_expire(make_client, tiny_predictor, tmp_path):
    manager = JobManager(tiny_predictor, tmp_path / "jobs", ttl=60, runner=lambda job, p, progress: None)
    client = make_client(manager=manager)
    job_id = submit(client).json()["id"]
    assert wait(client, job_id)["status"] == "done"
    folder = manager.get(job_id).folder
    assert manager.expire(now=time.time() + 30) == 0
    assert manager.expire(now=time.time() + 61) == 1
    assert client.get(f"{API}/jobs/{job_id}", headers=AUTH).status_code == 404 and not folder.exists()


def test_shutdown_fails_queued_and_overdue_jobs_and_finishes_quick_ones(tiny_predictor, tmp_path):
    from openvggt.serve.jobs import Job

    gate = Gate()
    manager = JobManager(tiny_predictor, tmp_path / "jobs", workers=1, queue_size=4, runner=gate)
    manager.start()
    jobs = [manager.submit(Job(id=f"job{i}", folder=tmp_path / f"j{i}", inputs=[], options={})) for i in range(3)]
    assert gate.started.wait(10)
    manager.shutdown(grace=0.2)
    assert [j.status for j in jobs] == ["failed"] * 3
    assert jobs[0].error == "the server shut down while the job ran"
    assert jobs[1].error == "the server shut down before the job ran"
    gate.release.set()  # the overdue job ending later must not turn into "done"
    time.sleep(0.2)
    assert jobs[0].status == "failed"
    with pytest.raises(Exception, match="shutting down"):
        manager.submit(Job(id="late", folder=tmp_path / "late", inputs=[], options={}))

    quick = JobManager(tiny_predictor, tmp_path / "jobs2", runner=lambda job, p, progress: time.sleep(0.3))
    quick.start()
    job = quick.submit(Job(id="q", folder=tmp_path / "q", inputs=[], options={}))
    time.sleep(0.1)
    quick.shutdown(grace=10)
    assert job.status == "done"


def test_progress_follows_the_pipeline_stages(tiny_predictor, tmp_path, caplog):
    import logging

    from openvggt.serve.jobs import Job, reconstruct_job
    from tests.serve.conftest import EXAMPLES

    caplog.set_level(logging.INFO, logger="openvggt.pipeline.timing")  # the stages are logged at INFO
    manager = JobManager(tiny_predictor, tmp_path / "jobs")
    manager.start()  # attaches the stage listener
    manager.shutdown(grace=1)
    seen = []
    job = Job(id="p", folder=tmp_path / "p", inputs=sorted(EXAMPLES.glob("*.jpg"))[:2], options={"size": 56})
    reconstruct_job(job, tiny_predictor, lambda value, stage: seen.append((value, stage)))
    stages = [stage for _, stage in seen]
    assert stages.index("inference") < stages.index("points") < stages.index("writing results")
    values = [v for v, _ in seen]
    assert values == sorted(values) and values[-1] == 0.9
    assert (tmp_path / "p" / "viewer.json").is_file() and (tmp_path / "p" / "result.zip").is_file()


def test_options_sent_as_a_file_get_422(client):
    files = example_files()[:1] + [("options", ("o.json", b'{"size": 112}', "application/json"))]
    r = client.post(f"{API}/jobs", files=files, headers=AUTH)
    assert r.status_code == 422 and "text field" in r.json()["detail"]


def test_deleting_a_running_job_removes_it_when_it_ends(make_client, tiny_predictor, tmp_path):
    gate = Gate()
    client = make_client(manager=JobManager(tiny_predictor, tmp_path / "jobs", runner=gate))
    job_id = submit(client).json()["id"]
    assert gate.started.wait(10)
    folder = tmp_path / "jobs" / job_id
    assert client.delete(f"{API}/jobs/{job_id}", headers=AUTH).status_code == 200
    assert client.get(f"{API}/jobs/{job_id}", headers=AUTH).status_code == 404
    assert folder.exists()  # the worker still uses it
    gate.release.set()
    deadline = time.monotonic() + 10
    while folder.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not folder.exists() and client.app.state.manager.stats()["done"] == 0


def test_chunked_job_writes_the_same_results(client):
    r = submit(client, options='{"size": 112, "chunk": 3, "overlap": 2}')
    assert r.status_code == 202, r.text
    done = wait(client, r.json()["id"])
    assert done["status"] == "done", done
    assert {"result.zip", "points.ply", "sparse.zip", "report.html", "viewer.json"} <= set(done["results"])
    names = zipfile.ZipFile(io.BytesIO(client.get(done["results"]["result.zip"], headers=AUTH).content)).namelist()
    assert "cameras.npz" in names and "predictions.npz" not in names
    viewer = client.get(done["results"]["viewer.json"], headers=AUTH).json()
    assert viewer["points"]["count"] > 0 and len(viewer["cameras"]) == 4


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ('{"overlap": 2}', "need chunk"),
        ('{"loop_closure": true}', "need chunk"),
        ('{"chunk": 3, "overlap": 3}', "smaller than chunk"),
        ('{"chunk": 1}', "chunk"),
        ('{"chunk": 3, "ba": true}', "not available with chunk"),
    ],
)
def test_bad_chunk_options_get_422(client, options, reason):
    r = submit(client, options=options)
    assert r.status_code == 422 and reason in r.json()["detail"], r.text
