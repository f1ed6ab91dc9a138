"""Faults during the load on the scale-out, and the time to recover from each (issue 12).

  flock /tmp/dy-cluster.lock .venv/bin/python scripts/faults.py [--users 50] [--quiet 20]

Starts a private PostgreSQL and Redis on spare ports and runs the scale-out (scripts/scale.py:
nginx, two Rasa, two action and two web servers under supervisor, on the usual ports) on them
through ``DY_SCALE_TOPOLOGY``; a scale-out already running on the shared stores is stopped
first and started again at the end. ``users`` simulated users walk the troubleshooting
conversation of scripts/load.py through nginx, one conversation after another. A user who
gets a 503, the apology, a connection error (or another failed answer) waits a second and
sends the same message again, as a person would, at most :data:`MAX_ATTEMPTS` times. While
they run, one fault at a time, each followed by a quiet period once every server is back:

- ``kill -9`` action server 1 (supervisor restarts it),
- ``kill -9`` Rasa server 1 (supervisor restarts it; nginx sends its turns to the other),
- PostgreSQL (conversations and tickets) restarted: stopped (fast), down a few seconds, started,
- Redis (the conversation lock, socket.io) stopped for a few seconds, then started again.

For each fault: the failed turns by kind, the users hit, the slowest turn, the recovery time
(:data:`RECOVERY_DEFINITION`) and which servers were restarted. At the end, for every
conversation: its stored tracker (Rasa's HTTP API, JWT) holds the messages it sent, in
order (repeats from retries allowed), and no playbook step was shown again after a later
one (nothing reset); once the ticket outbox has drained, every finished conversation has
exactly one ticket.

Importable: :func:`run` (the whole thing) or :func:`private_scale_out` and
:func:`run_faults` (the test), each giving a :class:`FaultsResult` (``result.table()``).
The caller holds the scale-out's lock (``flock /tmp/dy-cluster.lock``).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

import psycopg2
import requests
import yaml

from playbook.domain import domain_texts
from playbook.sourcefile import PROJECT_ROOT as ROOT
from scripts import load, scale
from scripts.servers import PostgresServer, RedisServer

RETRY_WAIT_SECONDS = 1.0
#: A user sends one message at most this often before giving the conversation up.
MAX_ATTEMPTS = 30
#: ... and gives up sooner on the same wrong reply (a person would not insist).
WRONG_REPLY_ATTEMPTS = 3
TURN_TIMEOUT_SECONDS = 120  # above nginx's 90 s read timeout: nginx answers first
READY_LIMIT_SECONDS = 300
#: A server line of nginx's upstreams that sends it no requests (drained, or not ready).
OUT_OF_NGINX = re.compile(r"^\s*server \S+ .*\b(down|backup);", re.M)
OUTBOX_DRAIN_SECONDS = 90
#: A turn slower than this is described under its fault's row.
SLOW_TURN_SECONDS = 10
#: How a failed turn is counted.
KINDS = ("503", "apology", "wrong reply", "connection error", "other")
#: The failures after which a probe sends its message again (0.2 s later).
RETRIED = ("503", "apology", "connection error")
#: A message whose answer shows a later step than the one expected: it was taken twice (a
#: Rasa server died after saving the turn and before answering, nginx gave the request to the
#: other, or the user's retry followed a lost answer), so the conversation skipped a step.
#: Counted apart: the user sees a plausible answer and goes on from it.
TAKEN_TWICE = "taken twice"
BEFORE = "none (before the first fault)"
#: What the last message of the script is answered with once its ticket exists (the
#: contact question is skipped): seen when that message was taken twice.
AFTER_TICKET = domain_texts().text("utter_contact_skipped") or ""
KILL_ACTIONS = "kill -9 actions-1"
KILL_RASA = "kill -9 rasa-1"
RESTART_POSTGRES = "restart PostgreSQL"
STOP_REDIS = "stop Redis"
RECOVERY_DEFINITION = (
    "recovery s: from the moment the fault is injected until the end of the last failed "
    "turn (of any user) before the next fault, so every turn after that moment succeeded; "
    "0.0 when no turn failed. back s: until the killed server runs again (new pid, ready) "
    "or the stopped store is started again. twice: messages taken twice (the answer shows a "
    "later step: the conversation skipped one), not counted as failed."
)


def log(message: str) -> None:
    print(f"\033[1;34m==>\033[0m {message}", flush=True)


# --- the users --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """One message sent once."""

    user: int
    sender: str
    step: int  # index into load.SCRIPT
    started: float  # time.monotonic()
    ended: float
    problem: str | None  # None: the reply expected; else one of KINDS, or TAKEN_TWICE
    detail: str = ""


@dataclass
class Conversation:
    sender: str
    sent: list[str] = field(default_factory=list)  # every message sent, retries included
    finished: bool = False
    gave_up: bool = False


def ask(session: requests.Session, url: str, sender: str, message: str) -> tuple[int | None, str]:
    """One turn over the REST channel: the status (None: no answer) and the texts said."""
    try:
        answer = session.post(
            f"{url}/webhooks/rest/webhook",
            json={"sender": sender, "message": message},
            timeout=TURN_TIMEOUT_SECONDS,
        )
    except requests.RequestException as exc:
        return None, f"{type(exc).__name__}: {str(exc)[-80:]}"
    try:
        return answer.status_code, load.said_text(answer.json())
    except ValueError:  # nginx's own error page
        return answer.status_code, ""


@dataclass(frozen=True)
class Verdict:
    """How one answer went: ``problem`` None (the reply expected) or one of :data:`KINDS` or
    :data:`TAKEN_TWICE`; ``advance``: how many steps the conversation moved on (0: none)."""

    problem: str | None
    advance: int
    detail: str = ""


def shown_later(step: int, said: str) -> int:
    """How many steps past ``step`` the answer shows (0: none): the earlier attempt of this
    message was taken and this one answered the step after it. For the last message, the
    answer to it after the ticket (the contact question skipped) counts as one."""
    later = [j for j in range(step + 1, len(load.SCRIPT)) if load.SCRIPT[j][1] in said]
    if later:
        return later[-1] - step
    return int(step == len(load.SCRIPT) - 1 and bool(AFTER_TICKET) and AFTER_TICKET in said)


def classify(status: int | None, said: str, step: int) -> Verdict:
    """What the answer (``status``, None when there was none, and the texts ``said``) to step
    ``step``'s message means."""
    if status is None:
        return Verdict("connection error", 0, said)
    if status == 503:
        return Verdict("503", 0) if load.APOLOGY in said else Verdict("other", 0, "503, no apology")
    if status == 200 and not said.strip():
        return Verdict("other", 0, "200 with nothing said")
    problem = load.reply_problem(status, said, load.SCRIPT[step][1])
    if problem is None:
        return Verdict(None, 1)
    if problem == "apology":
        return Verdict("apology", 0)
    if problem == "wrong reply":
        if skipped := shown_later(step, said):
            return Verdict(TAKEN_TWICE, skipped + 1)
        return Verdict("wrong reply", 0, said[:60].replace("\n", " "))
    return Verdict("other", 0, f"HTTP {status}")


