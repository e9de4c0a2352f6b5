"""Debian's Chromium as the browser tests start it (driven by Playwright: never a browser
download). Without the background-networking flags it keeps trying hosts this machine cannot
reach; Playwright's `headless=True` adds --headless."""

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
