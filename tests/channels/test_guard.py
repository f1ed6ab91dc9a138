"""What every channel does around a turn (channels.guard) and the cached check of the action
server's answer (channels.speedups), on Rasa's own message and output classes.

The channels' HTTP edges (400 for a bad sender, 503 and the apology when a server is down)
are exercised against the real servers in tests/integration/test_conversations.py.
"""

from __future__ import annotations

import pytest
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

from channels import guard, speedups
from playbook.domain import domain_texts

TEXTS = domain_texts()


def message(text: str) -> tuple[UserMessage, CollectingOutputChannel]:
    output = CollectingOutputChannel()
    return UserMessage(text, output, sender_id="guard-test"), output


def said(output: CollectingOutputChannel) -> list[str]:
    return [m["text"] for m in output.messages]


async def test_a_turn_that_replies_gets_nothing_more():
    msg, output = message("网络老是掉线")
    seen: list[str] = []

    async def process(m: UserMessage) -> None:
        seen.append(m.text)
        await m.output_channel.send_text_message(m.sender_id, "请先检查网络连接。")

    await guard.guarded_turn(msg, process, lambda: bool(output.messages))
    assert seen == ["网络老是掉线"] and said(output) == ["请先检查网络连接。"]


async def test_an_overlong_message_is_answered_without_being_processed():
    msg, output = message("网" * (guard.MAX_MESSAGE_CHARS + 1))
    seen: list[str] = []

    async def process(m: UserMessage) -> None:
        seen.append(m.text)

    await guard.guarded_turn(msg, process, lambda: bool(output.messages))
    assert seen == [] and said(output) == [TEXTS.text("utter_message_too_long")]


async def test_a_message_at_the_limit_is_processed():
    msg, output = message("网" * guard.MAX_MESSAGE_CHARS)

    async def process(m: UserMessage) -> None:
        await m.output_channel.send_text_message(m.sender_id, "好的")

    await guard.guarded_turn(msg, process, lambda: bool(output.messages))
    assert said(output) == ["好的"]


@pytest.mark.parametrize("failure", ["raises", "silent"])
async def test_a_failed_or_silent_turn_gets_the_apology(failure, caplog):
    msg, output = message("登录不上")

    async def process(m: UserMessage) -> None:
        if failure == "raises":
            raise ConnectionError("action server down")

    await guard.guarded_turn(msg, process, lambda: bool(output.messages))
    assert said(output) == [TEXTS.text("utter_action_failed")]
    assert "登录不上" not in caplog.text  # what the user wrote is not logged


async def test_without_a_readable_domain_the_user_still_hears_something(tmp_path, monkeypatch):
    broken = tmp_path / "domain.yml"
    broken.write_text("responses: [unclosed\n", encoding="utf-8")
    monkeypatch.setattr(guard, "domain_texts", lambda: domain_texts(broken))
    msg, output = message("你好")

    async def process(m: UserMessage) -> None:
        return None

    await guard.guarded_turn(msg, process, lambda: bool(output.messages))
    assert said(output) == [guard.LAST_RESORT]


def test_cached_action_response_check_accepts_and_refuses_like_rasa():
    from jsonschema import ValidationError
    from rasa.core.actions.action import RemoteAction

    speedups.install()
    action = RemoteAction("action_start_playbook", None)
    assert action._validate_action_result({"events": [], "responses": [{"text": "好"}]})
    with pytest.raises(ValidationError) as info:
        action._validate_action_result({"events": "not a list"})
    assert "Failed to validate Action server response" in info.value.message