class Users:
    """``count`` simulated users through ``url``, each walking :data:`load.SCRIPT` again and
    again until :meth:`stop`, retrying a failed turn as a person would."""

    def __init__(self, url: str, count: int, prefix: str) -> None:
        self.url = url
        self.count = count
        self.prefix = prefix
        self.attempts: list[Attempt] = []
        self.conversations: list[Conversation] = []
        self._guard = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._user, args=(n,), daemon=True) for n in range(count)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, limit: float) -> bool:
        """Let each user finish the conversation they are in; True if all did in ``limit`` s."""
        self._stop.set()
        deadline = time.monotonic() + limit
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._threads)

    def _user(self, n: int) -> None:
        session = requests.Session()
        while not self._stop.is_set():
            conversation = Conversation(f"{self.prefix}-{n}-{uuid.uuid4().hex[:10]}")
            with self._guard:
                self.conversations.append(conversation)
            self._walk(n, session, conversation)

    def _walk(self, n: int, session: requests.Session, conversation: Conversation) -> None:
        step = 0
        while step < len(load.SCRIPT):
            advance = self._step(n, session, conversation, step)
            if not advance:
                conversation.gave_up = True
                return
            step += advance
        conversation.finished = True

    def _step(
        self, n: int, session: requests.Session, conversation: Conversation, step: int
    ) -> int:
        """Send step ``step``'s message until it is answered: how many steps that took the
        conversation on (0: the user gave up)."""
        message = load.SCRIPT[step][0]
        wrong = 0
        for _ in range(MAX_ATTEMPTS):
            started = time.monotonic()
            verdict = classify(*ask(session, self.url, conversation.sender, message), step)
            record = Attempt(
                n,
                conversation.sender,
                step,
                started,
                time.monotonic(),
                verdict.problem,
                verdict.detail,
            )
            with self._guard:
                conversation.sent.append(message)
                self.attempts.append(record)
            if verdict.advance:
                return verdict.advance
            wrong += verdict.problem == "wrong reply"
            if wrong >= WRONG_REPLY_ATTEMPTS:
                return 0
            time.sleep(RETRY_WAIT_SECONDS)
        return 0


