"""Jobs: a bounded queue, worker threads sharing one loaded model, results that expire.

A job's files live in its own folder under the manager's root, named by the server only::

    <root>/<job id>/inputs/frame_00000.jpg ...   (deleted once the job ends)
    <root>/<job id>/out/                         the reconstruct output folder (written atomically)
    <root>/<job id>/result.zip, sparse.zip, viewer.json

Results appear only when complete (temporary name, then ``os.replace``), and a job is ``done`` only
once all of them exist. A failing job is marked ``failed`` with a one-line reason; the worker
carries on. On shutdown, queued jobs fail at once and running ones get ``grace`` seconds to finish.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import secrets
import shutil
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from openvggt.errors import UserError
from openvggt.pipeline.camera_solve import SolveOptions
from openvggt.pipeline.chunked import ChunkedOptions, reconstruct_chunked
from openvggt.pipeline.reconstruct import ReconstructOptions, reconstruct, resolve_cameras
from openvggt.viz.scene import load_scene
from openvggt.viz.web import scene_payload, web_payload

log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
# name in the API -> path inside the job folder
RESULT_FILES = {
    "result.zip": "result.zip",
    "points.ply": "out/points.ply",
    "scene.glb": "out/scene.glb",
    "sparse.zip": "sparse.zip",
    "transforms.json": "out/transforms.json",
    "report.html": "out/report.html",
    "viewer.json": "viewer.json",
}


class QueueFull(Exception):
    """The queue holds its maximum number of jobs."""


class ShuttingDown(Exception):
    """The manager no longer accepts jobs."""


@dataclass
class Job:
    id: str
    folder: Path
    inputs: list[Path]
    options: dict  # ReconstructOptions fields chosen by the client (already validated)
    status: str = QUEUED
    progress: float = 0.0
    stage: str = "waiting in the queue"
    error: str | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    deleted: bool = False

    def result_path(self, name: str) -> Path | None:
        """The file behind API name ``name`` when the job is done and the file exists, else None."""
        rel = RESULT_FILES.get(name)
        if rel is None or self.status != DONE:
            return None
        path = self.folder / rel
        return path if path.is_file() else None

    def results(self) -> list[str]:
        return [name for name in RESULT_FILES if self.result_path(name) is not None]

    def public(self) -> dict:
        out = {"id": self.id, "status": self.status, "progress": round(self.progress, 3), "stage": self.stage}
        out["created"] = self.created
        if self.error is not None:
            out["error"] = self.error
        return out


def new_job_id() -> str:
    """An unguessable id (128 random bits, URL-safe)."""
    return secrets.token_urlsafe(16)


def _zip_folder(folder: Path, dst: Path) -> None:
    tmp = dst.with_name(f".{dst.name}.partial")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())
    os.replace(tmp, dst)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# Pipeline stages (as its StageTimer logs them) -> progress when the stage starts. The pipeline has no
# progress callback; its INFO log of each stage is the only signal, so unknown stages are ignored.
STAGE_PROGRESS = {
    "collect inputs": 0.05,
    "load model": 0.08,
    "load images": 0.1,
    "inference": 0.2,
    "tracking": 0.45,
    "bundle adjustment": 0.6,
    "points": 0.75,
    "open inputs": 0.05,  # chunked runs
    "chunks": 0.2,
    "loop closure": 0.6,
    "write outputs": 0.7,
}
CHUNK_OPTIONS = ("chunk", "overlap", "loop_closure")


class _StageLog(logging.Handler):
    """Turns the pipeline's "<stage> ..." log records into progress of the job running in that thread."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.by_thread: dict[int, Callable[[float, str], None]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        callback = self.by_thread.get(record.thread or 0)
        if callback is None or record.msg != "%s ..." or not record.args:
            return
        stage = str(record.args[0])
        if stage in STAGE_PROGRESS:
            callback(STAGE_PROGRESS[stage], stage)


