"""The service page in headless Chromium: upload the example images, wait, check the 3D canvas drew."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from tests.browser import canvas_pixels, chromium, drawn_fraction
from tests.serve.conftest import EXAMPLES


@pytest.fixture
def live_server(tmp_path):
    """The app with the shipped model (a real point cloud to look at) on a free loopback port, in a
    thread (uvicorn), without a token."""
    import uvicorn

    from openvggt import Predictor
    from openvggt.serve.app import ServeSettings, create_app

    predictor = Predictor("default", device="cpu", dtype="fp32")

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(predictor, ServeSettings(workdir=tmp_path / "work"))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(30)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_page_uploads_examples_and_draws_the_result(live_server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with chromium() as driver:
        driver.get(live_server + "/")
        WebDriverWait(driver, 30).until(lambda d: "model" in d.find_element(By.ID, "server").text)
        paths = "\n".join(str(p) for p in sorted(EXAMPLES.glob("*.jpg")))
        driver.find_element(By.ID, "files").send_keys(paths)
        driver.find_element(By.ID, "submit").click()
        WebDriverWait(driver, 180, poll_frequency=0.5).until(
            lambda d: (
                d.find_element(By.ID, "viewer").get_attribute("data-ready") == "1"
                or d.find_element(By.ID, "error").text
            )
        )
        assert driver.find_element(By.ID, "error").text == ""
        time.sleep(0.5)  # one more animation frame for the textures
        pixels = canvas_pixels(driver, "#viewer canvas")
        assert pixels.shape[0] > 100 and drawn_fraction(pixels) > 0.02, drawn_fraction(pixels)
        assert int(driver.find_element(By.ID, "viewer").get_attribute("data-points")) > 0
        names = [b.text for b in driver.find_elements(By.CSS_SELECTOR, "#downloads button")]
        assert {"result.zip", "points.ply", "scene.glb", "sparse.zip", "transforms.json", "report.html"} <= set(names)
        assert "100 %" in driver.find_element(By.ID, "stage").text
        assert driver.find_element(By.ID, "progress").get_attribute("value") == "1"
