"""Conversations as Rasa records them: each user message, the action the rules pick, and the
events that real action returns, saved in Rasa's own SQL tracker store; and random ones, to
replay the flow statistics of many different walks through the real playbooks."""

from __future__ import annotations

import random
import uuid
from typing import Any

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, Event, Restarted, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.escalation import ActionEscalate
from actions.troubleshooting import ActionFallback, ActionStartPlaybook, ActionStepFeedback

#: Which action the rules (data/rules.yml) run for each intent.
RULES = {
    "network_problem": ActionStartPlaybook(),
    "login_problem": ActionStartPlaybook(),
    "forgot_password": ActionStartPlaybook(),
    "feature_problem": ActionStartPlaybook(),
    "data_loss": ActionStartPlaybook(),
    "affirm": ActionStepFeedback(),
    "deny": ActionStepFeedback(),
    "request_human": ActionEscalate(),
    "nlu_fallback": ActionFallback(),
}
#: What the user says for each intent (the actions read the reply to a step in context).
SENTENCES = {"affirm": "解决了", "deny": "还是不行", "request_human": "转人工"}
#: What a user says in a random conversation: an intent, a text and its entities.
SAYINGS: list[tuple[str, str | None, list[dict[str, Any]]]] = [
    ("network_problem", "网连不上", []),
    ("login_problem", "登录不了", []),
    ("forgot_password", "忘记密码了", []),
    ("feature_problem", "搜索用不了", [{"entity": "feature", "value": "搜索"}]),
    ("feature_problem", "视频播放卡", [{"entity": "feature", "value": "播放"}]),
    ("feature_problem", "功能用不了", []),
    ("data_loss", "视频不见了", []),
    ("affirm", None, []),
    ("affirm", "没找到", []),  # read as "no" by the step-answer judge
    ("deny", None, []),
    ("deny", None, []),
    ("request_human", None, []),
    ("nlu_fallback", "找到了，在草稿箱里", []),
    ("nlu_fallback", "啊？", []),
]


class Chat:
    """One conversation as Rasa records it."""

    def __init__(self, rasa_domain: Domain, domain: dict[str, Any]) -> None:
        self.rasa_domain, self.domain = rasa_domain, domain
        self.tracker = DialogueStateTracker(f"flow-{uuid.uuid4().hex[:10]}", rasa_domain.slots)
        self.new_session()

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

    def restart(self) -> None:
        """What Rasa writes for ``/restart``."""
        self.tracker.update_with_events(
            [ActionExecuted("action_restart"), Restarted(), ActionExecuted("action_listen")],
            self.rasa_domain,
        )

    async def say(
        self, intent: str, text: str | None = None, entities: list[dict[str, Any]] | None = None
    ) -> Chat:
        text = text or SENTENCES.get(intent, "…")
        self.tracker.update(
            UserUttered(text, intent={"name": intent, "confidence": 0.99}, entities=entities or []),
            self.rasa_domain,
        )
        action = RULES[intent]
        state = self.tracker.current_state(EventVerbosity.AFTER_RESTART)
        returned = await action.run(CollectingDispatcher(), Tracker.from_dict(state), self.domain)
        self.tracker.update(ActionExecuted(action.name()), self.rasa_domain)
        self.tracker.update_with_events(
            [Event.from_parameters(e) for e in returned], self.rasa_domain
        )
        self.tracker.update(ActionExecuted("action_listen"), self.rasa_domain)
        return self


async def talk(chat: Chat, *intents: str) -> Chat:
    for intent in intents:
        await chat.say(intent)
    return chat


async def random_conversations(
    store: SQLTrackerStore,
    rasa_domain: Domain,
    domain: dict[str, Any],
    *,
    seed: int,
    conversations: int,
    turns: int,
) -> None:
    """``conversations`` random conversations of up to ``turns`` turns each (problems,
    answers, asking for a person, new sessions and restarts), taking turns at random and
    saved after every turn, so their events' ids interleave as on a busy store; each turn
    goes on from the tracker as the store gives it back, as Rasa's does."""
    rng = random.Random(seed)
    chats = [Chat(rasa_domain, domain) for _ in range(conversations)]
    left = {id(chat): rng.randint(1, turns) for chat in chats}
    while chats:
        chat = rng.choice(chats)
        roll = rng.random()
        if roll < 0.06:
            chat.new_session()
        elif roll < 0.09:
            chat.restart()
        else:
            intent, text, entities = rng.choice(SAYINGS)
            await chat.say(intent, text, entities)
        await store.save(chat.tracker)
        chat.tracker = await store.retrieve(chat.tracker.sender_id)  # as Rasa goes on
        left[id(chat)] -= 1
        if left[id(chat)] <= 0:
            chats.remove(chat)
