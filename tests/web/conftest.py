"""The console site of the web tests: the web app in process with a recorded conversation,
a broken playbook file, a ticket with a phone number, and one account per role."""

from __future__ import annotations

import shutil
import uuid

import pytest
from sanic import Sanic

from actions import registry
from tests.factories import (
    PASSWORD,
    PHONE,
    ROOT,
    InProcessSite,
    fresh_sqlite,
    record_conversation,
)
from tickets import db, staff, store
from web.app import create_app

#: The widget sessions' secret of the console site (tests sign with it too).
WIDGET_SESSION_SECRET = "web-test-session-secret"


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
    with pytest.MonkeyPatch.context() as env:
        env.delenv("DY_TRACKER_DB_URL", raising=False)
        env.setenv("DATABASE_URL", database_url)
        env.setenv("DY_ENDPOINTS", str(work / "endpoints.yml"))
        env.setenv("DY_PLAYBOOK_DIR", str(playbooks))
        env.setenv("CONSOLE_SECRET", "web-test-secret")
        env.setenv("DY_SESSION_SECRET", WIDGET_SESSION_SECRET)
        env.setattr(registry, "_default", None)  # this site's playbooks, read afresh
        env.setattr(Sanic, "test_mode", True)  # an app per module, each with its own name
        site = InProcessSite(
            create_app(f"dy_web_test_{uuid.uuid4().hex[:8]}"),
            people=people,
            ticket=ticket.number,
            database_url=database_url,
        )
        yield site
        db.dispose_all()
