"""Playbooks as flow diagrams, with how real conversations went through them.

- :func:`mermaid` draws one playbook as Mermaid ``flowchart TD`` source: triggers, steps,
  branches, the 已解决 and 转人工 ends (with the escalation's priority and promised response
  time), and, given statistics, how many conversations took each edge and where users left.
- :func:`flow_stats` reads Rasa's SQL tracker store (read-only, one ordered query) and counts
  per playbook how often each step was shown and answered 解决了 / 还是不行 / 转人工, where
  conversations were resolved, escalated, or given up.

Pure Python: the console (``web/console.py``) renders the pages.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    case,
    create_engine,
    select,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.engine.url import URL

from playbook.engine import ANSWER_LABELS, HUMAN, NO, YES, branch_path, entry_steps
from playbook.engine import target as answer_target
from playbook.model import ESCALATE, RESOLVED, Playbook, Step
from playbook.progress import Progress
from playbook.sourcefile import PROJECT_ROOT
from tickets.policy import PriorityPolicy

DEFAULT_ENDPOINTS = PROJECT_ROOT / "endpoints.yml"
DOMAIN = PROJECT_ROOT / "domain.yml"
#: A conversation idle this long has ended (Rasa's session expiry, domain.yml session_config).
DEFAULT_IDLE_SECONDS = 3600.0

ANSWERS = (YES, NO, HUMAN)
#: The actions that move a conversation through a playbook (actions/troubleshooting.py,
#: actions/escalation.py).
START = "action_start_playbook"
FLOW_ACTIONS = {
    START,
    "action_step_feedback",
    "action_escalate",
    "action_fallback",
    "action_resume_flow",
    "action_save_contact",
    "action_save_rating",
}
#: The slot in which the actions record how they read the reply to the open step.
STEP_ANSWER = {"worked": YES, "failed": NO, "human": HUMAN}
#: The actions that moved a playbook by the intent alone, before ``step_answer`` existed.
LEGACY_ANSWERS = {"action_step_feedback", "action_escalate"}
#: Actions after which Rasa starts the conversation state afresh.
RESET_ACTIONS = {"action_session_start", "action_restart"}
PROGRESS_SLOTS = {"dy_stage", "playbook", "playbook_step", "steps_tried"}
#: The slot events the walker reads: the progress, and how the reply to the open step was read.
READ_SLOTS = PROGRESS_SLOTS | {"step_answer"}
MAX_LABEL = 80


# --- statistics ----------------------------------------------------------------------------


@dataclass
class StepStats:
    """What happened at one step: how often it was shown and how users answered."""

    shown: int = 0
    answers: dict[str, int] = field(default_factory=lambda: {a: 0 for a in ANSWERS})
    resolved: int = 0  # answers whose target is 已解决
    escalated: int = 0  # answers whose target is 转人工 (a ticket)
    gave_up: int = 0  # the user left while this step was open
    open_now: int = 0  # still open in a conversation that is not over yet


@dataclass
class PlaybookStats:
    """Counts of one playbook over every conversation in the tracker store."""

    conversations: int = 0  # times the playbook was started
    starts: dict[str, int] = field(default_factory=dict)  # trigger intent -> starts
    steps: dict[str, StepStats] = field(default_factory=dict)
    branches: dict[tuple[str, str], int] = field(default_factory=dict)  # (branch, target)

    def step(self, step_id: str) -> StepStats:
        return self.steps.setdefault(step_id, StepStats())

    @property
    def resolved(self) -> int:
        return sum(s.resolved for s in self.steps.values())

    @property
    def escalated(self) -> int:
        return sum(s.escalated for s in self.steps.values())

    @property
    def gave_up(self) -> int:
        return sum(s.gave_up for s in self.steps.values())

    @property
    def open_now(self) -> int:
        return sum(s.open_now for s in self.steps.values())


def _open(progress: Progress) -> tuple[Playbook, Step] | None:
    """The playbook and the step waiting for the user's answer, as the actions accept it."""
    step = progress.open_step
    return None if step is None or progress.playbook is None else (progress.playbook, step)


