"""The ticket database's readiness check (the action and web servers' ``/ready``): answered
within a second whatever the database does, and a hung database costs one waiting thread,
not one more per check."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest

from tickets import db


class HungDatabase:
    """A port that takes connections and never answers (a PostgreSQL that hangs)."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.accepted.append(connection)

    def close(self) -> None:
        for connection in self.accepted:
            connection.close()
        self.listener.close()


@pytest.fixture
def hung():
    database = HungDatabase()
    yield database
    database.close()
    db.dispose_all()


def test_the_ticket_database_answering_is_ready(migrated_sqlite):
    ok, checks = asyncio.run(db.readiness(f"sqlite:///{migrated_sqlite}"))
    assert ok and checks == {"database": "ok"}


def test_a_hung_database_is_not_ready_within_a_second_and_checks_do_not_pile_up(hung):
    url = f"postgresql://postgres@127.0.0.1:{hung.port}/dy_tickets"

    async def checks() -> list[tuple[bool, dict[str, str], float]]:
        answers = []
        for _ in range(5):  # the load balancer asks again and again
            began = time.monotonic()
            ok, found = await db.readiness(url)
            answers.append((ok, found, time.monotonic() - began))
        await asyncio.gather(*(db.readiness(url) for _ in range(5)))  # and at once
        return answers

    answers = asyncio.run(checks())
    for ok, found, took in answers:
        assert not ok and found == {"database": "TimeoutError"}
        assert took < db.READY_TIMEOUT_SECONDS + 0.5
    # ten checks over more than five seconds, one connection attempt waiting for the answer
    # (libpq gives up after CONNECT_TIMEOUT_SECONDS, then the next check tries again)
    assert 1 <= len(hung.accepted) <= 2, len(hung.accepted)
