"""``openvggt serve``: the reconstruction service on one port (see :mod:`openvggt.serve.app`)."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import torch

from openvggt.errors import UserError
from openvggt.predictor import Predictor
from openvggt.runtime import DTYPE_NAMES
from openvggt.serve.uploads import Limits

log = logging.getLogger(__name__)

TOKEN_ENV = "OPENVGGT_TOKEN"
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def add_parser(sub: argparse._SubParsersAction) -> None:
    d = Limits()
    p = sub.add_parser(
        "serve",
        help="HTTP service: a web page and a JSON API that reconstruct uploaded images or videos",
        description="Serve reconstructions over HTTP with one model loaded once and a bounded job queue. "
        f"Listens on 127.0.0.1 unless --host says otherwise; with --token (or ${TOKEN_ENV}) every API call "
        "needs 'Authorization: Bearer TOKEN'. See docs/service.md.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on [127.0.0.1: this machine only]")
    p.add_argument("--port", type=int, default=8000, help="port [8000]")
    p.add_argument("--token", default=None, help=f"bearer token required on API calls [${TOKEN_ENV}, else none]")
    p.add_argument("--weights", default="default", help="weights file, folder or hub id [the shipped model]")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, mps or auto [auto]")
    p.add_argument("--dtype", default="auto", choices=DTYPE_NAMES, help="precision [auto: the fastest accurate]")
    p.add_argument("--workers", type=int, default=1, help="jobs run at once, sharing the model [1]")
    p.add_argument("--queue", type=int, default=8, help="jobs that may wait [8]; more get 503")
    p.add_argument("--ttl", type=float, default=3600, help="seconds a finished job and its files are kept [3600]")
    p.add_argument("--shutdown-grace", type=float, default=60, help="seconds running jobs get on SIGTERM [60]")
    p.add_argument("--workdir", type=Path, default=None, help="where job folders go [the system temp dir]")
    p.add_argument("--max-bytes", type=int, default=d.max_total_bytes, help="upload bytes per job [200 MiB]")
    p.add_argument("--max-files", type=int, default=d.max_files, help=f"files per job [{d.max_files}]")
    p.add_argument("--max-pixels", type=int, default=d.max_image_pixels, help="pixels per image [40 M]")
    p.add_argument("--max-video-seconds", type=float, default=d.max_video_seconds, help="video length [120]")
    p.add_argument("--max-video-frames", type=int, default=d.max_video_frames, help="frames taken from a video [64]")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch [torch's default]")
    p.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise UserError(f"--port must be in 1..65535, got {args.port}")
    if args.workers < 1 or args.queue < 1 or args.ttl <= 0 or args.shutdown_grace < 0:
        raise UserError("--workers and --queue must be >= 1, --ttl > 0 and --shutdown-grace >= 0")
    limits = Limits(args.max_bytes, args.max_files, args.max_pixels, args.max_video_seconds, args.max_video_frames)
    if min(limits.max_total_bytes, limits.max_files, limits.max_image_pixels, limits.max_video_frames) < 1:
        raise UserError("the --max-* limits must be positive")
    token = args.token if args.token is not None else os.environ.get(TOKEN_ENV) or None
    try:  # the serve extra (FastAPI, uvicorn): imported here so that the CLI runs without it
        import uvicorn

        from openvggt.serve.app import ServeSettings, create_app
    except ImportError as exc:
        raise UserError(f"openvggt serve needs FastAPI and uvicorn: pip install 'openvggt[serve]' ({exc})") from None
    if args.threads is not None:
        torch.set_num_threads(max(1, args.threads))
    predictor = Predictor(args.weights, device=args.device, dtype=args.dtype)
    settings = ServeSettings(
        token=token, workers=args.workers, queue_size=args.queue, ttl=args.ttl,
        shutdown_grace=args.shutdown_grace, workdir=args.workdir, limits=limits,
    )  # fmt: skip
    app = create_app(predictor, settings)
    if args.host not in LOOPBACK and token is None:
        log.warning("listening on %s without a token: anyone who reaches this port can use it", args.host)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"openvggt serve: http://{shown}:{args.port}/  (API {shown}:{args.port}/api/v1, Ctrl-C to stop)", flush=True)
    # uvicorn turns SIGINT/SIGTERM into a graceful stop: no new connections, then the app's shutdown,
    # which fails queued jobs and gives running ones --shutdown-grace seconds.
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", timeout_graceful_shutdown=5)
    return 0
