"""Take the screenshots in docs/images/ with headless Chromium (Debian chromium + chromium-driver).

    PYTHONPATH=src python tools/screenshots.py [--out docs/images]

Uses the shipped model on the bundled example images: the service page after a job, and the
`openvggt view` viewer of the same reconstruction.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.browser import chromium  # noqa: E402

EXAMPLES = REPO / "src" / "openvggt" / "assets" / "examples"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def save_small(png: bytes, path: Path, width: int = 900) -> None:
    import io

    image = Image.open(io.BytesIO(png)).convert("RGB")
    image = image.resize((width, round(image.height * width / image.width)), Image.Resampling.LANCZOS)
    image.quantize(colors=192, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB)")


def service_page(out: Path) -> None:
    import uvicorn
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from openvggt import Predictor
    from openvggt.serve.app import ServeSettings, create_app

    port = free_port()
    app = create_app(Predictor("default", device="cpu", dtype="fp32"), ServeSettings())
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    try:
        with chromium(1100, 1250) as driver:
            driver.get(f"http://127.0.0.1:{port}/")
            WebDriverWait(driver, 30).until(lambda d: "model" in d.find_element(By.ID, "server").text)
            driver.find_element(By.ID, "files").send_keys("\n".join(str(p) for p in sorted(EXAMPLES.glob("*.jpg"))))
            driver.find_element(By.ID, "submit").click()
            WebDriverWait(driver, 180).until(lambda d: d.find_element(By.ID, "viewer").get_attribute("data-ready"))
            time.sleep(1.0)
            save_small(driver.get_screenshot_as_png(), out / "service.png")
    finally:
        server.should_exit = True


def viewer(out: Path, folder: Path) -> None:
    from openvggt.viz.scene import load_scene
    from openvggt.viz.viewer import serve_viewer

    port = free_port()
    server, _ = serve_viewer(load_scene(folder), "127.0.0.1", port)
    try:
        with chromium(1100, 700) as driver:
            driver.get(f"http://127.0.0.1:{port}/")
            time.sleep(10)  # the client connects, receives the scene and draws
            driver.execute_script(  # dismiss viser's "software WebGL" notice (headless Chromium has no GPU)
                "document.querySelectorAll('.mantine-Notification-root button, .mantine-Notification-closeButton')"
                ".forEach(b => b.click());"
            )
            time.sleep(1)
            save_small(driver.get_screenshot_as_png(), out / "viewer.png")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from openvggt.pipeline.reconstruct import reconstruct

    with tempfile.TemporaryDirectory() as tmp:
        rec = reconstruct(sorted(EXAMPLES.glob("*.jpg")), weights="default", device="cpu")
        folder = rec.save(Path(tmp) / "demo")
        service_page(args.out)
        viewer(args.out, folder)


if __name__ == "__main__":
    main()
