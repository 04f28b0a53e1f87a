"""The HTTP service: a FastAPI app with the web page, the JSON API and the packaged viewer files.

    app = create_app(predictor, ServeSettings(token="..."))   # then uvicorn.run(app, ...)

API (all under ``/api/v1``; every call needs ``Authorization: Bearer <token>`` when a token is set)::

    POST   /jobs                   multipart: files (repeated), options (JSON, optional) -> 202 {id, status}
    GET    /jobs/{id}              {id, status, progress, stage, error?, results?: {name: url}}
    GET    /jobs/{id}/files/{name} result.zip, points.ply, scene.glb, sparse.zip, transforms.json,
                                   report.html, viewer.json
    DELETE /jobs/{id}              forget the job and its files
    GET    /health                 model, device, queue, limits
    GET    /openapi.json           the schema

Errors are ``{"detail": "<one line>"}`` with 401 (token), 404 (unknown job or file), 409 (not done
yet), 413 (over a limit), 422 (unusable input or options), 503 (queue full or shutting down).
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import ClientDisconnect

from openvggt._version import __version__
from openvggt.pipeline.reconstruct import resolve_cameras
from openvggt.serve.jobs import RESULT_FILES, Job, JobManager, QueueFull, ShuttingDown, new_job_id
from openvggt.serve.uploads import Limits, UploadRejected, store_uploads

log = logging.getLogger(__name__)

API = "/api/v1"
JOB_ID_PATTERN = r"^[A-Za-z0-9_-]{16,64}$"
MEDIA_TYPES = {
    ".zip": "application/zip",
    ".ply": "application/octet-stream",
    ".glb": "model/gltf-binary",
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
}
TOO_LARGE = "openvggt.body_too_large"


@dataclass
class ServeSettings:
    token: str | None = None
    workers: int = 1
    queue_size: int = 8
    ttl: float = 3600.0  # seconds a finished job and its files are kept
    shutdown_grace: float = 60.0  # seconds running jobs get to finish on shutdown
    workdir: Path | None = None  # parent of the server's private job folder [the system temp dir]
    limits: Limits = field(default_factory=Limits)


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes on a POST is cut off and answered with 413."""

    def __init__(self, app, limit: int) -> None:  # noqa: ANN001
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await _plain_413(send, f"the request is {int(length):,} bytes; the limit is {self.limit:,}")
            return
        seen = 0

        async def limited_receive():  # noqa: ANN202
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    scope[TOO_LARGE] = self.limit
                    return {"type": "http.disconnect"}
            return message

        await self.app(scope, limited_receive, send)


async def _plain_413(send, reason: str) -> None:  # noqa: ANN001
    body = json.dumps({"detail": reason}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _options_model(ba_available: bool, point_map_available: bool):  # noqa: ANN202
    """The pydantic model of the ``options`` field (only options that work with the loaded model)."""

    class JobOptions(BaseModel):
        model_config = ConfigDict(extra="forbid")
        size: int | None = Field(None, ge=14, le=1036, multiple_of=14, description="model input side [model's]")
        mode: Literal["crop", "pad"] = "crop"
        conf_threshold: float = Field(50.0, ge=0, lt=100, description="confidence percentile cut for points")
        fps: float | None = Field(None, gt=0, le=60, description="video: frames per second to sample")
        max_frames: int | None = Field(None, ge=1, description="video: at most this many frames")
        chunk: int | None = Field(None, ge=2, description="long sequences: frames per chunk (chunk by chunk)")
        overlap: int | None = Field(None, ge=1, description="chunked: frames shared by chunks [chunk / 4]")
        loop_closure: bool = Field(False, description="chunked: detect revisits and close loops")
        cameras: Literal["auto", "head", "matches"] = Field(
            "auto", description="as reconstruct --cameras: auto = matches with the shipped model, else head"
        )
        focal: float | None = Field(None, gt=0, description="cameras from matches: the focal length, original px")
        if ba_available:
            ba: bool = Field(False, description="bundle adjustment on tracked points")
        if point_map_available:
            use_point_map: bool = Field(False, description="points from the point head")

    return JobOptions


def _chunk_conflict(options: dict) -> str | None:
    """Why these options cannot run together (chunked mode has fewer features), or None."""
    chunk = options.get("chunk")
    if chunk is None:
        if "overlap" in options or options.get("loop_closure"):
            return "overlap and loop_closure need chunk"
        options.pop("loop_closure", None)
        return None
    if options.get("overlap") is not None and options["overlap"] >= chunk:
        return f"overlap ({options['overlap']}) must be smaller than chunk ({chunk})"
    used = [k for k in ("ba", "use_point_map", "fps", "focal") if options.get(k)]
    if used:
        return f"{', '.join(used)} not available with chunk (chunked mode) yet"
    options.pop("ba", None)
    options.pop("use_point_map", None)
    return None


def _one_line(exc) -> str:  # noqa: ANN001 - a pydantic ValidationError
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body",))
        parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else err.get("msg", "invalid"))
    return "options: " + "; ".join(parts)


