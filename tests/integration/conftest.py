"""The real servers for the whole integration session (see harness.py)."""

from __future__ import annotations

import pytest

from tests.integration.harness import MODEL, Servers


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


def texts(replies: list[dict]) -> str:
    """All reply texts joined, for assertions on what the user reads."""
    return "\n".join(r.get("text") or "" for r in replies)


def buttons(replies: list[dict]) -> list[str]:
    return [b["title"] for r in replies for b in r.get("buttons") or []]
