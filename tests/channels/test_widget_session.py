"""Widget sessions: only what the web server issued, under its secret and within its lifetime,
verifies; anything else a client sends is False, never an error."""

from __future__ import annotations

import secrets
import time

import pytest

from channels.widget_session import (
    LIFETIME_SECONDS,
    SECRET_ENV,
    SessionSecretMissing,
    WidgetSessions,
    is_session_id,
)

SESSIONS = WidgetSessions("unit-test-session-secret")


def test_an_issued_session_verifies():
    issued = SESSIONS.issue()
    assert is_session_id(issued.session_id)
    assert SESSIONS.verify(issued.session_id, issued.token)
    assert SESSIONS.issue().session_id != issued.session_id  # random, never a shared id


def test_a_made_up_id_has_no_token():
    made_up = secrets.token_hex(16)
    assert not SESSIONS.verify(made_up, None)
    assert not SESSIONS.verify(made_up, "")
    assert not SESSIONS.verify(made_up, SESSIONS.issue().token)  # another session's token


def test_a_forged_token_is_refused():
    issued = SESSIONS.issue()
    stamp, signature = issued.token.split(".")
    flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
    for forged in (
        f"{stamp}.{flipped}",
        f"{stamp}.{'0' * 64}",
        f"{int(stamp) + 1}.{signature}",  # another issue time with the same signature
        signature,
        f"{stamp}.",
        f".{signature}",
    ):
        assert not SESSIONS.verify(issued.session_id, forged), forged


def test_a_truncated_or_padded_token_is_refused():
    issued = SESSIONS.issue()
    for cut in (1, 2, 32, 63):
        assert not SESSIONS.verify(issued.session_id, issued.token[:-cut])
    for padded in (issued.token + "0", issued.token + "\n", " " + issued.token):
        assert not SESSIONS.verify(issued.session_id, padded)


def test_a_token_of_another_secret_is_refused():
    other = WidgetSessions("another-session-secret")
    issued = other.issue()
    assert other.verify(issued.session_id, issued.token)
    assert not SESSIONS.verify(issued.session_id, issued.token)


def test_the_token_belongs_to_its_id_only():
    issued = SESSIONS.issue()
    neighbour = issued.session_id[:-1] + ("0" if issued.session_id[-1] != "0" else "1")
    assert not SESSIONS.verify(neighbour, issued.token)


@pytest.mark.parametrize(
    "session_id",
    [
        "default",
        "g" * 32,
        "A" * 32,
        "0" * 31,
        "0" * 33,
        "0" * 32 + "\n",
        "../../" + "0" * 26,
        "",
        None,
        12345,
        ["0" * 32],
        {"id": "0" * 32},
    ],
    ids=repr,
)
def test_ids_that_are_not_32_lowercase_hex_are_refused(session_id):
    assert not is_session_id(session_id)
    assert not SESSIONS.verify(session_id, SESSIONS.token_for("0" * 32, int(time.time())))


@pytest.mark.parametrize(
    "token",
    [
        "x" * 100_000,
        "1" * 10_000 + "." + "0" * 64,
        "9" * 13 + "." + "0" * 64,
        "1700000000." + "G" * 64,
        "1700000000." + "ａ" * 64,  # full-width letters
        "١٧٠٠٠٠٠٠٠٠." + "0" * 64,  # Arabic-Indic digits
        12345,
        b"1700000000." + b"0" * 64,
        ["1700000000", "0" * 64],
        {"token": "x"},
    ],
    ids=lambda t: repr(t)[:40],
)
def test_huge_or_foreign_tokens_are_refused(token):
    assert not SESSIONS.verify("0" * 32, token)


def test_tokens_expire_after_the_lifetime():
    issued = SESSIONS.issue(now=1_000_000)
    assert SESSIONS.verify(issued.session_id, issued.token, now=1_000_000 + LIFETIME_SECONDS)
    assert not SESSIONS.verify(issued.session_id, issued.token, now=1_000_001 + LIFETIME_SECONDS)
    assert LIFETIME_SECONDS == 30 * 24 * 3600


def test_tokens_from_the_future_are_refused_beyond_a_small_clock_skew():
    now = time.time()
    soon = SESSIONS.issue(now=now + 60)  # another server's clock a minute ahead
    assert SESSIONS.verify(soon.session_id, soon.token, now=now)
    later = SESSIONS.issue(now=now + 3600)
    assert not SESSIONS.verify(later.session_id, later.token, now=now)


def test_without_a_secret_the_process_cannot_start():
    with pytest.raises(SessionSecretMissing, match=SECRET_ENV):
        WidgetSessions.from_environment({})
    with pytest.raises(SessionSecretMissing, match=SECRET_ENV):
        WidgetSessions.from_environment({SECRET_ENV: "   "})
    with pytest.raises(SessionSecretMissing, match="at least 16"):
        WidgetSessions.from_environment({SECRET_ENV: "short"})
    sessions = WidgetSessions.from_environment({SECRET_ENV: "unit-test-session-secret"})
    issued = sessions.issue()
    assert SESSIONS.verify(issued.session_id, issued.token)  # the same secret, the same tokens


def test_the_socket_io_channel_refuses_to_start_without_the_secret(monkeypatch):
    from channels.socketio import DySocketIOInput

    async def on_new_message(_message: object) -> None:
        return None

    channel = DySocketIOInput.from_credentials({"session_persistence": True})
    monkeypatch.delenv(SECRET_ENV, raising=False)
    with pytest.raises(SessionSecretMissing, match=SECRET_ENV):
        channel.blueprint(on_new_message)


def test_the_socket_io_channel_checks_sessions_before_rasas_handlers(monkeypatch):
    """Rasa's own session_request and user message handlers sit behind the session check
    (python-socketio's handler table, as the pinned version keeps it)."""
    from channels.socketio import DySocketIOInput

    async def on_new_message(_message: object) -> None:
        return None

    monkeypatch.setenv(SECRET_ENV, "unit-test-session-secret")
    monkeypatch.delenv("SOCKETIO_REDIS_URL", raising=False)
    channel = DySocketIOInput.from_credentials({"session_persistence": True})
    channel.blueprint(on_new_message)
    handlers = channel.sio.handlers["/"]
    for event in ("session_request", "user_uttered"):
        assert handlers[event].__module__ == "channels.socketio", event