def create_app(predictor, settings: ServeSettings | None = None, manager: JobManager | None = None):  # noqa: ANN001, ANN201, C901
    """The FastAPI app serving ``predictor`` (an :class:`openvggt.Predictor`, loaded once)."""
    settings = settings or ServeSettings()
    limits = settings.limits
    heads = predictor.model.enabled_heads()
    JobOptions = _options_model("track" in heads, "point" in heads)  # noqa: N806
    own_root = manager is None
    if manager is None:
        parent = Path(settings.workdir) if settings.workdir else None
        if parent is not None:
            parent.mkdir(parents=True, exist_ok=True)
        root = Path(tempfile.mkdtemp(prefix="openvggt-serve-", dir=parent))
        manager = JobManager(predictor, root, settings.workers, settings.queue_size, settings.ttl)

    @contextlib.asynccontextmanager
    async def lifespan(_app):  # noqa: ANN001, ANN202
        manager.start()
        log.info("serving %s on %s; jobs in %s", predictor.weights, predictor.device, manager.root)
        try:
            yield
        finally:
            import asyncio

            await asyncio.to_thread(manager.shutdown, settings.shutdown_grace)
            if own_root:
                shutil.rmtree(manager.root, ignore_errors=True)

    app = FastAPI(
        title="openvggt",
        version=__version__,
        description="Images or a video in; cameras, depth, a point cloud and a COLMAP model out.",
        docs_url=None,  # Swagger UI and ReDoc load scripts from a CDN: the service stays offline
        redoc_url=None,
        openapi_url=f"{API}/openapi.json",
        lifespan=lifespan,
    )
    app.state.manager, app.state.settings = manager, settings
    app.add_middleware(BodyLimit, limit=limits.max_total_bytes + 2**20)  # + room for the multipart framing

    bearer = HTTPBearer(auto_error=False)

    def authorised(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:  # noqa: B008
        if settings.token is None:
            return
        given = credentials.credentials if credentials is not None else ""
        if not secrets.compare_digest(given.encode(), settings.token.encode()):
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _one_line(exc)}, status_code=422)

    def job_or_404(job_id: str) -> Job:
        job = manager.get(job_id)
        if job is None:
            raise HTTPException(404, "no such job (unknown, deleted or expired)")
        return job

    def describe(job: Job) -> dict:
        out = job.public()
        if job.status == "done":
            out["results"] = {name: f"{API}/jobs/{job.id}/files/{name}" for name in job.results()}
        return out

    JobId = PathParam(pattern=JOB_ID_PATTERN)  # noqa: N806

    # ------------------------------------------------------------------------------------------ API
    @app.post(
        f"{API}/jobs",
        status_code=202,
        dependencies=[Depends(authorised)],
        summary="Submit images or one video",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["files"],
                            "properties": {
                                "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                                "options": {
                                    "type": "string",
                                    "description": "JSON: "
                                    + json.dumps(JobOptions.model_json_schema().get("properties", {})),
                                },
                            },
                        }
                    }
                },
            }
        },
    )
    async def submit(request: Request) -> dict:
        try:
            form = await request.form(max_files=limits.max_files + 1, max_fields=8)
        except ClientDisconnect:
            if TOO_LARGE in request.scope:
                raise HTTPException(413, f"the upload is over the limit of {limits.max_total_bytes:,} bytes") from None
            raise HTTPException(400, "the client disconnected during the upload") from None
        except Exception as exc:  # starlette's MultiPartException and friends  # noqa: BLE001
            message = str(getattr(exc, "message", exc)) or type(exc).__name__
            status = 413 if "Too many files" in message else 422
            raise HTTPException(status, f"bad multipart body: {message}") from None
        try:
            uploads = [f for f in form.getlist("files") if not isinstance(f, str)]
            if len(uploads) > limits.max_files:
                raise HTTPException(413, f"{len(uploads)} files is over the limit of {limits.max_files}")
            raw = form.get("options")
            if raw is not None and not isinstance(raw, str):
                raise HTTPException(422, "options: send it as a text field holding JSON, not as a file")
            try:
                chosen = JobOptions.model_validate_json(raw) if isinstance(raw, str) and raw.strip() else JobOptions()
            except ValidationError as exc:
                raise HTTPException(422, _one_line(exc)) from None
            options = chosen.model_dump(exclude_none=True)
            files = [(await f.read(), f"file {i + 1}") for i, f in enumerate(uploads)]
        finally:
            await form.close()
        job_id = new_job_id()
        folder = manager.root / job_id
        try:
            inputs, is_video = store_uploads(files, folder / "inputs", limits)
        except UploadRejected as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise HTTPException(exc.status, exc.reason) from None
        except BaseException:  # e.g. a full disk: leave nothing behind
            shutil.rmtree(folder, ignore_errors=True)
            raise
        reason = _chunk_conflict(options)
        if options.get("focal") and resolve_cameras(options.get("cameras", "auto"), predictor.weights) == "head":
            reason = "focal applies to cameras from matches; this job's come from the camera head"
        if reason:
            shutil.rmtree(folder, ignore_errors=True)
            raise HTTPException(422, f"options: {reason}")
        if is_video:
            options["max_frames"] = min(options.get("max_frames") or limits.max_video_frames, limits.max_video_frames)
        elif "fps" in options or "max_frames" in options:
            shutil.rmtree(folder, ignore_errors=True)
            raise HTTPException(422, "options: fps and max_frames apply to a video only")
        try:
            manager.submit(Job(id=job_id, folder=folder, inputs=inputs, options=options))
        except (QueueFull, ShuttingDown) as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise HTTPException(503, str(exc), headers={"Retry-After": "10"}) from None
        return {"id": job_id, "status": "queued"}

    @app.get(f"{API}/jobs/{{job_id}}", dependencies=[Depends(authorised)], summary="Status of a job")
    def job_status(job_id: str = JobId) -> dict:
        return describe(job_or_404(job_id))

    @app.get(
        f"{API}/jobs/{{job_id}}/files/{{name}}",
        name="job_file",
        dependencies=[Depends(authorised)],
        summary="A result file: " + ", ".join(RESULT_FILES),
    )
    def job_file(job_id: str = JobId, name: str = PathParam(max_length=32)) -> FileResponse:  # noqa: B008
        job = job_or_404(job_id)
        if name not in RESULT_FILES:
            raise HTTPException(404, f"no file {name!r}; results are named " + ", ".join(RESULT_FILES))
        if job.status != "done":
            raise HTTPException(409, f"the job is {job.status}; its files exist once it is done")
        path = job.result_path(name)
        if path is None:
            raise HTTPException(404, f"this job has no {name} (the server lacks what writes it)")
        media = MEDIA_TYPES.get(path.suffix, "application/octet-stream")
        disposition = "inline" if name in ("report.html", "viewer.json", "transforms.json") else "attachment"
        return FileResponse(path, media_type=media, filename=name, content_disposition_type=disposition)

    @app.delete(f"{API}/jobs/{{job_id}}", dependencies=[Depends(authorised)], summary="Delete a job and its files")
    def delete_job(job_id: str = JobId) -> dict:
        if not manager.delete(job_id):
            raise HTTPException(404, "no such job (unknown, deleted or expired)")
        return {"id": job_id, "status": "deleted"}

    @app.get(f"{API}/health", dependencies=[Depends(authorised)], summary="Model, device, queue and limits")
    def health() -> dict:
        return {
            "status": "ok",
            "version": __version__,
            "model": predictor.weights,
            "heads": list(heads),
            "device": str(predictor.device),
            "dtype": str(predictor.dtype),
            "queue": manager.stats(),
            "limits": limits.as_dict(),
            "options": JobOptions.model_json_schema().get("properties", {}),
            "ttl_s": settings.ttl,
            "token_required": settings.token is not None,
        }

    # ------------------------------------------------------------------------------------------ page
    page = resources.files("openvggt.serve").joinpath("static", "index.html").read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse(page)

    app.mount("/static/viz", StaticFiles(directory=str(resources.files("openvggt.viz") / "static")), name="viz")
    app.mount("/static/app", StaticFiles(directory=str(resources.files("openvggt.serve") / "static")), name="app")
    return app
