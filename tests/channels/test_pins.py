"""Versions the channels depend on, guarded: python-socketio 5.10+ makes Rasa 3.6 lose
replies to persistent sessions (RasaHQ/rasa#13027), so it is pinned below 5.10."""

from __future__ import annotations

from importlib.metadata import version

from tests.factories import ROOT


def pinned(package: str) -> str:
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        name, _, pin = line.partition("==")
        if name.strip().lower() == package:
            return pin.strip()
    raise AssertionError(f"{package} is not pinned in constraints.txt")


def as_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:3])


def test_python_socketio_stays_below_5_10():
    assert as_tuple(pinned("python-socketio")) < (5, 10)
    assert version("python-socketio") == pinned("python-socketio")


def test_the_installed_rasa_is_the_pinned_one():
    assert version("rasa") == pinned("rasa") == "3.6.21"