# --- the scale-out on private stores -----------------------------------------------------------


@dataclass(frozen=True)
class Cluster:
    """The running scale-out on its private PostgreSQL and Redis."""

    topology: scale.Topology
    postgres: PostgresServer
    redis: RedisServer
    outbox: Path
    keys: dict[str, str]


def scale_command(command: str, env: dict[str, str]) -> None:
    """``scripts/scale.py command`` in environment ``env``; raises with its output if it fails."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "scale.py"), command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        output = done.stdout[-3000:] + done.stderr[-3000:]
        raise RuntimeError(f"scale.py {command} failed:\n{output}")


def shared_env() -> dict[str, str]:
    """This environment without the private scale-out's settings (the shared stores)."""
    private = (scale.TOPOLOGY_ENV, "DY_OUTBOX_DIR", "DY_OUTBOX_RETRY_SECONDS")
    return {k: v for k, v in os.environ.items() if k not in private}


def write_topology(path: Path, postgres_port: int, redis_port: int) -> Path:
    """deploy/topology.yml with the PostgreSQL and Redis URLs of the private instances."""
    data: dict[str, Any] = yaml.safe_load(scale.TOPOLOGY.read_text(encoding="utf-8"))
    data["postgres"]["url"] = f"postgresql://postgres@127.0.0.1:{postgres_port}"
    data["redis"]["url"] = f"redis://127.0.0.1:{redis_port}"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@contextlib.contextmanager
def private_scale_out(restore: bool = True) -> Iterator[Cluster]:
    """The scale-out running on a private PostgreSQL and Redis (spare ports), stopped at the
    end with both stores. A scale-out running before is stopped first and, with ``restore``,
    started again afterwards (on the shared stores)."""
    was_running = scale.supervisor_running()
    folder = Path(tempfile.mkdtemp(prefix="dy-faults-"))
    postgres = PostgresServer()
    redis = RedisServer(folder / "redis")
    env = dict(
        shared_env(),
        **{
            scale.TOPOLOGY_ENV: str(folder / "topology.yml"),
            "DY_OUTBOX_DIR": str(folder / "outbox"),
            "DY_OUTBOX_RETRY_SECONDS": "1",
        },
    )
    try:
        if was_running:
            log("stopping the running scale-out (it is started again at the end)")
            scale_command("down", shared_env())
        postgres.start()
        redis.start()
        topology_file = write_topology(folder / "topology.yml", postgres.port, redis.port)
        log(f"scale-out on private PostgreSQL :{postgres.port} and Redis :{redis.port}")
        began = time.monotonic()
        scale_command("up", env)
        log(f"scale-out ready after {time.monotonic() - began:.0f} s")
        topology = scale.Topology(yaml.safe_load(topology_file.read_text(encoding="utf-8")))
        yield Cluster(topology, postgres, redis, folder / "outbox", scale.ensure_secrets(topology))
    finally:
        try:
            scale_command("down", env)
        finally:
            redis.stop()
            postgres.remove()
            shutil.rmtree(folder, ignore_errors=True)
        if was_running and restore:
            log("starting the scale-out on the shared stores again")
            scale_command("up", shared_env())


