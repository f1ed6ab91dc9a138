"""Headless Chromium (Debian's /usr/bin/chromium) against the real servers and widget page."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from scripts.servers import MODEL, Servers
from tests.browser.pages import ARTIFACTS
from tests.factories import copy_project

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Flags for a closed network: no background connections, no updates, no sync.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    if not MODEL.exists():
        pytest.fail("no trained model at models/dy.tar.gz: run 'make train' (make test does)")
    running = Servers(tmp_path_factory.mktemp("site"), web=True)
    running.env["CONSOLE_REFRESH_MS"] = "1000"  # the queue's auto-refresh, quick for the tests
    running.env["SLA_SWEEP_SECONDS"] = "2"  # the web server's SLA sweep and notification
    running.env["NOTIFY_SECONDS"] = "1"  # rounds, quick for the tests
    running.env["DY_ENDPOINTS"] = str(running.endpoints)  # the flow pages read its tracker store
    # the inbox files its labels into a copy of the project, never into the repository
    running.env["DY_PROJECT_DIR"] = str(copy_project(running.workdir / "project"))
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is not installed: make test installs Debian's chromium package")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture()
def phone(browser):
    """A fresh 375 px wide phone screen (its own storage, so its own conversation)."""
    context = browser.new_context(
        viewport={"width": 375, "height": 740},
        locale="zh-CN",
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors
    yield page
    context.close()
