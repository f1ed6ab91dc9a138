"""The console site of the web tests: the web app on a free port with a recorded conversation,
a broken playbook file, a ticket with a phone number, and one account per role."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import pytest

from tests.factories import PASSWORD, PHONE, ROOT, console_server, fresh_sqlite, record_conversation
from tickets import staff, store


@pytest.fixture(scope="module")
def console_site(migrated_sqlite, tmp_path_factory):
    work = tmp_path_factory.mktemp("console")
    database_url = fresh_sqlite(migrated_sqlite, work / "tickets.db")
    record_conversation(work / "trackers.db")
    (work / "endpoints.yml").write_text(
        f'tracker_store:\n  type: SQL\n  dialect: "sqlite"\n  db: "{work / "trackers.db"}"\n',
        encoding="utf-8",
    )
    playbooks = work / "playbooks"
    shutil.copytree(ROOT / "data" / "playbooks", playbooks)
    (playbooks / "zz_broken.yml").write_text("id: broken\ntitle: 坏掉的手册\n", encoding="utf-8")
    people = {
        role: staff.create_staff(f"{role}.web", PASSWORD, role, database_url=database_url)
        for role in ("agent", "supervisor", "editor")
    }
    ticket = store.create_ticket(
        idempotency_key="web-test",
        sender_id="web-test-user",
        category="network",
        reason="user_request",
        transcript=[
            {"role": "user", "text": f"请打 {PHONE} 联系我", "ts": "2026-11-24T10:00:00+00:00"}
        ],
        database_url=database_url,
    )
    store.set_contact(
        ticket.number, "web-test-user", phone=PHONE, email=None, database_url=database_url
    )
    with console_server(
        work,
        DATABASE_URL=database_url,
        DY_ENDPOINTS=str(work / "endpoints.yml"),
        DY_PLAYBOOK_DIR=str(playbooks),
        CONSOLE_SECRET="web-test-secret",
    ) as url:
        yield SimpleNamespace(
            url=url,
            people=people,
            ticket=ticket.number,
            database_url=database_url,
            log=work / "web.log",
        )