# --- the faults ---------------------------------------------------------------------------------


def program_pid(program: str) -> int:
    """The pid supervisor has for ``program`` (0 when it is not running)."""
    answer = scale.supervisorctl("pid", program).stdout.strip()
    return int(answer) if answer.isdigit() else 0


def program_pids() -> dict[str, int]:
    names = [line.split()[0] for line in scale.supervisorctl("status").stdout.splitlines() if line]
    return {name: program_pid(name) for name in names}


def program_ready(topology: scale.Topology, program: str) -> bool:
    kind, n = program.rsplit("-", 1)
    port = topology.ports(kind)[int(n) - 1]
    try:
        url = f"http://127.0.0.1:{port}{scale.READY_PATHS[kind]}"
        return requests.get(url, timeout=1.5).status_code == 200
    except requests.RequestException:
        return False


def wait_program_back(topology: scale.Topology, program: str, old_pid: int) -> float:
    """Until supervisor has restarted ``program`` and it is ready: the moment it was."""
    deadline = time.monotonic() + READY_LIMIT_SECONDS
    while time.monotonic() < deadline:
        pid = program_pid(program)
        if pid and pid != old_pid and program_ready(topology, program):
            return time.monotonic()
        time.sleep(0.5)
    raise RuntimeError(f"{program} not back {READY_LIMIT_SECONDS} s after it was killed")


def wait_settled(topology: scale.Topology) -> None:
    """Until every server is ready and back in nginx (the readiness watcher put it back).
    A server counts as ready when it answered ready within the last few seconds: this
    process also runs the users' threads, and its own checks are sometimes late under them."""
    upstreams = scale.STATE / "nginx" / "upstreams.conf"
    deadline = time.monotonic() + READY_LIMIT_SECONDS
    last_ready: dict[str, float] = {}
    while time.monotonic() < deadline:
        now = time.monotonic()
        for name, ready in scale.readiness(topology).items():
            if ready:
                last_ready[name] = now
        text = upstreams.read_text(encoding="utf-8")
        everyone = all(
            now - last_ready.get(name, -1e9) < 10 for name in scale.readiness_names(topology)
        )
        if everyone and not OUT_OF_NGINX.search(text):
            return
        time.sleep(1)
    raise RuntimeError(f"the scale-out not settled {READY_LIMIT_SECONDS} s after a fault")


@dataclass(frozen=True)
class Over:
    """A fault undone: when (the killed server ready again, the stopped store started again)
    and what a probe conversation straight to the faulty replica heard, turn by turn (``ok``
    or the problem)."""

    back: float  # time.monotonic()
    probe: tuple[str, ...] = ()


def probe_turn(url: str, sender: str, step: int) -> str:
    """One turn of a probe conversation straight to a Rasa server: ``ok`` or the problem."""
    with requests.Session() as session:
        verdict = classify(*ask(session, url, sender, load.SCRIPT[step][0]), step)
    return verdict.problem or "ok"


def check_still_private(cluster: Cluster) -> None:
    """Raise if the running scale-out is no longer the one on the private stores (someone ran
    ``scale.py up`` meanwhile without holding the lock: supervisord applied their
    configuration and restarted every server on the shared stores)."""
    endpoints = (scale.STATE / "endpoints-1.yml").read_text(encoding="utf-8")
    if f"port: {cluster.postgres.port}\n" not in endpoints:
        raise RuntimeError(
            "the scale-out was replaced during the run (another `scale.py up` without "
            "flock /tmp/dy-cluster.lock?): the figures would be meaningless"
        )


def kill_program(cluster: Cluster, program: str) -> float:
    pid = program_pid(program)
    if not pid:
        raise RuntimeError(f"{program} is not running")
    os.kill(pid, signal.SIGKILL)
    return wait_program_back(cluster.topology, program, pid)