def _moved(before: Progress, after: Progress) -> bool:
    """The stage, playbook or step changed."""
    return (before.stage, before.playbook and before.playbook.id, before.step_id) != (
        after.stage,
        after.playbook and after.playbook.id,
        after.step_id,
    )


class _Walker:
    """Replays one conversation's events and counts into the playbooks' statistics."""

    def __init__(self, playbooks: Mapping[str, Playbook], stats: dict[str, PlaybookStats]) -> None:
        self.playbooks = playbooks
        self.stats = stats
        self.state: dict[str, Any] = {}  # the progress slots as they stand
        self.intent: str | None = None
        self.action: str | None = None
        self.slots: list[tuple[str, Any]] = []
        self.last_seen = 0.0

    def progress(self, values: Mapping[str, Any]) -> Progress:
        """The progress slots ``values`` as the actions read them."""
        return Progress.read(values, self.playbooks)

    def user(self, intent: str | None) -> None:
        self.finish_action()
        self.intent = intent

    def begin_action(self, name: str | None) -> None:
        self.finish_action()
        self.action = name

    def slot(self, name: str, value: Any) -> None:
        if self.action is None:
            self.state[name] = value
        else:
            self.slots.append((name, value))

    def finish_action(self) -> None:
        """Apply the slots the last action set and count what that action did."""
        action, slots = self.action, self.slots
        self.action, self.slots = None, []
        if action is None:
            return
        before = self.progress(self.state)
        if action in RESET_ACTIONS:  # a new session (or /restart) starts with empty slots
            self.state = {}
        for name, value in slots:
            self.state[name] = value
        after = self.progress(self.state)
        was_open = _open(before)
        if action in RESET_ACTIONS:
            if was_open and _open(after) != was_open:
                self.stats[was_open[0].id].step(was_open[1].id).gave_up += 1
            return
        if action not in FLOW_ACTIONS or not slots:  # nothing moved (or the action failed)
            return
        now_open = _open(after)
        judged = [
            STEP_ANSWER[value]
            for name, value in slots
            if name == "step_answer" and value in STEP_ANSWER
        ]
        if was_open is not None and judged:
            self._answer(was_open, judged[-1], now_open)
        elif action == START:
            self._start(was_open, now_open, before, after)
        elif was_open is not None and action in LEGACY_ANSWERS and _moved(before, after):
            # recorded before the actions said how they read the reply: the intent tells
            answer = (
                HUMAN if action == "action_escalate" else YES if self.intent == "affirm" else NO
            )
            self._answer(was_open, answer, now_open)

    def _start(
        self,
        was_open: tuple[Playbook, Step] | None,
        now_open: tuple[Playbook, Step] | None,
        before: Progress,
        after: Progress,
    ) -> None:
        playbook = after.playbook
        if playbook is None:
            return
        trigger = playbook.trigger_for(self.intent)
        if trigger is None:
            return
        if was_open is not None and was_open[0].id == playbook.id:
            # the same problem described again: a jump to its start step, or "still not working"
            if (
                now_open is not None
                and now_open[1].id in entry_steps(playbook, trigger.start)
                and now_open[1].id not in before.steps_tried
            ):
                self._shown(playbook, trigger.start, now_open)
            else:
                self._answer(was_open, NO, now_open)
            return
        if now_open is None:
            return
        counts = self.stats[playbook.id]
        counts.conversations += 1
        counts.starts[trigger.intent] = counts.starts.get(trigger.intent, 0) + 1
        self._shown(playbook, trigger.start, now_open)

    def _answer(
        self, was_open: tuple[Playbook, Step], answer: str, now_open: tuple[Playbook, Step] | None
    ) -> None:
        playbook, step = was_open
        counts = self.stats[playbook.id].step(step.id)
        counts.answers[answer] += 1
        target = answer_target(step, answer)
        if target == RESOLVED:
            counts.resolved += 1
        elif target == ESCALATE:
            counts.escalated += 1
        elif now_open is not None and now_open[0].id == playbook.id:
            self._shown(playbook, target, now_open)

    def _shown(self, playbook: Playbook, entered: str, now_open: tuple[Playbook, Step]) -> None:
        counts = self.stats[playbook.id]
        counts.step(now_open[1].id).shown += 1
        for hop in branch_path(playbook, entered, now_open[1].id):
            counts.branches[hop] = counts.branches.get(hop, 0) + 1

    def end(self, now: float, idle_seconds: float) -> None:
        """The conversation's last event: an open step there is given up once it is idle."""
        self.finish_action()
        still_open = _open(self.progress(self.state))
        if still_open is not None:
            counts = self.stats[still_open[0].id].step(still_open[1].id)
            if now - self.last_seen >= idle_seconds:
                counts.gave_up += 1
            else:
                counts.open_now += 1


