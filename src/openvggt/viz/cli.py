"""``openvggt view OUT_DIR``: the command-line face of :mod:`openvggt.viz.viewer`."""

from __future__ import annotations

import argparse
import logging
import time

from openvggt.errors import UserError
from openvggt.viz.scene import load_scene

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "view",
        help="interactive 3D viewer of a reconstruct output folder (in the browser, offline)",
        description="Serve an interactive viewer (viser) of the --out folder of `openvggt reconstruct`: point "
        "cloud, camera frustums with images, confidence and frame sliders. Ctrl-C stops it.",
    )
    p.add_argument("out_dir", metavar="OUT_DIR", help="folder written by openvggt reconstruct")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on [127.0.0.1: this machine only]")
    p.add_argument("--port", type=int, default=8080, help="port [8080]")
    p.set_defaults(func=run_view)


def run_view(args: argparse.Namespace) -> int:
    scene = load_scene(args.out_dir)  # fails with one line before anything listens
    if not 0 < args.port < 65536:
        raise UserError(f"--port must be in 1..65535, got {args.port}")
    try:  # the viz extra (viser): imported here so that the CLI runs without it
        from openvggt.viz.viewer import serve_viewer

        server, _ = serve_viewer(scene, args.host, args.port)
    except ImportError as exc:
        raise UserError(f"openvggt view needs viser: pip install 'openvggt[viz]' ({exc})") from None
    except OSError as exc:
        raise UserError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    host = "localhost" if args.host in ("127.0.0.1", "::1", "localhost") else args.host
    print(f"viewer of {args.out_dir}: http://{host}:{server.get_port()}  (Ctrl-C to stop)", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        server.stop()