def kill_action_server(cluster: Cluster) -> Over:
    """kill -9 action server 1. A probe conversation on Rasa server 1 (which calls it)
    takes a turn before; right after the kill it sends the next message, again every 0.2 s
    while it hears the apology; once the server is back, the message after that."""
    rasa = f"http://127.0.0.1:{cluster.topology.ports('rasa')[0]}"
    sender = f"faults-probe-{uuid.uuid4().hex[:10]}"
    heard = [probe_turn(rasa, sender, 0)]
    pid = program_pid("actions-1")
    os.kill(pid, signal.SIGKILL)
    while len(heard) < MAX_ATTEMPTS:
        heard.append(probe_turn(rasa, sender, 1))
        if heard[-1] not in RETRIED:
            break
        time.sleep(0.2)
    back = wait_program_back(cluster.topology, "actions-1", pid)
    heard.append(probe_turn(rasa, sender, 2))
    return Over(back, tuple(heard))


def kill_rasa_server(cluster: Cluster) -> Over:
    return Over(kill_program(cluster, "rasa-1"))


def restart_postgres(cluster: Cluster, down_seconds: float) -> Over:
    cluster.postgres.restart("fast", down_seconds)
    return Over(time.monotonic())


def stop_redis(cluster: Cluster, down_seconds: float) -> Over:
    cluster.redis.stop()
    time.sleep(down_seconds)
    cluster.redis.start()  # the same port and folder
    return Over(time.monotonic())


Inject = Callable[[Cluster], Over]


def fault_plan(postgres_down: float, redis_down: float) -> list[tuple[str, Inject]]:
    """The faults in order, each a function that injects it and returns when it is over."""
    return [
        (KILL_ACTIONS, kill_action_server),
        (KILL_RASA, kill_rasa_server),
        (RESTART_POSTGRES, lambda cluster: restart_postgres(cluster, postgres_down)),
        (STOP_REDIS, lambda cluster: stop_redis(cluster, redis_down)),
    ]


@dataclass(frozen=True)
class Fault:
    name: str
    started: float
    back: float
    restarted: tuple[str, ...]  # programs supervisor restarted (their pid changed)
    probe: tuple[str, ...] = ()


def inject(cluster: Cluster, name: str, action: Inject) -> Fault:
    """Inject one fault once every server is ready and in nginx; wait until it is over and
    they all are again."""
    wait_settled(cluster.topology)
    before = program_pids()
    log(f"fault: {name}")
    started = time.monotonic()
    over = action(cluster)
    wait_settled(cluster.topology)
    check_still_private(cluster)
    after = program_pids()
    restarted = tuple(sorted(p for p, pid in before.items() if after.get(p) != pid))
    log(f"{name}: over after {over.back - started:.1f} s, restarted: {', '.join(restarted) or '-'}")
    return Fault(name, started, over.back, restarted, over.probe)


# --- what happened -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FaultRow:
    """The failed turns in one fault's window (from its start to the next fault's)."""

    name: str
    failed: dict[str, int]  # by kind (KINDS)
    users_hit: int
    slowest_s: float
    recovery_s: float
    back_s: float | None
    restarted: tuple[str, ...]
    succeeded_after: int  # turns that succeeded after the recovery moment
    spanning: int  # conversations with turns before the fault and after its start
    taken_twice: int
    probe: tuple[str, ...]  # the probe conversation straight to the faulty replica
    others: tuple[str, ...]  # what the failures of kind "other" were (HTTP 502, ...)
    details: tuple[str, ...]

    @property
    def failed_turns(self) -> int:
        return sum(self.failed.values())


