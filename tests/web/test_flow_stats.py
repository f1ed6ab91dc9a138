"""Flow statistics: real conversations (the real actions on Rasa's own trackers) saved in
Rasa's own SQL tracker store, then counted (and drawn); and where that store is found."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain

from playbook.registry import PlaybookRegistry
from tests.factories import ROOT
from tests.web.chats import Chat, talk
from tickets.policy import load_policy
from web import flow_diagram, flow_stats, trackerstore

LATER = 2 * 3600  # seconds after the conversations: every one of them is over


@pytest.fixture(scope="module")
def rasa_domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


@pytest.fixture()
def playbooks():
    return PlaybookRegistry(priorities=list(load_policy().levels)).all()


@pytest.fixture()
def tracker_db(tmp_path, rasa_domain):
    """Rasa's own SQL tracker store in a SQLite file; yields (store, url)."""
    path = tmp_path / "trackers.db"
    store = SQLTrackerStore(rasa_domain, dialect="sqlite", db=str(path))
    yield store, f"sqlite:///{path}"
    store.engine.dispose()


@pytest.fixture()
async def recorded(database_url, tracker_db, rasa_domain, domain):
    """Eight conversations through the real actions, saved in the tracker store."""
    store, url = tracker_db
    chats = [Chat(rasa_domain, domain) for _ in range(8)]
    exhausted, resolved, left, human, restated, login, search, expired = chats
    await talk(exhausted, "network_problem", "deny", "deny", "deny")  # a ticket at contact_isp
    await talk(resolved, "network_problem", "deny", "affirm")
    await talk(left, "network_problem")
    await talk(human, "network_problem", "request_human")
    # the same problem described again in the middle means "still not working"
    await talk(restated, "network_problem", "deny", "network_problem")
    # "忘记密码" while checking the credentials jumps to reset_password (not an answer)
    await talk(login, "login_problem", "forgot_password", "affirm")
    await search.say("feature_problem", "搜索用不了", [{"entity": "feature", "value": "搜索"}])
    await search.say("deny")
    await talk(expired, "data_loss")
    expired.new_session()  # back after the session expired: the open step was given up
    await talk(expired, "network_problem", "affirm")
    for chat in chats:
        await store.save(chat.tracker)
    return url


async def test_edges_escalations_and_gave_up_are_counted(recorded, playbooks):
    url = recorded
    stats = flow_stats.flow_stats(playbooks, url, now=time.time() + LATER)
    network = stats["network"]
    assert network.conversations == 6 and network.starts == {"network_problem": 6}
    check, restart, isp = (
        network.steps[s] for s in ("check_network", "restart_device", "contact_isp")
    )
    assert check.shown == 6 and check.answers == {"yes": 1, "no": 3, "human": 1}
    assert check.resolved == 1 and check.escalated == 1 and check.gave_up == 1
    # resolved: yes at restart_device; restated: the repeated problem counts as "no"
    assert restart.shown == 3 and restart.answers == {"yes": 1, "no": 2, "human": 0}
    assert isp.shown == 2 and isp.answers["no"] == 1 and isp.escalated == 1
    assert isp.gave_up == 1  # "restated" stopped at contact_isp
    assert (network.escalated, network.resolved, network.gave_up) == (2, 2, 2)

    login = stats["login"]
    assert login.conversations == 1
    assert login.steps["check_credentials"].shown == 1
    assert login.steps["check_credentials"].answers == {"yes": 0, "no": 0, "human": 0}
    assert login.steps["check_credentials"].gave_up == 0  # the user jumped, they did not leave
    assert login.steps["reset_password"].shown == 1 and login.steps["reset_password"].resolved == 1

    feature = stats["feature"]
    assert feature.branches == {("choose_guide", "search_guide"): 1}
    assert feature.steps["search_guide"].answers["no"] == 1
    assert feature.steps["check_device"].gave_up == 1

    data_loss = stats["data_loss"]
    assert data_loss.steps["check_local_storage"].gave_up == 1  # its session expired


async def test_a_conversation_still_going_is_not_given_up(recorded, playbooks):
    url = recorded
    stats = flow_stats.flow_stats(playbooks, url, now=time.time())
    network = stats["network"]
    assert network.gave_up == 0 and network.open_now == 2
    assert stats["data_loss"].gave_up == 1  # a new session started after it: that one is over


