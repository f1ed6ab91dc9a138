"""Simulated users: each one a whole troubleshooting conversation over the REST channel, from
the problem report to a ticket, many at once. Used by the scale-out test (tests/integration/
test_scale.py) and ``make bench`` (scripts/bench.py); runnable by hand:

  python scripts/load.py --url http://127.0.0.1:8080 --users 50

Reports users, turns, errors (a status other than 200, the apology, or a reply without the
step it should show), p50 / p95 latency and turns per second; with ``--check`` (and the
scale-out's secrets) also whether every conversation is complete and in order in the tracker
store and made exactly one ticket.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

from playbook.domain import domain_texts
from playbook.registry import PlaybookRegistry

_NETWORK = PlaybookRegistry().get("network")
assert _NETWORK is not None, "the network playbook is missing"
#: (message, a text the reply must contain): the network playbook walked to its ticket.
SCRIPT: list[tuple[str, str]] = [
    ("网络老是掉线", _NETWORK.steps["check_network"].message),
    ("还是不行", _NETWORK.steps["restart_device"].message),
    ("没用", _NETWORK.steps["contact_isp"].message),
    ("/deny", _NETWORK.escalation.message),
]
APOLOGY = domain_texts().text("utter_action_failed") or ""


def said_text(messages: object) -> str:
    """The texts of a REST channel answer (a JSON list of messages), one per line."""
    if not isinstance(messages, list):
        return ""
    return "\n".join(str(m.get("text") or "") for m in messages if isinstance(m, dict))


def reply_problem(status: int, said: str, expected: str) -> str | None:
    """What is wrong with one turn's answer, ``None`` when it is the reply ``expected``: the
    status when it is not 200, ``apology`` (the domain's utter_action_failed) or
    ``wrong reply`` (the step it should show is missing)."""
    if status != 200:
        return f"{status}"
    if APOLOGY in said:
        return "apology"
    if expected not in said:
        return "wrong reply"
    return None


@dataclass
class LoadResult:
    users: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    senders: list[str] = field(default_factory=list)

    @property
    def turns(self) -> int:
        return len(self.latencies_ms)

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]

    @property
    def turns_per_second(self) -> float:
        return self.turns / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        return (
            f"{self.users} users, {self.turns} turns, {len(self.errors)} errors, "
            f"p50 {self.percentile(0.5):.0f} ms, p95 {self.percentile(0.95):.0f} ms, "
            f"{self.turns_per_second:.1f} turns/s"
        )


def run_load(
    url: str,
    users: int,
    *,
    conversations_each: int = 1,
    prefix: str = "load",
    timeout: float = 120,
) -> LoadResult:
    """``users`` simulated users at once, each walking :data:`SCRIPT` ``conversations_each``
    times against the REST channel at ``url``."""
    result = LoadResult(users=users, seconds=0.0)
    guard = threading.Lock()
    start = threading.Barrier(users)

    def user(n: int) -> None:
        session = requests.Session()
        start.wait()
        for _ in range(conversations_each):
            sender = f"{prefix}-{n}-{uuid.uuid4().hex[:10]}"
            with guard:
                result.senders.append(sender)
            for message, expected in SCRIPT:
                began = time.perf_counter()
                try:
                    answer = session.post(
                        f"{url}/webhooks/rest/webhook",
                        json={"sender": sender, "message": message},
                        timeout=timeout,
                    )
                    said = said_text(answer.json())
                    problem = reply_problem(answer.status_code, said, expected)
                except (requests.RequestException, ValueError) as exc:
                    problem = type(exc).__name__
                elapsed = (time.perf_counter() - began) * 1000
                with guard:
                    result.latencies_ms.append(elapsed)
                    if problem:
                        result.errors.append(f"{sender} {message}: {problem}")
                if problem:
                    break

    began = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=users) as pool:
        list(pool.map(user, range(users)))
    result.seconds = time.perf_counter() - began
    return result


def incomplete_conversations(
    senders: list[str], events_of: Callable[[str], list[dict[str, Any]]]
) -> list[str]:
    """Senders whose stored conversation is not every message of :data:`SCRIPT`, in order,
    each turn ending before the next one starts (``events_of``: the tracker's events)."""
    wrong = []
    for sender in senders:
        events = events_of(sender)
        users = [i for i, e in enumerate(events) if e.get("event") == "user"]
        said = [events[i].get("text") for i in users]
        whole = all(
            [e.get("name") for e in events[a:b] if e.get("event") == "action"][-1:]
            == ["action_listen"]
            for a, b in zip(users, users[1:] + [len(events)], strict=True)
        )
        if said != [message for message, _ in SCRIPT] or not whole:
            wrong.append(sender)
    return wrong


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="simulated users over the REST channel")
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--conversations", type=int, default=1)
    args = parser.parse_args(argv)
    result = run_load(args.url, args.users, conversations_each=args.conversations)
    print(result.summary())
    for error in result.errors[:10]:
        print(f"  {error}")
    return 0 if not result.errors else 1


if __name__ == "__main__":
    sys.exit(main())
