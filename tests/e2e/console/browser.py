"""Debian's Chromium, headless, driven by Playwright (PyPI `playwright` with the system
browser: nothing is downloaded), and the picture comparisons the console tests make."""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path

from PIL import Image, ImageChops, ImageStat

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps trying hosts this machine cannot reach.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextlib.contextmanager
def chromium_page(profile: Path):
    """A page in a fresh Chromium profile."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            viewport={"width": 1024, "height": 700},
        )
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


def grey(picture: bytes, size=(360, 200)) -> Image.Image:
    return Image.open(io.BytesIO(picture)).convert("L").resize(size, Image.Resampling.BILINEAR)


def difference(a: bytes, b: bytes) -> float:
    """Mean absolute difference of two pictures, 0-255, once both are scaled alike."""
    return ImageStat.Stat(ImageChops.difference(grey(a), grey(b))).mean[0]


def spread(picture: bytes) -> float:
    """Standard deviation of the picture's grey levels: 0 for a uniform one."""
    return ImageStat.Stat(grey(picture)).stddev[0]


def blank_like(picture: bytes) -> bytes:
    """A black picture of the same size."""
    out = io.BytesIO()
    Image.new("RGB", Image.open(io.BytesIO(picture)).size).save(out, "PNG")
    return out.getvalue()