@dataclass
class FaultsResult:
    users: int
    seconds: float
    rows: list[FaultRow]
    conversations: int
    finished: int
    turns: int
    errors: int
    taken_twice: int
    gave_up: list[str]
    out_of_order: list[str]
    resets: list[str]
    lost: list[str]
    duplicates: list[str]
    outbox_left: int
    users_stopped: bool

    def row(self, name: str) -> FaultRow:
        return next(row for row in self.rows if row.name == name)

    @property
    def ok(self) -> bool:
        """Nothing lost, duplicated, reset or out of order, and no user gave up."""
        return self.users_stopped and not (
            self.gave_up
            or self.out_of_order
            or self.resets
            or self.lost
            or self.duplicates
            or self.outbox_left
        )

    def table(self) -> str:
        head = (
            f"{'fault':<30} {'failed':>6} {'503':>5} {'apology':>7} {'wrong':>5} {'conn':>5} "
            f"{'other':>5} {'twice':>5} {'users':>5} {'slowest s':>9} {'recovery s':>10} "
            f"{'back s':>6}  restarted"
        )
        lines = [head, "-" * len(head)]
        for row in self.rows:
            back = f"{row.back_s:.1f}" if row.back_s is not None else "-"
            lines.append(
                f"{row.name:<30} {row.failed_turns:>6} {row.failed['503']:>5} "
                f"{row.failed['apology']:>7} {row.failed['wrong reply']:>5} "
                f"{row.failed['connection error']:>5} {row.failed['other']:>5} "
                f"{row.taken_twice:>5} {row.users_hit:>5} {row.slowest_s:>9.1f} "
                f"{row.recovery_s:>10.1f} {back:>6}  {', '.join(row.restarted) or '-'}"
            )
            lines += [f"    {detail}" for detail in row.details]
            if row.probe:
                lines.append(
                    "    a conversation straight to rasa-1 (a turn before, turns during, one "
                    "after): " + " / ".join(row.probe)
                )
        lines += [
            "",
            f"users {self.users}, {self.seconds:.0f} s, conversations {self.conversations} "
            f"({self.finished} finished), turns {self.turns}, errors {self.errors}, "
            f"gave up {len(self.gave_up)}, lost {len(self.lost)}, duplicates "
            f"{len(self.duplicates)}, reset {len(self.resets)}, out of order "
            f"{len(self.out_of_order)}, taken twice {self.taken_twice}, outbox left "
            f"{self.outbox_left}",
            RECOVERY_DEFINITION,
        ]
        for label, senders in (
            ("gave up", self.gave_up),
            ("lost", self.lost),
            ("duplicated", self.duplicates),
            ("reset", self.resets),
            ("out of order", self.out_of_order),
        ):
            if senders:
                lines.append(f"{label}: {', '.join(senders[:5])}")
        return "\n".join(lines)


def fault_rows(faults: list[Fault], attempts: list[Attempt]) -> list[FaultRow]:
    """One row per fault (and one before the first), each turn counted in the window in
    which it ended."""
    windows = [Fault(BEFORE, 0.0, 0.0, ()), *faults]
    rows = []
    for i, fault in enumerate(windows):
        until = windows[i + 1].started if i + 1 < len(windows) else float("inf")
        rows.append(window_row(fault, [a for a in attempts if fault.started <= a.ended < until]))
        if i:  # conversations under way when the fault began
            before = {a.sender for a in attempts if a.ended < fault.started}
            after = {a.sender for a in attempts if a.started >= fault.started}
            rows[-1] = replace(rows[-1], spanning=len(before & after))
    return rows


def window_row(fault: Fault, inside: list[Attempt]) -> FaultRow:
    failed = [a for a in inside if a.problem in KINDS]
    recovered = max((a.ended for a in failed), default=fault.started)
    found = Counter((a.problem, a.detail) for a in failed if a.detail).most_common(3)
    details = [f"{kind}: {detail} ({count}x)" for (kind, detail), count in found]
    slowest = max(inside, key=lambda a: a.ended - a.started, default=None)
    if slowest is not None and slowest.ended - slowest.started > SLOW_TURN_SECONDS:
        details.append(
            f"slowest turn: step {slowest.step + 1}, sent {slowest.started - fault.started:+.1f} "
            f"s from the fault's start, {slowest.problem or 'answered as expected'}"
        )
    return FaultRow(
        name=fault.name,
        failed={kind: sum(a.problem == kind for a in failed) for kind in KINDS},
        users_hit=len({a.user for a in failed}),
        slowest_s=max((a.ended - a.started for a in inside), default=0.0),
        recovery_s=recovered - fault.started if failed and fault.name != BEFORE else 0.0,
        back_s=fault.back - fault.started if fault.name != BEFORE else None,
        restarted=fault.restarted,
        succeeded_after=sum(a.problem is None and a.started > recovered for a in inside),
        spanning=0,
        taken_twice=sum(a.problem == TAKEN_TWICE for a in inside),
        probe=fault.probe,
        others=tuple(sorted({a.detail for a in failed if a.problem == "other"})),
        details=tuple(details),
    )


