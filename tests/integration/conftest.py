"""The real servers for the whole integration session (scripts/servers.py)."""

from __future__ import annotations

import pytest

from scripts.servers import MODEL, Servers


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
