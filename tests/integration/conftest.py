"""The real servers for the whole integration session (scripts/servers.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from scripts import scale
from scripts.servers import MODEL, Servers
from tests.factories import ROOT


@pytest.fixture(scope="session")
def servers(tmp_path_factory):
    if not MODEL.exists():
        pytest.fail("no trained model at models/dy.tar.gz: run 'make train' (make test does)")
    running = Servers(tmp_path_factory.mktemp("servers"), web=True)
    running.start()
    yield running
    running.stop()
    from tickets import db

    db.dispose_all()


def scale_command(
    *command: str, timeout: float = 900, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``scripts/scale.py`` with ``command`` (up, down, drain N…), its output captured;
    ``env`` adds to this process's environment."""
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "scale.py"), *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="session")
def cluster():
    """The scale-out of deploy/topology.yml, running (started here if it was not, and stopped
    again at the end of the session); its shared secrets."""
    if not MODEL.exists():
        pytest.fail("no trained model at models/dy.tar.gz: run 'make train' (make test does)")
    was_running = scale.supervisor_running()
    started = scale_command("up")
    assert started.returncode == 0, started.stdout[-3000:] + started.stderr[-3000:]
    yield scale.ensure_secrets()
    if not was_running:
        scale_command("down")
