"""Builders the tests share (no fixtures here: those are in conftest.py): trackers and user
events, tickets, playbooks, copies of the project, conversations recorded in Rasa's tracker
store, and the web app on a free port with logged-in console sessions."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from playbook.parse import parse_playbook
from playbook.sourcefile import PROJECT_ROOT as ROOT
from scripts.servers import free_port, wait_until_up
from tickets import store
from tickets.policy import load_policy

#: The shared PostgreSQL on this machine (trust authentication), as psycopg2 arguments.
POSTGRES = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "connect_timeout": 3}


# --- the project ----------------------------------------------------------------------------


def copy_project(copy: Path) -> Path:
    """A copy of everything an editor touches (domain, config, data/, the test stories and the
    NLU test split); the code stays in the repository."""
    (copy / "tests").mkdir(parents=True)
    for name in ("domain.yml", "config.yml"):
        shutil.copy(ROOT / name, copy / name)
    shutil.copytree(ROOT / "data", copy / "data")
    shutil.copy(ROOT / "tests" / "test_stories.yml", copy / "tests" / "test_stories.yml")
    shutil.copytree(ROOT / "tests" / "nlu", copy / "tests" / "nlu")
    return copy


# --- trackers and what actions did -----------------------------------------------------------


def user_event(
    text: str, intent: str, entities: list[dict] | None = None, timestamp: float | None = None
) -> dict[str, Any]:
    return {
        "event": "user",
        "text": text,
        "timestamp": timestamp if timestamp is not None else time.time(),
        "parse_data": {
            "text": text,
            "intent": {"name": intent, "confidence": 0.99},
            "entities": entities or [],
        },
    }


def make_tracker(
    text: str,
    intent: str,
    *,
    slots: dict[str, Any] | None = None,
    entities: list[dict] | None = None,
    sender_id: str | None = None,
    history: list[dict[str, Any]] | None = None,
) -> Tracker:
    """A tracker whose latest message is ``text`` classified as ``intent``."""
    latest = user_event(text, intent, entities)
    events = list(history or []) + [latest]
    return Tracker(
        sender_id=sender_id or f"test-{uuid.uuid4().hex[:8]}",
        slots=dict(slots or {}),
        latest_message=latest["parse_data"],
        events=events,
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


def slot_values(events) -> dict[str, Any]:
    """The slots an action set, as a dict (last write wins)."""
    values = {}
    for event in events:
        if event.get("event") == "slot":
            values[event["name"]] = event["value"]
    return values


def responses(dispatcher: CollectingDispatcher) -> list[str]:
    """The response keys (or ``text:...``/``image:...``) the action sent, in order."""
    out = []
    for message in dispatcher.messages:
        if message.get("response"):
            out.append(message["response"])
        elif message.get("image"):
            out.append(f"image:{message['image']}")
        else:
            out.append(f"text:{message.get('text')}")
    return out


# --- what the assistant replied -------------------------------------------------------------


def texts(replies: list[dict]) -> str:
    """All reply texts joined, for assertions on what the user reads."""
    return "\n".join(r.get("text") or "" for r in replies)


def buttons(replies: list[dict]) -> list[str]:
    return [b["title"] for r in replies for b in r.get("buttons") or []]


# --- tickets -----------------------------------------------------------------------------------


def fresh_sqlite(migrated: Path, path: Path) -> str:
    """A copy of the migrated database at ``path``; its URL."""
    shutil.copy(migrated, path)
    return f"sqlite:///{path}"


NOW = datetime(2026, 11, 24, 1, 30, tzinfo=timezone.utc)  # 09:30 in China


def new_ticket(url, **overrides):
    values = dict(
        idempotency_key=store.escalation_key("alice", uuid.uuid4().hex),
        sender_id="alice",
        category="network",
        reason="playbook_exhausted",
        playbook="network",
        playbook_priority="general",
        steps_tried=[{"id": "check_network", "title": "检查网络环境"}],
        transcript=[{"role": "user", "text": "网络老掉线", "ts": NOW.isoformat()}],
        now=NOW,
        database_url=url,
    )
    values.update(overrides)
    return store.create_ticket(**values)


# --- playbooks ---------------------------------------------------------------------------------

PRIORITIES = list(load_policy().levels)
GOOD = textwrap.dedent("""\
    id: demo
    title: 演示问题
    category: network
    triggers:
      - intent: network_problem
        start: one
    intro: 开场白。
    steps:
      - id: one
        title: 第一步
        message: 请先试试这个。
        check: 好了吗？
        on_yes: resolved
        on_no: two
      - id: two
        title: 第二步
        message: 再试试那个。
        check: 现在好了吗？
        on_no: escalate
    escalation:
      category: network
      priority: general
    """)


def write(tmp_path: Path, text: str, name: str = "demo.yml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


NASTY = 'He said "hi" [x] {y} (z) <script>alert(1)</script> & #35; `md` %% a|b\n第二行'


def nasty_playbook(title: str = NASTY):
    """A playbook whose first step title is full of Mermaid and HTML syntax."""
    return parse_playbook(
        {
            "id": "nasty",
            "title": "t",
            "category": "other",
            "intro": "i",
            "triggers": [{"intent": "network_problem", "start": "one"}],
            "steps": [
                {
                    "id": "one",
                    "title": title,
                    "message": "m",
                    "check": "c",
                    "on_no": "two",
                    "on_human": "two",
                },
                {"id": "two", "title": "第二步", "message": "m", "check": "c"},
            ],
            "escalation": {"category": "other", "priority": "general"},
        },
        "nasty.yml",
    )


# --- the web app and the console ---------------------------------------------------------------

PASSWORD = "web test password"
PHONE = "13800138000"


def record_conversation(path) -> None:
    """One network conversation in Rasa's own tracker store: shown check_network, answered
    还是不行, shown restart_device, then the user left."""
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    domain = Domain.load(str(ROOT / "domain.yml"))
    tracker_store = SQLTrackerStore(domain, dialect="sqlite", db=str(path))
    tracker = DialogueStateTracker("web-test-user", domain.slots)
    long_ago = 1_700_000_000.0
    for step, tried, intent, action in [
        ("check_network", ["check_network"], "network_problem", "action_start_playbook"),
        ("restart_device", ["check_network", "restart_device"], "deny", "action_step_feedback"),
    ]:
        tracker.update(
            UserUttered("…", intent={"name": intent, "confidence": 1.0}, timestamp=long_ago), domain
        )
        tracker.update(ActionExecuted(action, timestamp=long_ago), domain)
        for name, value in (
            ("dy_stage", "troubleshooting"),
            ("playbook", "network"),
            ("playbook_step", step),
            ("steps_tried", tried),
        ):
            tracker.update(SlotSet(name, value, timestamp=long_ago), domain)
        tracker.update(ActionExecuted("action_listen", timestamp=long_ago), domain)
    asyncio.run(tracker_store.save(tracker))
    tracker_store.engine.dispose()


@contextlib.contextmanager
def console_server(work, **settings):
    """The web app (widget and console) in its own process on a free port, with ``settings``
    in its environment; yields its URL. Its log is ``work/web.log``."""
    from tickets import db

    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DY_TRACKER_DB_URL", "DY_PLAYBOOK_DIR")}
    env.setdefault("DY_SESSION_SECRET", "web-test-session-secret")  # required at start
    env.update(settings, PYTHONPATH=str(ROOT))
    log = work / "web.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "web", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log.open("a"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/config.js", server, log, 60)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        db.dispose_all()


class InProcessSite:
    """The web app served by Sanic's own server inside this test process (sanic-testing starts
    it on a free port for each request: no subprocess). ``session()`` keeps cookies as one
    browser does; ``get`` and ``post`` are an anonymous visitor's. Answers are httpx responses
    (``status_code``, ``text``, ``json()``, ``headers``); ``allow_redirects`` as with requests."""

    url = ""  # requests name a path: the test client adds its own host and port

    def __init__(self, app: Any, **facts: Any) -> None:
        self.app = app
        self.__dict__.update(facts)

    def session(self) -> _InProcessSession:
        return _InProcessSession(self.app)

    def get(self, url: str, **options: Any) -> Any:
        return self.session().get(url, **options)

    def post(self, url: str, **options: Any) -> Any:
        return self.session().post(url, **options)


class _Answer:
    """An answer read as requests' are (``json()`` a method; sanic-testing has a property)."""

    def __init__(self, response: Any) -> None:
        self.status_code: int = response.status_code
        self.headers = response.headers
        self.text: str = response.text
        self.content: bytes = response.content
        self.url = response.url
        self._json = response.json

    def json(self) -> Any:
        return self._json