EVENTS = Table(
    "events",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255)),
    Column("type_name", String(255)),
    Column("timestamp", Float),
    Column("intent_name", String(255)),
    Column("action_name", String(255)),
    Column("data", Text),
)


def _rows(engine: Engine) -> Iterator[Sequence[Any]]:
    """(sender_id, type_name, timestamp, intent_name, action_name, slot data) of the user,
    action and slot events of every conversation, in order; ``data`` only for slot events
    (what users wrote is never read)."""
    events = EVENTS.c
    query = (
        select(
            events.sender_id,
            events.type_name,
            events.timestamp,
            events.intent_name,
            events.action_name,
            case((events.type_name == "slot", events.data), else_=None),
        )
        .where(events.type_name.in_(("user", "slot", "action")))
        .order_by(events.sender_id, events.id)
    )
    with engine.connect() as connection:
        yield from connection.execution_options(stream_results=True).execute(query)


def count_events(
    playbooks: Iterable[Playbook],
    rows: Iterable[Sequence[Any]],
    *,
    now: float | None = None,
    idle_seconds: float = DEFAULT_IDLE_SECONDS,
) -> dict[str, PlaybookStats]:
    """Count ``(sender_id, type_name, timestamp, intent_name, action_name, slot data)`` rows,
    ordered by conversation and then by event id, into statistics per playbook."""
    by_id = {p.id: p for p in playbooks}
    stats = {playbook_id: PlaybookStats() for playbook_id in by_id}
    now = time.time() if now is None else now
    walker: _Walker | None = None
    sender = None
    for sender_id, type_name, timestamp, intent, action, data in rows:
        if walker is None or sender_id != sender:
            if walker is not None:
                walker.end(now, idle_seconds)
            walker, sender = _Walker(by_id, stats), sender_id
        walker.last_seen = max(walker.last_seen, timestamp or 0.0)
        if type_name == "user":
            walker.user(intent)
        elif type_name == "action":
            walker.begin_action(action)
        elif type_name == "slot" and data and any(f'"{n}"' in data for n in READ_SLOTS):
            try:
                event = json.loads(data)
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("name") in READ_SLOTS:
                walker.slot(event["name"], event.get("value"))
    if walker is not None:
        walker.end(now, idle_seconds)
    return stats


def flow_stats(
    playbooks: Iterable[Playbook],
    store: str | URL | Engine | None,
    *,
    now: float | None = None,
    idle_seconds: float = DEFAULT_IDLE_SECONDS,
) -> dict[str, PlaybookStats]:
    """Statistics per playbook id from Rasa's SQL tracker store at ``store`` (a URL or an
    engine), or ``{}`` when there is no store or no conversation table yet."""
    if store is None:
        return {}
    engine = store if isinstance(store, Engine) else _readonly_engine(store)
    if engine is None:
        return {}
    try:
        if not sa_inspect(engine).has_table("events"):
            return {}
        return count_events(playbooks, _rows(engine), now=now, idle_seconds=idle_seconds)
    finally:
        if engine is not store:
            engine.dispose()