async def test_the_diagram_carries_the_counts(recorded, playbooks):
    url = recorded
    stats = flow_stats.flow_stats(playbooks, url, now=time.time() + LATER)
    network = next(p for p in playbooks if p.id == "network")
    source = flow_diagram.mermaid(network, stats["network"])
    assert source.startswith("flowchart TD\n")
    for step in network.steps.values():
        assert step.title in source and step.id in source
    assert '|"开始 · 6"|' in source and '|"还是不行 · 3"|' in source
    assert '|"解决了 · 1"|' in source and '-.->|"转人工 · 1"| human' in source
    assert '-.->|"离开 · 1"| gone' in source and 'gone(["用户离开"])' in source
    assert "展示 6 次" in source
    assert "优先级：一般 · 3-6 小时内响应" in source

    feature = next(p for p in playbooks if p.id == "feature")
    drawn = flow_diagram.mermaid(feature, stats["feature"])
    assert '|"搜索 · 1"|' in drawn and '|"播放 · 0"|' in drawn and '|"其他 · 0"|' in drawn
    assert "优先级：复杂 · 12-24 小时内响应" in drawn


async def test_answers_are_counted_as_the_step_read_them(
    database_url, tracker_db, rasa_domain, domain, playbooks
):
    """The judge's reading counts, not the intent: 「没找到」 taken for affirm by the NLU is a
    "no" (the playbook moved on), and an answer reached through the fallback counts too."""
    store, url = tracker_db
    misread, fallback = Chat(rasa_domain, domain), Chat(rasa_domain, domain)
    await misread.say("data_loss", "视频不见了")
    await misread.say("affirm", "没找到")
    await fallback.say("data_loss", "视频不见了")
    await fallback.say("nlu_fallback", "找到了，在草稿箱里")
    for chat in (misread, fallback):
        await store.save(chat.tracker)
    stats = flow_stats.flow_stats(playbooks, url, now=time.time() + LATER)
    check = stats["data_loss"].steps["check_local_storage"]
    assert check.answers == {"yes": 1, "no": 1, "human": 0}
    assert check.resolved == 1 and stats["data_loss"].steps["restore_backup"].shown == 1


def test_no_tracker_store_means_no_statistics(tmp_path, playbooks):
    missing = tmp_path / "none.db"
    assert flow_stats.flow_stats(playbooks, f"sqlite:///{missing}") == {}
    assert not missing.exists()  # never created by reading
    empty = tmp_path / "empty.db"
    import sqlite3

    sqlite3.connect(empty).close()
    assert flow_stats.flow_stats(playbooks, f"sqlite:///{empty}") == {}
    assert flow_stats.flow_stats(playbooks, None) == {}


def test_an_empty_tracker_store_counts_zero(tracker_db, playbooks):
    _store, url = tracker_db
    stats = flow_stats.flow_stats(playbooks, url)
    assert set(stats) == {p.id for p in playbooks}
    assert all(s.conversations == 0 and s.escalated == 0 for s in stats.values())


def test_the_tracker_store_is_found_like_rasa_finds_it(tmp_path, monkeypatch):
    monkeypatch.delenv("DY_TRACKER_DB_URL", raising=False)
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text(
        f'tracker_store:\n  type: SQL\n  dialect: "sqlite"\n  db: "{tmp_path / "trackers.db"}"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("DY_ENDPOINTS", str(endpoints))
    assert str(trackerstore.tracker_store_url()) == f"sqlite:///{tmp_path / 'trackers.db'}"

    monkeypatch.setenv("DB_PASSWORD", "s3cret")
    endpoints.write_text(
        "tracker_store:\n  type: sql\n  dialect: postgresql\n"
        "  url: 127.0.0.1\n  port: 5432\n  db: rasa\n  username: dy\n"
        "  password: ${DB_PASSWORD}\n  login_db: postgres\n",
        encoding="utf-8",
    )
    url = trackerstore.tracker_store_url()
    assert (url.drivername, url.host, url.port, url.database, url.username, url.password) == (
        "postgresql",
        "127.0.0.1",
        5432,
        "rasa",
        "dy",
        "s3cret",
    )

    endpoints.write_text(
        'action_endpoint:\n  url: "http://127.0.0.1:5055/webhook"\n', encoding="utf-8"
    )
    assert trackerstore.tracker_store_url() is None  # Rasa keeps conversations in memory

    monkeypatch.setenv("DY_TRACKER_DB_URL", "sqlite:////srv/dy/trackers.db")
    assert trackerstore.tracker_store_url() == "sqlite:////srv/dy/trackers.db"


def test_the_projects_own_endpoints_name_its_sqlite_store(monkeypatch):
    monkeypatch.delenv("DY_TRACKER_DB_URL", raising=False)
    monkeypatch.delenv("DY_ENDPOINTS", raising=False)
    url = trackerstore.tracker_store_url()
    assert url.drivername == "sqlite" and url.database == "var/trackers.db"


def test_idle_time_is_the_sessions_expiry():
    assert trackerstore.idle_seconds() == 60 * 60
    assert (
        trackerstore.idle_seconds(Path("/nonexistent/domain.yml"))
        == trackerstore.DEFAULT_IDLE_SECONDS
    )