def collapse(texts: list[str]) -> list[str]:
    """``texts`` with each run of the same text once (a retried message)."""
    return [t for i, t in enumerate(texts) if i == 0 or texts[i - 1] != t]


def step_index(text: str) -> int | None:
    """Which step of :data:`load.SCRIPT` a bot message shows (None: none)."""
    return next((i for i, (_, shown) in enumerate(load.SCRIPT) if shown in text), None)


def tracker_problem(events: list[dict[str, Any]], conversation: Conversation) -> str | None:
    """``reset`` (a step shown again after a later one, a second session or a restart),
    ``out of order`` (the stored messages are not the ones sent, in order), or None."""
    shown = [step_index(e.get("text") or "") for e in events if e.get("event") == "bot"]
    steps = [s for s in shown if s is not None]
    sessions = sum(e.get("event") == "session_started" for e in events)
    restarts = sum(e.get("event") == "restart" for e in events)
    if any(b < a for a, b in zip(steps, steps[1:], strict=False)) or sessions > 1 or restarts:
        return "reset"
    stored = collapse([e.get("text") or "" for e in events if e.get("event") == "user"])
    sent = collapse(conversation.sent)
    # the last message of a conversation given up may never have been taken
    if stored != sent and not (conversation.gave_up and stored == sent[:-1]):
        return "out of order"
    return None


def admin_headers(keys: dict[str, str]) -> dict[str, str]:
    return scale.admin_headers(keys, "faults")


def tracker_events(cluster: Cluster, sender: str, replica: int = 0) -> list[dict[str, Any]]:
    """The stored conversation (every event) through Rasa server ``replica``'s HTTP API."""
    port = cluster.topology.ports("rasa")[replica % cluster.topology.replicas]
    answer = requests.get(
        f"http://127.0.0.1:{port}/conversations/{sender}/tracker",
        params={"include_events": "ALL"},
        headers=admin_headers(cluster.keys),
        timeout=60,
    )
    answer.raise_for_status()
    events: list[dict[str, Any]] = answer.json()["events"]
    return events


def check_trackers(
    cluster: Cluster, conversations: list[Conversation]
) -> tuple[list[str], list[str]]:
    """The senders whose stored conversation was reset, and those out of order."""

    def problem(n: int) -> str | None:
        return tracker_problem(
            tracker_events(cluster, conversations[n].sender, n), conversations[n]
        )

    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        found = list(pool.map(problem, range(len(conversations))))
    pairs = list(zip((c.sender for c in conversations), found, strict=True))
    return (
        [sender for sender, p in pairs if p == "reset"],
        [sender for sender, p in pairs if p == "out of order"],
    )


def ticket_counts(cluster: Cluster, senders: list[str]) -> dict[str, int]:
    """How many tickets each sender has in the ticket database."""
    connection = psycopg2.connect(cluster.topology.postgres("tickets"))
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT sender_id, count(*) FROM tickets WHERE sender_id = ANY(%s) "
                "GROUP BY sender_id",
                (senders,),
            )
            return {str(sender): int(count) for sender, count in cursor.fetchall()}
    finally:
        connection.close()


def outbox_waiting(folder: Path) -> int:
    """Tickets kept in the outbox and not yet written (waiting, claimed or set aside)."""
    if not folder.is_dir():
        return 0
    return sum(".json" in path.name and ".tmp-" not in path.name for path in folder.iterdir())