def _readonly_engine(url: str | URL) -> Engine | None:
    """An engine that only reads; for SQLite, None when the file does not exist (it is
    never created here)."""
    url = make_url(url) if isinstance(url, str) else url
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            return None
        path = Path(url.database)
        path = path if path.is_absolute() else PROJECT_ROOT / path
        if not path.is_file():
            return None
        from urllib.parse import quote

        return create_engine(
            f"sqlite:///file:{quote(str(path))}?mode=ro&uri=true", hide_parameters=True
        )
    return create_engine(url, hide_parameters=True, pool_pre_ping=True)


# --- where the tracker store is ----------------------------------------------------------


def tracker_store_url(endpoints: Path | None = None) -> str | URL | None:
    """The SQL tracker store Rasa uses, as an SQLAlchemy URL, or None (in-memory or another
    kind of store).

    ``DY_TRACKER_DB_URL`` (an SQLAlchemy URL) wins; otherwise the ``tracker_store`` section
    of the endpoints file (``DY_ENDPOINTS``, default ``endpoints.yml``) is read the way Rasa
    reads it (``${VAR}`` placeholders included). A relative SQLite path is taken relative to
    the project folder, where ``make run`` starts Rasa.
    """
    if os.environ.get("DY_TRACKER_DB_URL"):
        return os.environ["DY_TRACKER_DB_URL"]
    path = Path(endpoints or os.environ.get("DY_ENDPOINTS") or DEFAULT_ENDPOINTS)
    if not path.is_absolute():
        path = PROJECT_ROOT / path
    if not path.is_file():
        return None
    from rasa.utils.endpoints import read_endpoint_config

    config = read_endpoint_config(str(path), "tracker_store")
    if config is None or str(config.type or "").lower() != "sql":
        return None
    return sql_url(host=config.url, **config.kwargs)


def sql_url(
    dialect: str = "sqlite",
    host: str | None = None,
    port: int | None = None,
    db: str = "rasa.db",
    username: str | None = None,
    password: str | None = None,
    query: dict[str, str] | None = None,
    **_ignored: Any,
) -> str | URL:
    """The database URL Rasa's ``SQLTrackerStore.get_db_url`` builds for these settings
    (``login_db`` only matters for creating the database, so the data is read from ``db``)."""
    if host and "://" in host:
        return host
    if host:
        from urllib.parse import urlsplit

        parsed = urlsplit(f"scheme://{host}")
        port = parsed.port or port
        host = parsed.hostname or host
    return URL.create(
        dialect,
        username=username,
        password=password,
        host=host,
        port=int(port) if port else None,
        database=db,
        query=query or {},
    )


def idle_seconds(domain: Path = DOMAIN) -> float:
    """Rasa's session expiry from domain.yml: after this long a conversation is over."""
    try:
        data = yaml.safe_load(domain.read_text(encoding="utf-8")) or {}
        session_config: Any = data.get("session_config") or {}
        minutes = float(session_config.get("session_expiration_time"))
    except (OSError, TypeError, ValueError, yaml.YAMLError):
        return DEFAULT_IDLE_SECONDS
    return minutes * 60 if minutes > 0 else DEFAULT_IDLE_SECONDS


# --- the diagram ---------------------------------------------------------------------------

_SAFE = re.compile(r"[^\w\s\u2010-\u2027\u3000-\u303f\uff00-\uffef.,:!?/·+=*@$^~'-]", re.UNICODE)


def label(text: Any, limit: int = MAX_LABEL) -> str:
    """Editor text made safe inside a quoted Mermaid label: one line, and every character
    that Mermaid or HTML could read as syntax (quotes, brackets, ``<``, ``&``, ``#``, ``;``,
    backticks, ``%``, ``|`` …) written as a Mermaid entity code such as ``#60;``."""
    flat = " ".join(str(text).split())
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return _SAFE.sub(lambda m: f"#{ord(m.group(0))};", flat)