_STAGES = _StageLog()  # attached to the pipeline's timing logger by JobManager.start


@contextlib.contextmanager
def _stage_progress(set_progress: Callable[[float, str], None]) -> Iterator[None]:
    _STAGES.by_thread[threading.get_ident()] = set_progress
    try:
        yield
    finally:
        _STAGES.by_thread.pop(threading.get_ident(), None)


def reconstruct_job(job: Job, predictor, set_progress: Callable[[float, str], None]) -> None:  # noqa: ANN001
    """Run ``reconstruct`` on the job's inputs with the shared model and write every result file."""
    dtype = predictor.dtype if predictor.dtype in ("fp32", "bf16", "fp16") else "fp32"
    inputs = [str(p) for p in job.inputs]
    set_progress(0.05, "reconstructing")
    chosen = dict(job.options)
    cameras = resolve_cameras(chosen.pop("cameras", "auto"), predictor.weights)  # "<model>" for a passed-in model
    solve = SolveOptions(focal=chosen.pop("focal", None))
    if chosen.get("chunk"):  # a long sequence, chunk by chunk (writes its folder itself; its own cameras)
        options = ChunkedOptions(device=str(predictor.device), dtype=dtype, **chosen)
        with _stage_progress(set_progress):
            out = reconstruct_chunked(inputs, job.folder / "out", model=predictor.model, options=options).out
        payload = scene_payload(load_scene(out))
    else:
        options = ReconstructOptions(
            device=str(predictor.device), dtype=dtype, cameras=cameras, solve_options=solve, **chosen
        )
        with _stage_progress(set_progress):
            rec = reconstruct(inputs, model=predictor.model, options=options)
        set_progress(0.8, "writing results")
        out = rec.save(job.folder / "out")
        h, w = rec.images.shape[1:3]
        payload = web_payload(rec.points, rec.colors, rec.extrinsics, rec.intrinsics_model, (w, h), rec.images)
    set_progress(0.9, "packing downloads")
    _zip_folder(out, job.folder / "result.zip")
    _zip_folder(out / "sparse", job.folder / "sparse.zip")
    _write_atomic(job.folder / "viewer.json", json.dumps(payload, separators=(",", ":")))


