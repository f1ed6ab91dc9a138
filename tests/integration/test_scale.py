"""The scale-out on this machine (make scale-up, deploy/topology.yml) under load and faults:
nginx on the entry port, two Rasa servers, two action servers and two web servers on
PostgreSQL and Redis, under supervisor. Started by the test if it is not running (and
stopped again afterwards).
"""

from __future__ import annotations

import concurrent.futures
import queue
import subprocess
import time
import uuid
from collections.abc import Callable

import psycopg2
import pytest
import requests
import socketio
import yaml

from actions import call_log
from playbook.domain import domain_texts
from playbook.registry import PlaybookRegistry
from scripts import load, scale
from tests.factories import csrf_of, texts
from tests.integration.conftest import scale_command

pytestmark = pytest.mark.integration

TOPOLOGY = scale.Topology.load()
ENTRY = TOPOLOGY.entry
RASA = [f"http://127.0.0.1:{port}" for port in TOPOLOGY.ports("rasa")]
ACTIONS = [f"http://127.0.0.1:{port}" for port in TOPOLOGY.ports("actions")]
PLAYBOOKS = PlaybookRegistry()
APOLOGY = domain_texts().text("utter_action_failed")


def step_text(step: str) -> str:
    return PLAYBOOKS.get("network").step(step).message


def say(sender: str, message: str, base: str = ENTRY) -> requests.Response:
    return requests.post(
        f"{base}/webhooks/rest/webhook", json={"sender": sender, "message": message}, timeout=90
    )


def admin_headers(keys: dict[str, str]) -> dict[str, str]:
    return scale.admin_headers(keys, "test")


def tracker_events(keys: dict[str, str], sender: str) -> list[dict]:
    answer = requests.get(
        f"{RASA[0]}/conversations/{sender}/tracker", headers=admin_headers(keys), timeout=30
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["events"]


def new_sender(prefix: str = "scale") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def test_only_the_public_paths_are_reachable_through_nginx(cluster):
    for path in (
        "/status",
        "/version",
        "/model/parse",
        "/conversations/x/tracker",
        "/webhooks/ready/",
        "/ready",
        "/domain",
    ):
        assert requests.get(f"{ENTRY}{path}", timeout=10).status_code == 404, path
    assert requests.get(f"{ENTRY}/config.js", timeout=10).status_code == 200
    assert requests.get(f"{ENTRY}/console/login", timeout=10).status_code == 200
    assert requests.get(f"{ENTRY}/webhooks/rest/", timeout=10).status_code == 200
    foreign = requests.get(
        f"{ENTRY}/socket.io/?EIO=4&transport=polling",
        headers={"Origin": "http://evil.example"},
        timeout=10,
    )
    assert foreign.status_code == 403
    # inside: the HTTP API wants a JWT, the action servers their shared secret
    assert requests.get(f"{RASA[0]}/conversations/x/tracker", timeout=10).status_code == 401
    assert requests.post(f"{ACTIONS[0]}/webhook", json={}, timeout=10).status_code == 401


def test_a_conversation_through_nginx_ends_in_exactly_one_ticket(cluster):
    sender = new_sender()
    assert step_text("check_network") in texts(say(sender, "网络老是掉线").json())
    assert step_text("restart_device") in texts(say(sender, "还是不行").json())
    assert step_text("contact_isp") in texts(say(sender, "没用").json())
    final = say(sender, "/deny")
    assert final.status_code == 200
    tickets = psycopg2.connect(TOPOLOGY.postgres("tickets"))
    with tickets.cursor() as cursor:
        cursor.execute("SELECT number, priority FROM tickets WHERE sender_id = %s", (sender,))
        rows = cursor.fetchall()
    tickets.close()
    assert len(rows) == 1 and rows[0][1] == "general"
    assert rows[0][0] in texts(final.json())


def test_fifty_users_at_once_through_nginx_lose_nothing(cluster):
    """50 simulated users, each a whole troubleshooting conversation to a ticket: no error,
    every conversation complete and in order in PostgreSQL, one ticket per escalation."""
    result = load.run_load(ENTRY, 50, prefix="fifty")
    print(f"through nginx: {result.summary()}")
    assert result.errors == [], result.errors[:5]
    assert result.turns == 50 * len(load.SCRIPT)

    def events(sender: str) -> list[dict]:
        return tracker_events(cluster, sender)

    assert load.incomplete_conversations(result.senders, events) == []
    tickets = psycopg2.connect(TOPOLOGY.postgres("tickets"))
    with tickets.cursor() as cursor:
        cursor.execute(
            "SELECT sender_id, count(*) FROM tickets WHERE sender_id = ANY(%s) GROUP BY sender_id",
            (result.senders,),
        )
        per_sender = dict(cursor.fetchall())
    tickets.close()
    assert per_sender == {sender: 1 for sender in result.senders}


def test_twenty_parallel_messages_on_both_replicas_are_taken_one_at_a_time(cluster):
    """One conversation, 20 messages at once, alternating between the two Rasa servers: the
    lock lets one turn in at a time, so the action servers (both of them, through either Rasa
    server) never run two calls of it at once, and each turn's events are whole and in order."""
    sender = new_sender("race")
    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda n: say(sender, "网络老是掉线", base=RASA[n % 2]), range(20)))
    assert [a.status_code for a in answers] == [200] * 20
    assert all(texts(a.json()) and APOLOGY not in texts(a.json()) for a in answers)
    calls = [c for c in call_log.read_calls(scale.action_call_logs()) if c.sender == sender]
    assert len(calls) >= 20, calls  # every turn ran at least one of our actions
    assert call_log.overlaps(calls) == []
    assert len({c.pid for c in calls}) >= 2  # both action servers took part
    events = tracker_events(cluster, sender)
    users = [i for i, e in enumerate(events) if e["event"] == "user"]
    assert len(users) == 20
    # every turn ends listening before the next user message is taken
    for start, end in zip(users, users[1:] + [len(events)], strict=True):
        turn = events[start:end]
        actions = [e.get("name") for e in turn if e["event"] == "action"]
        assert actions and actions[-1] == "action_listen", actions
    stamps = [events[i]["timestamp"] for i in users]
    assert stamps == sorted(stamps)