class _InProcessSession:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.cookies: dict[str, str] = {}

    def _send(self, method: str, url: str, **options: Any) -> Any:
        options.pop("timeout", None)  # the server is in this process: nothing to wait for
        follow = options.pop("allow_redirects", True)
        for _hop in range(10):
            send = getattr(self.app.test_client, method.lower())
            _request, response = send(
                url, cookies=dict(self.cookies), allow_redirects=False, **options
            )
            for name, value in response.cookies.items():
                if value:
                    self.cookies[name] = value
                else:  # Sanic deletes a cookie by sending it empty
                    self.cookies.pop(name, None)
            if not (follow and response.status_code in (301, 302, 303, 307)):
                return _Answer(response)
            # followed here, not by httpx, so that the cookies just set go along
            method, url, options = "GET", response.headers["location"], {}
        raise AssertionError(f"more than 10 redirects from {url}")

    def get(self, url: str, **options: Any) -> Any:
        return self._send("GET", url, **options)

    def post(self, url: str, **options: Any) -> Any:
        return self._send("POST", url, **options)


def login(site, role: str):
    """A console session of ``site``'s account for ``role`` (its landing page in ``landing``)."""
    session = site.session()
    form = session.get(f"{site.url}/console/login", timeout=30).text
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', form).group(1)
    reply = session.post(
        f"{site.url}/console/login",
        allow_redirects=False,
        timeout=30,
        data={"username": site.people[role].username, "password": PASSWORD, "csrf": token},
    )
    assert reply.status_code == 302
    session.landing = reply.headers["Location"]
    return session


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