def _count(value: int | None) -> str:
    return "" if value is None else f" · {value}"


def mermaid(
    playbook: Playbook,
    stats: PlaybookStats | None = None,
    policy: PriorityPolicy | None = None,
) -> str:
    """Mermaid ``flowchart TD`` source for one playbook; with ``stats`` every edge carries
    how many conversations took it, and steps where users left point to a 用户离开 node."""
    if policy is None:
        from tickets.policy import load_policy

        policy = load_policy()
    ids = {step_id: f"s{index}" for index, step_id in enumerate(playbook.steps)}
    lines = ["flowchart TD"]
    for index, trigger in enumerate(playbook.triggers):
        starts = stats.starts.get(trigger.intent, 0) if stats else None
        lines.append(f'  t{index}(["用户说：{label(trigger.intent)}"])')
        target = ids.get(trigger.start)
        if target:
            lines.append(f"  t{index} -->{_edge('开始' + _count(starts))} {target}")
    number = 0
    for step_id, step in playbook.steps.items():
        node = ids[step_id]
        if step.branch is not None:
            lines.append(f'  {node}{{"{label(step.title)}<br/>按 {label(step.branch.slot)} 分支"}}')
            by_target: dict[str, list[str]] = defaultdict(list)
            for case_value, target in step.branch.cases.items():
                by_target[target].append(label(case_value, 20))
            by_target[step.branch.default].append("其他")
            for target, cases in by_target.items():
                hops = stats.branches.get((step_id, target), 0) if stats else None
                if target in ids:
                    text = " / ".join(cases) + _count(hops)
                    lines.append(f"  {node} -->{_edge(text)} {ids[target]}")
            continue
        number += 1
        counts = stats.steps.get(step_id, StepStats()) if stats else None
        shown = f"<br/>展示 {counts.shown} 次" if counts else ""
        lines.append(f'  {node}["{number}. {label(step.title)}<br/>{label(step_id)}{shown}"]')
        for answer in ANSWERS:
            target = answer_target(step, answer)
            taken = counts.answers[answer] if counts else None
            if answer == HUMAN and target == ESCALATE and not taken:
                continue  # 转人工 is possible at every step; drawn only where someone used it
            arrow = "-.->" if answer == HUMAN else "-->"
            lines.append(
                f"  {node} {arrow}{_edge(ANSWER_LABELS[answer] + _count(taken))} "
                f"{_terminal(target, ids)}"
            )
        if counts and counts.gave_up:
            lines.append(f"  {node} -.->{_edge(f'离开 · {counts.gave_up}')} gone")
    level = policy.levels.get(playbook.escalation.priority)
    priority = label(
        f"{level.label} · {level.promise}响应" if level else playbook.escalation.priority
    )
    lines.append('  done(["已解决"])')
    lines.append(f'  human{{{{"转人工<br/>优先级：{priority}"}}}}')
    if stats and stats.gave_up:
        lines.append('  gone(["用户离开"])')
        lines.append("  class gone goneEnd")
    lines += [
        "  classDef okEnd fill:#e3f6e8,stroke:#1c7c3a,color:#12401f",
        "  classDef escEnd fill:#ffe3e6,stroke:#c8102e,color:#5c0a17",
        "  classDef goneEnd fill:#f1f1f3,stroke:#8a8d94,color:#44464d,stroke-dasharray:4 3",
        "  class done okEnd",
        "  class human escEnd",
    ]
    return "\n".join(lines) + "\n"


def _edge(text: str) -> str:
    return f'|"{text}"|'


def _terminal(target: str, ids: Mapping[str, str]) -> str:
    if target == RESOLVED:
        return "done"
    if target == ESCALATE:
        return "human"
    return ids[target]