class JobManager:
    """``workers`` threads take jobs from a queue of at most ``queue_size``; finished jobs expire after ``ttl`` s."""

    def __init__(
        self,
        predictor,  # noqa: ANN001 - an openvggt.Predictor, shared by the workers
        root: Path,
        workers: int = 1,
        queue_size: int = 8,
        ttl: float = 3600.0,
        runner: Callable[[Job, object, Callable[[float, str], None]], None] = reconstruct_job,
    ) -> None:
        if workers < 1 or queue_size < 1 or ttl <= 0:
            raise UserError(f"workers and queue must be >= 1 and ttl > 0 (got {workers}, {queue_size}, {ttl})")
        self.predictor, self.root, self.runner = predictor, Path(root), runner
        self.workers, self.queue_size, self.ttl = workers, queue_size, ttl
        self.root.mkdir(parents=True, exist_ok=True)
        self._jobs: dict[str, Job] = {}
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._accepting = True
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------------------------------ life cycle
    def start(self) -> None:
        timing = logging.getLogger("openvggt.pipeline.timing")
        if _STAGES not in timing.handlers:
            timing.addHandler(_STAGES)
        for i in range(self.workers):
            t = threading.Thread(target=self._work, name=f"openvggt-worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        janitor = threading.Thread(target=self._expire_loop, name="openvggt-expiry", daemon=True)
        janitor.start()
        self._threads.append(janitor)

    def shutdown(self, grace: float = 60.0) -> None:
        """Stop taking jobs, fail the queued ones, give running ones ``grace`` seconds, then fail those too."""
        with self._lock:
            self._accepting = False
            for job in self._jobs.values():
                if job.status == QUEUED:
                    self._fail(job, "the server shut down before the job ran")
        self._stop.set()
        for _ in range(self.workers):
            self._queue.put(None)
        deadline = time.monotonic() + grace
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            for job in self._jobs.values():
                if job.status == RUNNING:
                    self._fail(job, "the server shut down while the job ran")
        log.info("job manager stopped")

    # ------------------------------------------------------------------------------------------ API
    def submit(self, job: Job) -> Job:
        with self._lock:
            if not self._accepting:
                raise ShuttingDown("the server is shutting down")
            if self._queue.qsize() >= self.queue_size:
                raise QueueFull(f"the queue is full ({self.queue_size} jobs waiting); try again later")
            self._jobs[job.id] = job
            self._queue.put(job)
        log.info("job %s queued (%d inputs)", job.id, len(job.inputs))
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
        return None if job is None or job.deleted else job

    def delete(self, job_id: str) -> bool:
        """Forget a job and its files (a running job's files go when it ends)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.deleted:
                return False
            job.deleted = True
            if job.status != RUNNING:
                self._jobs.pop(job_id, None)
        if job.status != RUNNING:
            shutil.rmtree(job.folder, ignore_errors=True)
        log.info("job %s deleted", job_id)
        return True

    def stats(self) -> dict:
        with self._lock:
            states = [j.status for j in self._jobs.values() if not j.deleted]
        return {
            "queued": states.count(QUEUED),
            "running": states.count(RUNNING),
            "done": states.count(DONE),
            "failed": states.count(FAILED),
            "capacity": self.queue_size,
            "workers": self.workers,
        }

    # ------------------------------------------------------------------------------------------ workers
    def _fail(self, job: Job, reason: str) -> None:
        job.status, job.error, job.stage, job.finished = FAILED, reason, "failed", time.time()

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            with self._lock:
                if job.deleted or job.status != QUEUED:
                    continue
                job.status, job.started, job.stage = RUNNING, time.time(), "starting"
            self._run(job)

    def _run(self, job: Job) -> None:
        def set_progress(value: float, stage: str) -> None:
            job.progress, job.stage = max(job.progress, min(float(value), 1.0)), stage

        try:
            self.runner(job, self.predictor, set_progress)
        except UserError as exc:
            reason = " | ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or type(exc).__name__
            log.info("job %s failed: %s", job.id, reason)
            with self._lock:
                self._fail(job, reason)
        except Exception as exc:  # noqa: BLE001 - any failure of one job must leave the server running
            log.exception("job %s failed", job.id)
            with self._lock:
                self._fail(job, f"internal error ({type(exc).__name__}); see the server log")
        else:
            with self._lock:
                if self._stop.is_set() and job.status != RUNNING:
                    return  # already failed by a shutdown that ran out of grace
                job.status, job.progress, job.stage, job.finished = DONE, 1.0, "done", time.time()
            log.info("job %s done in %.1f s", job.id, job.finished - (job.started or job.finished))
        finally:
            shutil.rmtree(job.folder / "inputs", ignore_errors=True)
            if job.deleted:
                with self._lock:
                    self._jobs.pop(job.id, None)
                shutil.rmtree(job.folder, ignore_errors=True)

    # ------------------------------------------------------------------------------------------ expiry
    def expire(self, now: float | None = None) -> int:
        """Delete finished jobs older than ``ttl``; returns how many went."""
        now = time.time() if now is None else now
        with self._lock:
            old = [j for j in self._jobs.values() if j.finished is not None and now - j.finished > self.ttl]
            for job in old:
                self._jobs.pop(job.id, None)
        for job in old:
            shutil.rmtree(job.folder, ignore_errors=True)
        if old:
            log.info("expired %d job(s)", len(old))
        return len(old)

    def _expire_loop(self) -> None:
        while not self._stop.wait(min(30.0, self.ttl / 2)):
            self.expire()