def supervisor_pid(program: str) -> int:
    return int(scale.supervisorctl("pid", program).stdout.strip())


def test_a_killed_rasa_server_costs_no_turn_and_comes_back(cluster):
    sender = new_sender("kill")
    assert step_text("check_network") in texts(say(sender, "网络老是掉线").json())
    pid = supervisor_pid("rasa-1")
    subprocess.run(["kill", "-9", str(pid)], check=True)
    killed = time.monotonic()
    # the conversation continues at the same step on the other replica
    answer = say(sender, "还是不行")
    assert answer.status_code == 200 and step_text("restart_device") in texts(answer.json())
    assert step_text("contact_isp") in texts(say(sender, "没用").json())
    # supervisor restarts it; it is ready again (and nginx sends to it again)
    deadline = time.monotonic() + 240
    while not scale.readiness(TOPOLOGY)["rasa-1"]:
        assert time.monotonic() < deadline, "rasa-1 did not come back"
        time.sleep(1)
    print(f"rasa-1 ready again {time.monotonic() - killed:.0f} s after kill -9")
    assert supervisor_pid("rasa-1") != pid


def test_a_staff_reply_reaches_the_user_on_whichever_replica_holds_the_socket(cluster):
    """The widget's socket is on one Rasa server (nginx picks it); a staff reply pushed
    through each server's own HTTP API reaches it within a second (socket.io over Redis)."""
    client = socketio.Client(reconnection=False)
    received: queue.Queue[dict] = queue.Queue()
    confirmed: queue.Queue[str] = queue.Queue()
    issued = requests.post(f"{ENTRY}/api/session", timeout=30).json()  # as the widget does
    session = issued["session_id"]
    client.on("session_confirm", confirmed.put)
    client.on("bot_uttered", received.put)
    client.connect(ENTRY, transports=["websocket"], socketio_path="/socket.io")
    try:
        client.emit("session_request", issued)
        assert confirmed.get(timeout=10) == session
        client.emit("user_uttered", {"message": "你好", **issued})
        received.get(timeout=60)
        time.sleep(1)  # the rest of the greeting
        while not received.empty():
            received.get_nowait()
        delays = []
        for n, rasa in enumerate(RASA):
            text = f"您好，这是客服第 {n + 1} 条回复"
            sent = time.monotonic()
            answer = requests.post(
                f"{rasa}/conversations/{session}/trigger_intent",
                params={"output_channel": "latest"},
                json={"name": "EXTERNAL_staff_message", "entities": {"staff_message": text}},
                headers=admin_headers(cluster),
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
            while text not in (received.get(timeout=5).get("text") or ""):
                pass
            delays.append(time.monotonic() - sent)
    finally:
        client.disconnect()
    print("staff reply delivered after", [f"{d:.2f} s" for d in delays])
    assert all(d < 1.0 for d in delays), delays


def under_load(change: Callable[[], subprocess.CompletedProcess[str]]) -> tuple[int, list[str]]:
    """Four users talking through nginx while ``change`` runs (they finish the conversation
    they are in): the turns taken and the failed ones (not 200, or the apology)."""
    stop = time.monotonic() + 900
    failures: list[str] = []

    def user() -> int:
        turns = 0
        while time.monotonic() < stop:
            sender = new_sender("load")
            for message in ("网络老是掉线", "还是不行", "解决了"):
                answer = say(sender, message)
                turns += 1
                if answer.status_code != 200 or APOLOGY in texts(answer.json()):
                    failures.append(f"{answer.status_code} {answer.text[:200]}")
        return turns

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        running = [pool.submit(user) for _ in range(4)]
        changed = change()
        stop = time.monotonic()
        done = sum(f.result() for f in running)
    assert changed.returncode == 0, changed.stdout[-2000:] + changed.stderr[-2000:]
    return done, failures


def test_draining_a_replica_drops_no_turn(cluster):
    done, failures = under_load(lambda: scale_command("drain", "1"))
    assert failures == [], failures[:5]
    assert done > 10
    assert scale.readiness(TOPOLOGY)["rasa-1"]


def test_a_changed_configuration_is_applied_one_replica_at_a_time(cluster, tmp_path):
    """``make scale-up`` with a changed configuration (here the tracker store's pool size)
    restarts the changed servers replica by replica, each out of nginx until ready: no turn
    lost, and never both Rasa servers down at once."""
    changed = yaml.safe_load(scale.TOPOLOGY.read_text(encoding="utf-8"))
    changed["postgres"]["pool"]["size"] = int(changed["postgres"]["pool"]["size"]) - 1
    topology = tmp_path / "topology.yml"
    topology.write_text(yaml.safe_dump(changed, allow_unicode=True), encoding="utf-8")
    before = {name: supervisor_pid(name) for name in ("rasa-1", "rasa-2")}
    output: list[str] = []

    def update() -> subprocess.CompletedProcess[str]:
        done = scale_command("up", env={scale.TOPOLOGY_ENV: str(topology)})
        output.append(done.stdout)
        return done

    done, failures = under_load(update)
    assert failures == [], failures[:5]
    assert done > 10
    assert all(supervisor_pid(name) != pid for name, pid in before.items())  # restarted
    log = output[0]
    first, second = log.index("replica 1 taken out"), log.index("replica 2 taken out")
    assert first < log.index("replica 1 is back") < second < log.index("replica 2 is back")


def test_no_log_of_any_process_holds_a_phone_number_email_or_password(cluster):
    """A conversation with a password, a phone number and an e-mail through nginx, the
    contact step, and a console login with a wrong password: none of them in any log of the
    scale-out (nginx, both Rasa, action and web servers, supervisor, the watcher)."""
    phone, email, password = "13955667788", "wang.fang.private@example.com", "Hidden!pw42"
    logs = sorted((scale.STATE / "logs").glob("*"))
    before = {path: path.stat().st_size for path in logs}
    sender = new_sender("pii")
    say(sender, f"登录不上，我的密码是 {password}")
    say(sender, "转人工")
    say(sender, f"手机 {phone}，邮箱 {email}")
    say(sender, f'/provide_contact{{"phone": "{phone}", "email": "{email}"}}')
    console = requests.Session()
    form = console.get(f"{ENTRY}/console/login", timeout=30).text
    refused = console.post(
        f"{ENTRY}/console/login",
        data={"username": email, "password": password, "csrf": csrf_of(form)},
        allow_redirects=False,
        timeout=30,
    )
    assert refused.status_code != 302  # no such person: not logged in
    time.sleep(2)  # the servers' buffered log lines reach their files
    tickets = psycopg2.connect(TOPOLOGY.postgres("tickets"))
    with tickets.cursor() as cursor:
        cursor.execute("SELECT contact_phone FROM tickets WHERE sender_id = %s", (sender,))
        assert cursor.fetchall() == [(phone,)]  # it went where it belongs
    tickets.close()
    written = ""
    for path in sorted((scale.STATE / "logs").glob("*")):
        with path.open("rb") as handle:
            handle.seek(before.get(path, 0))
            written += handle.read().decode("utf-8", errors="replace")
    assert sender in written or "ticket DY-" in written  # the logs are being written
    for secret in (phone, email, password):
        assert secret not in written, secret
