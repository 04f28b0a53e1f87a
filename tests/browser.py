"""Headless Chromium for the browser tests (Debian's ``chromium`` + ``chromium-driver``, via selenium).

``chromium()`` skips the test, with the reason, where the browser, its driver or selenium is missing;
``.ci/run`` installs them so that CI runs these tests for real.
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import shutil
from collections.abc import Iterator

import numpy as np
import pytest

CHROMIUM = os.environ.get("OPENVGGT_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("OPENVGGT_CHROMEDRIVER", "/usr/bin/chromedriver")


def _missing() -> str | None:
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (os.path.isfile(path) or shutil.which(path)):
            return f"{path} not found: apt-get install {package} (see README, Development)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: pip install 'openvggt[dev]'"
    return None


@contextlib.contextmanager
def chromium(width: int = 1100, height: int = 800) -> Iterator[object]:
    """A headless Chromium WebDriver (software WebGL); skips when the browser is absent."""
    reason = _missing()
    if reason:
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}",
                "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--disable-gpu-sandbox"):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def canvas_pixels(driver, selector: str = "canvas") -> np.ndarray:
    """``[H, W, 4]`` uint8 pixels of the first canvas matching ``selector`` (drawn with preserveDrawingBuffer)."""
    from PIL import Image

    uri = driver.execute_script(f"return document.querySelector({selector!r}).toDataURL('image/png');")
    data = base64.b64decode(uri.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))


def drawn_fraction(pixels: np.ndarray) -> float:
    """Share of pixels that differ clearly from the most common colour (the background)."""
    rgb = pixels[..., :3].reshape(-1, 3).astype(int)
    values, counts = np.unique(rgb, axis=0, return_counts=True)
    background = values[counts.argmax()]
    return float((np.abs(rgb - background).sum(-1) > 30).mean())
