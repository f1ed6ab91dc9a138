"""The inbox of misunderstandings and filing its messages as training data.

Conversations are recorded through the real actions on Rasa's own trackers, with the bot's
messages made by Rasa's own code (the response templates of domain.yml, ``utter_action`` in
the metadata), and saved in Rasa's SQL tracker store; labels are written into a copy of the
project and checked by the real validator; the audit goes to a real (migrated) database.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
import yaml
from rasa.core.actions.action import ActionBotResponse, RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, Event, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.escalation import ActionEscalate
from actions.troubleshooting import (
    ActionFallback,
    ActionResumeFlow,
    ActionStartPlaybook,
    ActionStepFeedback,
)
from editing import labels
from editing.project import Project
from editing.validate import validate
from playbook.registry import PlaybookRegistry
from tests.factories import PASSWORD, ROOT, console_server, copy_project, fresh_sqlite, login
from tickets import labels as label_audit
from tickets import staff
from web import inbox

PHONE, EMAIL = "13800138000", "zhang.wei@example.com"
#: The project's playbooks, by id, against which the inbox reads the open step.
PLAYBOOKS = {playbook.id: playbook for playbook in PlaybookRegistry().all()}
START = ActionStartPlaybook()
#: What the rules (data/rules.yml) run for each intent.
RULES = {
    "network_problem": [START],
    "login_problem": [START],
    "forgot_password": [START],
    "feature_problem": [START],
    "data_loss": [START],
    "affirm": [ActionStepFeedback()],
    "deny": [ActionStepFeedback()],
    "request_human": [ActionEscalate()],
    "nlu_fallback": [ActionFallback()],
    "out_of_scope": [ActionFallback()],
    "greet": ["utter_greet", ActionResumeFlow()],
}


class Chat:
    """One conversation as Rasa records it: the user message with what the NLU said, the
    actions the rules pick, the bot messages Rasa makes of their responses, their events."""

    def __init__(self, rasa_domain: Domain, domain: dict[str, Any]) -> None:
        self.rasa_domain, self.domain = rasa_domain, domain
        self.nlg = TemplatedNaturalLanguageGenerator(rasa_domain.responses)
        self.tracker = DialogueStateTracker(f"inbox-{uuid.uuid4().hex[:10]}", rasa_domain.slots)
        self.new_session()
        self.said: list[str] = []  # the responses of the bot, in order

    def new_session(self) -> None:
        """What Rasa writes when a session starts (slots are not carried over)."""
        self.tracker.update_with_events(
            [
                ActionExecuted("action_session_start"),
                SessionStarted(),
                ActionExecuted("action_listen"),
            ],
            self.rasa_domain,
        )

    async def say(
        self,
        text: str,
        intent: str,
        confidence: float = 0.95,
        ranking: list[tuple] | None = None,
        at: float | None = None,
    ) -> Chat:
        ranking = ranking or [(intent, confidence)]
        parse = {
            "text": text,
            "intent": {"name": intent, "confidence": confidence},
            "entities": [],
            "intent_ranking": [{"name": n, "confidence": c} for n, c in ranking],
        }
        self.tracker.update(
            UserUttered(text, intent=parse["intent"], parse_data=parse, timestamp=at),
            self.rasa_domain,
        )
        channel = CollectingOutputChannel()
        for action in RULES[intent]:
            if isinstance(action, str):
                events = await ActionBotResponse(action).run(
                    channel, self.nlg, self.tracker, self.rasa_domain
                )
                name = action
            else:
                state = self.tracker.current_state(EventVerbosity.AFTER_RESTART)
                dispatcher = CollectingDispatcher()
                returned = await action.run(dispatcher, Tracker.from_dict(state), self.domain)
                events = await RemoteAction._utter_responses(  # Rasa's own code
                    [dict(m) for m in dispatcher.messages], channel, self.nlg, self.tracker
                )
                events = list(events) + [Event.from_parameters(e) for e in returned]
                name = action.name()
            self.tracker.update(ActionExecuted(name), self.rasa_domain)
            self.tracker.update_with_events(events, self.rasa_domain)
            self.said += [
                e.metadata.get("utter_action")
                for e in events
                if getattr(e, "type_name", "") == "bot"
            ]
        self.tracker.update(ActionExecuted("action_listen"), self.rasa_domain)
        return self


@pytest.fixture(scope="module")
def rasa_domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


DAY = 24 * 3600
BASE = time.time() - 3 * DAY


@pytest.fixture()
async def recorded(database_url, tmp_path, rasa_domain, domain):
    """Conversations through the real actions, saved in a SQLite tracker store; yields
    (url, the chats by name)."""
    chats = {
        name: Chat(rasa_domain, domain)
        for name in (
            "fallback",
            "in_step",
            "off_topic",
            "unsure",
            "corrected",
            "answered",
            "contact",
            "empty",
            "again",
            "other_fallback",
            "came_back",
        )
    }
    c = chats
    # not understood outside a playbook: asked again; the second time a person is offered
    await c["fallback"].say(
        "帮我弄一下那个东西",
        "nlu_fallback",
        0.55,
        at=BASE,
        ranking=[("nlu_fallback", 0.55), ("out_of_scope", 0.23), ("data_loss", 0.16)],
    )
    await c["fallback"].say(
        "帮我弄一下，那个东西吧",
        "nlu_fallback",
        0.55,
        at=BASE + 60,
        ranking=[("nlu_fallback", 0.55), ("feature_problem", 0.3)],
    )
    # the same normal form in another conversation (traditional characters, spaces)
    await c["again"].say(" 帮我弄一下那个東西 ", "nlu_fallback", 0.55, at=BASE + DAY)
    await c["other_fallback"].say(
        "视频发出去没人看",
        "nlu_fallback",
        0.55,
        at=BASE + 2 * DAY,
        ranking=[("nlu_fallback", 0.55), ("affirm", 0.41), ("feature_problem", 0.36)],
    )
    # off topic while a step is open
    await c["in_step"].say("网络老是掉线", "network_problem", at=BASE + 100)
    await c["in_step"].say("今天天气怎么样", "out_of_scope", 0.98, at=BASE + 160)
    # off topic outside a playbook has its own answer: not a misunderstanding
    await c["off_topic"].say("讲个笑话", "out_of_scope", 0.97, at=BASE + 200)
    # an answer the judge is unsure about: said back with the buttons
    await c["unsure"].say("网络老是掉线", "network_problem", at=BASE + 300)
    await c["unsure"].say("好像好了一点", "affirm", 0.9, at=BASE + 360)
    # the assistant started the wrong playbook and the user says so
    await c["corrected"].say("登录的时候一直转圈", "network_problem", 0.7, at=BASE + 400)
    await c["corrected"].say("不对，我是登录不上", "login_problem", 0.61, at=BASE + 460)
    # answered normally: nothing here is in the inbox
    await c["answered"].say("网络老是掉线", "network_problem", at=BASE + 500)
    await c["answered"].say("还是不行", "deny", at=BASE + 560)
    await c["answered"].say("解决了", "affirm", at=BASE + 620)
    # personal data in a message that was not understood
    await c["contact"].say(
        f"我手机{PHONE}收不到验证码，邮箱 {EMAIL}", "nlu_fallback", 0.55, at=BASE + 700
    )
    await c["empty"].say("   ", "nlu_fallback", 0.55, at=BASE + 800)
    # 「不对」 in a new session corrects nothing said in the old one
    await c["came_back"].say("手机网络总是断", "network_problem", at=BASE + 900)
    c["came_back"].new_session()
    await c["came_back"].say("不对", "deny", at=BASE + DAY + 900)
    path = tmp_path / "trackers.db"
    store = SQLTrackerStore(rasa_domain, dialect="sqlite", db=str(path))
    for chat in chats.values():
        await store.save(chat.tracker)
    store.engine.dispose()
    yield f"sqlite:///{path}", chats


def messages_by_text(url: str) -> dict[str, inbox.Message]:
    found = inbox.inbox(url, PLAYBOOKS)
    return {e.message.text: e.message for g in found.groups for e in g.examples}


async def test_each_reason_is_found(recorded):
    url, chats = recorded
    assert chats["fallback"].said == ["utter_default", "utter_offer_human"]
    found = messages_by_text(url)
    first = found["帮我弄一下那个东西"]
    assert first.reasons == ("fallback", "asked_again") and first.asked == ("utter_default",)
    assert first.intent == "nlu_fallback" and first.confidence == 0.55
    assert first.guess == ("out_of_scope", 0.23) and first.open_step is None
    assert found["帮我弄一下，那个东西吧"].asked == ("utter_offer_human",)

    off = found["今天天气怎么样"]  # out_of_scope while check_network was open
    assert off.reasons == ("out_of_scope", "asked_again")
    assert off.asked == ("utter_step_question",) and off.open_step == "network/check_network"
    assert "讲个笑话" not in found  # out_of_scope with no step open: answered as such

    unsure = found["好像好了一点"]
    assert unsure.reasons == ("asked_again",) and unsure.asked == ("utter_answer_unsure_worked",)
    assert unsure.intent == "affirm" and unsure.open_step == "network/check_network"

    wrong = found["登录的时候一直转圈"]  # the message before the correction
    assert wrong.reasons == ("corrected",) and wrong.correction == "不对，我是登录不上"
    assert wrong.intent == "network_problem" and wrong.confidence == 0.7
    assert wrong.open_step is None  # no step was open when it was written

    for text in (
        "网络老是掉线",
        "还是不行",
        "解决了",
        "不对，我是登录不上",
        "",
        "手机网络总是断",
        "不对",
    ):
        assert text not in found, text
    assert inbox.inbox(url, PLAYBOOKS).messages == 8


async def test_the_open_step_is_read_as_the_actions_read_it(recorded):
    """The slots are decoded by playbook.progress against the playbooks that exist: once the
    network playbook is gone (or loses its step) no message is shown at a step of it."""
    url, _ = recorded
    without = {key: p for key, p in PLAYBOOKS.items() if key != "network"}
    found = {
        e.message.text: e.message for g in inbox.inbox(url, without).groups for e in g.examples
    }
    assert found["今天天气怎么样"].open_step is None
    assert found["好像好了一点"].open_step is None
    # out of scope with no playbook open is answered as such, not a misunderstanding
    assert found["今天天气怎么样"].reasons == ("asked_again",)
    assert messages_by_text(url)["今天天气怎么样"].open_step == "network/check_network"


async def test_phone_numbers_and_emails_are_masked(recorded):
    url, _ = recorded
    box = inbox.inbox(url, PLAYBOOKS)
    assert "我手机138****8000收不到验证码，邮箱 z***@example.com" in messages_by_text(url)
    everything = repr(box)
    assert PHONE not in everything and EMAIL not in everything and "zhang.wei" not in everything


async def test_similar_messages_are_grouped_newest_first(recorded):
    url, _ = recorded
    groups = inbox.inbox(url, PLAYBOOKS).groups
    fallback = next(
        g for g in groups if "帮我弄一下那个东西" in [e.message.text for e in g.examples]
    )
    # the same normal form (「 帮我弄一下那个東西 」)
    # and a near-duplicate (「帮我弄一下，那个东西吧」)
    assert fallback.count == 3 and fallback.conversations == 2
    assert {e.message.text for e in fallback.examples} == {
        "帮我弄一下那个东西",
        "帮我弄一下，那个东西吧",
        "帮我弄一下那个東西",
    }
    assert set(fallback.forms) == {"帮我弄一下那个东西", "帮我弄一下,那个东西吧"}
    assert fallback.examples[0].message.text in ("帮我弄一下那个东西", "帮我弄一下那个東西")
    assert fallback.reasons == {"fallback": 3, "asked_again": 3}
    assert fallback.asked == {"utter_default": 2, "utter_offer_human": 1}
    assert fallback.first < fallback.last
    assert len(groups) == 6
    assert [g.last for g in groups] == sorted((g.last for g in groups), reverse=True)
    assert groups[0].text == "视频发出去没人看"  # the newest


def brute_force(messages: list[inbox.Message]) -> list[set]:
    """The same grouping, comparing every form with every leader."""
    counts: dict[str, list[inbox.Message]] = {}
    for m in messages:
        counts.setdefault(m.norm, []).append(m)
    newest = {f: max(m.at for m in found).timestamp() for f, found in counts.items()}
    forms = sorted(counts, key=lambda f: (-len(counts[f]), -newest[f], f))
    leaders: dict[str, list[str]] = {}
    for form in forms:
        mine = inbox.bigrams(form)
        scored = [
            (len(mine & inbox.bigrams(leader)) / len(mine | inbox.bigrams(leader)), leader)
            for leader in leaders
            if inbox.similar(mine, inbox.bigrams(leader))
        ]
        if scored:
            best = max(scored, key=lambda s: s[0])[0]
            leaders[next(leader for s, leader in scored if s == best)].append(form)
        else:
            leaders[form] = [form]
    return sorted((set(v) for v in leaders.values()), key=sorted)


def test_grouping_finds_every_near_duplicate_a_full_comparison_finds():
    from datetime import datetime, timezone

    rng = random.Random(7)
    alphabet = "网络登录密码视频直播卡顿掉线不行好了怎么办呢"
    seeds = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 14))) for _ in range(60)]
    texts = []
    for seed in seeds:  # each seed with a few one-character edits
        texts.append(seed)
        for _ in range(rng.randint(0, 3)):
            chars = list(seed)
            chars.insert(rng.randint(0, len(chars)), rng.choice(alphabet))
            texts.append("".join(chars))
    messages = [
        inbox.Message(
            text=t,
            norm=t,
            intent=None,
            confidence=None,
            guess=None,
            playbook=None,
            step=None,
            reasons=("fallback",),
            asked=(),
            correction=None,
            conversation=i,
            at=datetime.fromtimestamp(1_700_000_000 + i, tz=timezone.utc),
        )
        for i, t in enumerate(texts)
    ]
    grouped = sorted((set(g.forms) for g in inbox.group_messages(messages)), key=sorted)
    assert grouped == brute_force(messages)
    assert any(len(g) > 1 for g in grouped)


def test_jaccard_threshold_is_exact():
    a = inbox.bigrams("帮我弄一下那个东西")  # 8 bigrams
    assert inbox.similar(a, inbox.bigrams("帮我弄一下那个东西吧"))  # 8/9
    assert not inbox.similar(a, inbox.bigrams("帮我弄一下那个视频"))  # 6/10
    five = frozenset("abcde")
    assert inbox.similar(five, frozenset("abcd"))  # exactly 0.8
    assert not inbox.similar(five, frozenset("abc"))


@pytest.mark.parametrize(
    "text",
    [
        "不对",
        "不是",
        "不是的",
        "错了",
        "你搞错了吧",
        "我不是这个意思",
        "不是这个问题",
        "不对，我是登录不上",
        "不是，我说的是直播",
        "我说的不是网络",
        "不是网络问题",
        "不是网络，是登录",
        "答非所问",
        "不對",
        "No, that's not what I meant",
        "wrong",
    ],
)
def test_corrections(text):
    assert inbox.is_correction(text)


@pytest.mark.parametrize(
    "text",
    [
        "还是不行",
        "不对劲，还是卡",
        "不是很急",
        "不对，还是不行",
        "解决了",
        "网络老是掉线",
        "不错",
        "错误代码 500",
        "",
    ],
)
def test_not_corrections(text):
    assert not inbox.is_correction(text)


async def test_pages_and_the_store_is_read_again_only_when_it_grows(recorded, rasa_domain, domain):
    url, _ = recorded
    first = inbox.inbox(url, PLAYBOOKS)
    assert inbox.inbox(url, PLAYBOOKS) is first  # nothing new: the same reading
    assert first.page(1, size=4) == first.groups[:4] and first.page(9, size=4) == first.groups[4:]
    assert first.pages(size=4) == 2
    chat = Chat(rasa_domain, domain)
    await chat.say("嗯哼哈嘿", "nlu_fallback", 0.55)
    store = SQLTrackerStore(rasa_domain, dialect="sqlite", db=url.split("///", 1)[1])
    await store.save(chat.tracker)
    store.engine.dispose()
    again = inbox.inbox(url, PLAYBOOKS)
    assert again is not first and again.groups[0].text == "嗯哼哈嘿"


def test_no_store_means_an_empty_inbox(tmp_path):
    assert inbox.inbox(None, PLAYBOOKS).groups == []
    assert inbox.inbox(f"sqlite:///{tmp_path / 'none.db'}", PLAYBOOKS).groups == []
    assert not (tmp_path / "none.db").exists()


def test_ten_thousand_conversations_are_read_in_one_pass(tmp_path, rasa_domain):
    """10,000 conversations (about 200,000 events) in one ordered query, every message
    counted once (how long it takes is a figure of ``make bench``)."""
    import json

    from sqlalchemy import create_engine, text

    store = SQLTrackerStore(rasa_domain, dialect="sqlite", db=str(tmp_path / "big.db"))
    store.engine.dispose()
    engine = create_engine(f"sqlite:///{tmp_path / 'big.db'}")

    def event(sender, kind, intent=None, action=None, **data):
        return {
            "sender_id": sender,
            "type_name": kind,
            "timestamp": time.time(),
            "intent_name": intent,
            "action_name": action,
            "data": json.dumps({"event": kind, **data}),
        }

    rows = []
    for n in range(10_000):
        sender = f"big-{n}"
        said = ["网络老是掉线", f"帮我弄一下第{n % 300}个东西", "还是不行"][n % 3]
        intent = ["network_problem", "nlu_fallback", "deny"][n % 3]
        rows += [
            event(sender, "action", action="action_session_start"),
            event(sender, "action", action="action_listen"),
        ]
        for _ in range(3):
            rows += [
                event(
                    sender,
                    "user",
                    intent,
                    text=said,
                    parse_data={
                        "intent": {"name": intent, "confidence": 0.6},
                        "intent_ranking": [],
                    },
                ),
                event(sender, "action", action="action_fallback"),
                event(sender, "bot", text="抱歉……", metadata={"utter_action": "utter_default"}),
                event(sender, "slot", name="dy_stage", value=None),
                event(sender, "action", action="action_listen"),
            ]
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO events (sender_id, type_name, timestamp, intent_name, "
                "action_name, data) VALUES (:sender_id, :type_name, :timestamp, "
                ":intent_name, :action_name, :data)"
            ),
            rows,
        )
    engine.dispose()
    box = inbox.inbox(f"sqlite:///{tmp_path / 'big.db'}", PLAYBOOKS)
    assert box.messages == 30_000 and box.conversations == 10_000
    assert len(box.groups) < 320  # the 300 numbered variants are near-duplicates of each other
    assert sum(group.count for group in box.groups) == 30_000


# --- labels: written into a copy of the project ----------------------------------------------


@pytest.fixture()
def project(tmp_path, monkeypatch) -> Path:
    copy = copy_project(tmp_path / "project")
    monkeypatch.setenv("DY_PROJECT_DIR", str(copy))
    return copy


@pytest.fixture()
def editor(database_url):
    return staff.create_staff("li.editor", PASSWORD, "editor", "李编辑", database_url=database_url)


def file_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted((root / "data").rglob("*"))
        if p.is_file()
    }


def first_example(root: Path, intent: str) -> str:
    for path in sorted((root / "data" / "nlu").glob("*.yml")):
        for block in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu") or []:
            if block.get("intent") == intent:
                return block["examples"].splitlines()[0][2:].strip()
    raise AssertionError(intent)


def inserted(before: bytes, after: bytes, line: int, new: list[str]) -> None:
    """``after`` is ``before`` with exactly ``new`` inserted as lines from ``line``."""
    old = before.decode("utf-8").splitlines(keepends=True)
    assert (
        after.decode("utf-8").splitlines(keepends=True)
        == old[: line - 1] + [n + "\n" for n in new] + old[line - 1 :]
    )


def test_an_example_is_filed_checked_and_audited(project, editor, database_url):
    from web.console.inbox_pages import file_label

    before = file_bytes(project)
    text = "视频发出去没人看，一个赞都没有"
    label_id = file_label(editor, {"kind": "intent", "intent": "feature_problem", "text": text})
    record = label_audit.get_label(label_id)
    assert (record.outcome, record.kind, record.target, record.text) == (
        "written",
        "intent",
        "feature_problem",
        text,
    )
    assert record.author == "李编辑" and record.file == "data/nlu/problems.yml"
    assert record.message == "校验通过 (validation passed)"
    after = file_bytes(project)
    changed = [name for name in after if after[name] != before[name]]
    assert changed == ["data/nlu/problems.yml"]
    inserted(
        before["data/nlu/problems.yml"],
        after["data/nlu/problems.yml"],
        record.line,
        [f"    - {text}"],
    )
    # the line closes the feature_problem block: its last example, as Rasa reads the file
    blocks = yaml.safe_load((project / "data/nlu/problems.yml").read_text(encoding="utf-8"))
    feature = next(b for b in blocks["nlu"] if b.get("intent") == "feature_problem")
    assert feature["examples"].splitlines()[-1] == f"- {text}"
    assert validate(Project(project), with_rasa=True) == []
    assert [r.id for r in label_audit.latest_labels()] == [label_id]


def test_a_duplicate_example_is_refused_and_the_file_left_byte_identical(project, editor):
    from web.console.inbox_pages import file_label

    before = file_bytes(project)
    text = first_example(project, "network_problem")
    label_id = file_label(editor, {"kind": "intent", "intent": "network_problem", "text": text})
    record = label_audit.get_label(label_id)
    assert record.outcome == "refused" and record.file == "data/nlu/problems.yml"
    assert re.fullmatch(
        rf"data/nlu/problems\.yml:\d+: 例句「{re.escape(text)}」在意图 network_problem "
        rf"下重复（第一次在 data/nlu/problems\.yml:\d+），请删除这一行 \(duplicate example\)",
        record.message,
    ), record.message
    assert file_bytes(project) == before


def test_an_example_of_another_intent_is_refused(project):
    before = file_bytes(project)
    text = first_example(project, "network_problem")
    outcome = labels.add_example(Project(project), "login_problem", text)
    assert not outcome.written and file_bytes(project) == before
    assert f"例句「{text}」同时出现在意图 network_problem" in outcome.problems[0]
    assert outcome.problems[0].endswith("(same example under two intents)")
    # Rasa's own check fails on it too
    assert outcome.problems[1:] == (
        "domain.yml:1: rasa data validate 校验失败，详见上方 Rasa 的输出 "
        "(rasa data validate failed)",
    )


def test_answer_phrases_are_filed_under_the_step(project):
    path = project / "data/playbooks/login.yml"
    original = path.read_bytes()
    first = labels.add_answer(
        Project(project), "login/check_credentials", "worked", "登上去了", with_rasa=False
    )
    assert first.written and first.file == "data/playbooks/login.yml"
    inserted(
        original,
        path.read_bytes(),
        first.line - 2,
        ["    answers:", "      worked:", "        - 登上去了"],
    )
    second_before = path.read_bytes()
    second = labels.add_answer(
        Project(project), "login/check_credentials", "worked", "yes: 进去了", with_rasa=False
    )
    inserted(second_before, path.read_bytes(), second.line, ['        - "yes: 进去了"'])
    third_before = path.read_bytes()
    third = labels.add_answer(
        Project(project), "login/check_credentials", "human", "找你们客服", with_rasa=False
    )
    inserted(
        third_before, path.read_bytes(), third.line - 1, ["      human:", "        - 找你们客服"]
    )
    step = (
        PlaybookRegistry(project / "data/playbooks", root=project)
        .get("login")
        .step("check_credentials")
    )
    assert step.answers == {"worked": ("登上去了", "yes: 进去了"), "human": ("找你们客服",)}
    assert validate(Project(project), with_rasa=False) == []


def test_a_phrase_under_two_labels_is_refused(project, editor):
    from web.console.inbox_pages import file_label

    assert labels.add_answer(
        Project(project), "network/check_network", "worked", "能刷出来了", with_rasa=False
    ).written
    before = file_bytes(project)
    label_id = file_label(
        editor,
        {
            "kind": "answer",
            "step": "network/check_network",
            "label": "failed",
            "text": "能刷出来了",
        },
    )
    record = label_audit.get_label(label_id)
    assert record.outcome == "refused" and record.target == "network/check_network:failed"
    assert re.fullmatch(
        r"data/playbooks/network\.yml:\d+: 步骤 check_network 的说法「能刷出来了」同时写在 "
        r"answers\.worked 和 answers\.failed 里，一句话只能有一种意思 "
        r"\(answer phrase under two labels\)",
        record.message,
    ), record.message
    assert file_bytes(project) == before


@pytest.mark.parametrize(
    "form, answer",
    [
        ({"kind": "intent", "intent": "feature_problem", "text": "   "}, "请填写要写入的例句"),
        (
            {"kind": "intent", "intent": "feature_problem", "text": "卡" * 5000},
            "例句太长了（5000 字）",
        ),
        (
            {"kind": "intent", "intent": "feature_problem", "text": "<script>alert(1)</script>"},
            "HTML 标签",
        ),
        ({"kind": "intent", "intent": "feature_problem", "text": "第一行\n第二行"}, "只能是一行"),
        (
            {"kind": "intent", "intent": "feature_problem", "text": "[直播](feature)开不了"},
            "实体标注",
        ),
        ({"kind": "intent", "intent": "feature_problem", "text": "/greet"}, "不能以 / 开头"),
        ({"kind": "intent", "intent": "no_such_intent", "text": "你好"}, "没有可以写入例句的意图"),
        ({"kind": "intent", "intent": "nlu_fallback", "text": "你好"}, "没有可以写入例句的意图"),
        (
            {"kind": "answer", "step": "login/nope", "label": "worked", "text": "好了"},
            "没有这个手册步骤",
        ),
        (
            {"kind": "answer", "step": "feature/choose_guide", "label": "worked", "text": "好了"},
            "没有这个手册步骤",
        ),  # a branch asks nothing
        (
            {"kind": "answer", "step": "login/check_credentials", "label": "maybe", "text": "好了"},
            "请选择这句话的意思",
        ),
        (
            {
                "kind": "answer",
                "step": "login/check_credentials",
                "label": "worked",
                "text": "好" * 41,
            },
            "回答说法太长了（41 字）",
        ),
    ],
)
def test_bad_input_gets_a_clear_answer_and_changes_nothing(project, editor, form, answer):
    from web.console.inbox_pages import file_label

    before = file_bytes(project)
    record = label_audit.get_label(file_label(editor, form))
    assert record.outcome == "refused" and answer in record.message, record.message
    assert len(record.text) <= label_audit.MAX_TEXT
    assert file_bytes(project) == before


def test_personal_data_never_reaches_the_training_data(project):
    outcome = labels.add_example(
        Project(project), "login_problem", f"手机号{PHONE}登录不上，邮箱{EMAIL}", with_rasa=False
    )
    assert outcome.written and outcome.text == "手机号138****8000登录不上，邮箱z***@example.com"
    text = (project / outcome.file).read_text(encoding="utf-8")
    assert PHONE not in text and EMAIL not in text


# --- the page, through a real web server -------------------------------------------------------


@pytest.fixture(scope="module")
def inbox_site(migrated_sqlite, tmp_path_factory, rasa_domain):
    work = tmp_path_factory.mktemp("inbox")
    database_url = fresh_sqlite(migrated_sqlite, work / "tickets.db")
    copy = copy_project(work / "project")
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    chats = [Chat(rasa_domain, domain), Chat(rasa_domain, domain)]

    async def record() -> None:
        await chats[0].say(
            "视频发出去没人看",
            "nlu_fallback",
            0.55,
            ranking=[("nlu_fallback", 0.55), ("feature_problem", 0.36)],
        )
        await chats[1].say(f"<b>加粗</b> 打给 {PHONE}", "nlu_fallback", 0.55)
        store = SQLTrackerStore(rasa_domain, dialect="sqlite", db=str(work / "trackers.db"))
        for chat in chats:
            await store.save(chat.tracker)
        store.engine.dispose()

    asyncio.run(record())
    people = {
        role: staff.create_staff(f"{role}.inbox", PASSWORD, role, database_url=database_url)
        for role in ("agent", "supervisor", "editor")
    }
    with console_server(
        work,
        DATABASE_URL=database_url,
        DY_TRACKER_DB_URL=f"sqlite:///{work / 'trackers.db'}",
        DY_PROJECT_DIR=str(copy),
        CONSOLE_SECRET="inbox-test-secret",
    ) as url:
        yield SimpleNamespace(
            url=url,
            people=people,
            database_url=database_url,
            project=copy,
            log=work / "web.log",
            session=requests.Session,  # a real server: a real HTTP client per login
        )


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)


def test_only_editors_and_supervisors_see_the_inbox(inbox_site):
    reply = requests.get(inbox_site.url + "/console/inbox", allow_redirects=False, timeout=30)
    assert reply.status_code == 302 and reply.headers["Location"] == "/console/login"
    agent = login(inbox_site, "agent").get(inbox_site.url + "/console/inbox", timeout=30)
    assert agent.status_code == 403 and "误解收件箱只对主管和内容编辑开放" in agent.text
    assert "视频发出去没人看" not in agent.text
    for role in ("editor", "supervisor"):
        page = login(inbox_site, role).get(inbox_site.url + "/console/inbox", timeout=30)
        assert page.status_code == 200 and "视频发出去没人看" in page.text
        assert "script-src" not in page.headers["Content-Security-Policy"]
        assert 'href="/console/inbox"' in page.text
    # what users wrote is masked and shown as text
    assert PHONE not in page.text and "138****8000" in page.text
    assert "&lt;b&gt;加粗&lt;/b&gt;" in page.text and "<b>加粗</b>" not in page.text


def test_a_label_through_the_page_is_written_and_shown_with_its_author(inbox_site):
    editor = login(inbox_site, "editor")
    page = editor.get(inbox_site.url + "/console/inbox", timeout=30).text
    no_token = editor.post(
        inbox_site.url + "/console/inbox/label",
        timeout=30,
        data={"kind": "intent", "intent": "feature_problem", "text": "x"},
    )
    assert no_token.status_code == 403 and "表单已过期" in no_token.text
    unknown = editor.post(
        inbox_site.url + "/console/inbox/label",
        timeout=30,
        data={"csrf": csrf_of(page), "kind": "delete", "text": "x"},
    )
    assert unknown.status_code == 400 and "请选择写入方式" in unknown.text

    reply = editor.post(
        inbox_site.url + "/console/inbox/label",
        timeout=120,
        data={
            "csrf": csrf_of(page),
            "kind": "intent",
            "page": "1",
            "intent": "feature_problem",
            "text": "视频发出去没人看",
        },
    )
    assert reply.status_code == 200 and "已写入" in reply.text
    assert "校验通过 (validation passed)" in reply.text and "make train" in reply.text
    assert "- 视频发出去没人看\n" in (inbox_site.project / "data/nlu/problems.yml").read_text(
        encoding="utf-8"
    )
    labels_table = re.search(r'<table id="labels">.*?</table>', reply.text, re.S).group(0)
    assert "editor.inbox" in labels_table and "已写入" in labels_table
    assert "已标注：feature_problem" in reply.text

    html = editor.post(
        inbox_site.url + "/console/inbox/label",
        timeout=60,
        data={
            "csrf": csrf_of(reply.text),
            "kind": "intent",
            "intent": "out_of_scope",
            "text": "<b>加粗</b> 打给 138****8000",
        },
    )
    assert html.status_code == 200 and "没有写入" in html.text and "HTML 标签" in html.text
    assert "<b>加粗</b>" not in html.text
    log = inbox_site.log.read_text(encoding="utf-8")
    assert "Traceback" not in log and PHONE not in log