def wait_outbox_drained(folder: Path) -> int:
    deadline = time.monotonic() + OUTBOX_DRAIN_SECONDS
    while (left := outbox_waiting(folder)) and time.monotonic() < deadline:
        time.sleep(1)
    return left


# --- the run -------------------------------------------------------------------------------------


def run_faults(
    cluster: Cluster,
    users: int = 50,
    *,
    warmup: float = 10,
    quiet: float = 20,
    postgres_down: float = 3,
    redis_down: float = 5,
    drain_limit: float = 240,
) -> FaultsResult:
    """``users`` users on the running ``cluster`` through nginx; after ``warmup`` seconds the
    faults of :func:`fault_plan`, each followed by ``quiet`` seconds once every server is back;
    then the users finish their conversations and everything they did is checked."""
    crowd = Users(cluster.topology.entry, users, prefix=f"faults-{uuid.uuid4().hex[:6]}")
    log(f"{users} users through {cluster.topology.entry}")
    began = time.monotonic()
    crowd.start()
    faults: list[Fault] = []
    try:
        time.sleep(warmup)
        for name, action in fault_plan(postgres_down, redis_down):
            faults.append(inject(cluster, name, action))
            time.sleep(quiet)
    finally:
        stopped = crowd.stop(drain_limit)
    seconds = time.monotonic() - began
    check_still_private(cluster)
    log("the users have stopped; checking trackers and tickets")
    outbox_left = wait_outbox_drained(cluster.outbox)
    return summarise(cluster, crowd, faults, seconds, stopped, outbox_left)


def summarise(
    cluster: Cluster,
    crowd: Users,
    faults: list[Fault],
    seconds: float,
    stopped: bool,
    outbox_left: int,
) -> FaultsResult:
    conversations = list(crowd.conversations)
    attempts = list(crowd.attempts)
    resets, out_of_order = check_trackers(cluster, conversations)
    tickets = ticket_counts(cluster, [c.sender for c in conversations])
    return FaultsResult(
        users=crowd.count,
        seconds=seconds,
        rows=fault_rows(faults, attempts),
        conversations=len(conversations),
        finished=sum(c.finished for c in conversations),
        turns=len(attempts),
        errors=sum(a.problem in KINDS for a in attempts),
        taken_twice=sum(a.problem == TAKEN_TWICE for a in attempts),
        gave_up=[c.sender for c in conversations if c.gave_up],
        out_of_order=out_of_order,
        resets=resets,
        lost=[c.sender for c in conversations if c.finished and not tickets.get(c.sender)],
        duplicates=[sender for sender, count in tickets.items() if count > 1],
        outbox_left=outbox_left,
        users_stopped=stopped,
    )


def run(
    users: int = 50,
    *,
    warmup: float = 10,
    quiet: float = 20,
    postgres_down: float = 3,
    redis_down: float = 5,
    restore: bool = True,
) -> FaultsResult:
    """The whole measurement: private stores, the scale-out on them, the load with faults,
    the checks; everything stopped again (a scale-out running before is restored)."""
    with private_scale_out(restore=restore) as cluster:
        return run_faults(
            cluster,
            users,
            warmup=warmup,
            quiet=quiet,
            postgres_down=postgres_down,
            redis_down=redis_down,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--warmup", type=float, default=10, help="seconds before the first fault")
    parser.add_argument("--quiet", type=float, default=20, help="seconds between faults")
    parser.add_argument("--postgres-down", type=float, default=3, help="seconds PostgreSQL is down")
    parser.add_argument("--redis-down", type=float, default=5, help="seconds Redis is down")
    parser.add_argument(
        "--no-restore", action="store_true", help="leave a scale-out that was running stopped"
    )
    args = parser.parse_args(argv)
    result = run(
        args.users,
        warmup=args.warmup,
        quiet=args.quiet,
        postgres_down=args.postgres_down,
        redis_down=args.redis_down,
        restore=not args.no_restore,
    )
    print(result.table())
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
