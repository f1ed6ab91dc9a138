"""The stored reply of a message delivered twice (channels.redelivery)."""

from __future__ import annotations

from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered

from channels.redelivery import PREFIX, message_id_from_header, stored_replies

BUTTONS = [{"title": "解决了", "payload": "/affirm"}, {"title": "还是不行", "payload": "/deny"}]
EVENTS = [
    UserUttered("网络老是掉线", message_id=PREFIX + "a" * 32),
    ActionExecuted("action_playbook"),
    BotUttered("第一步", {"buttons": BUTTONS}),
    SlotSet("playbook_step", "check_network"),
    ActionExecuted("action_listen"),
    UserUttered("还是不行", message_id=PREFIX + "b" * 32),
    BotUttered("第二步", {"buttons": None, "image": "https://example.com/a.png"}),
    UserUttered("还是不行", message_id="c" * 32),  # Rasa's own id: said again
    BotUttered("第三步"),
]


def test_the_replies_after_the_message_until_the_next_one():
    assert stored_replies(EVENTS, PREFIX + "a" * 32) == [{"text": "第一步", "buttons": BUTTONS}]
    assert stored_replies(EVENTS, PREFIX + "b" * 32) == [
        {"text": "第二步", "image": "https://example.com/a.png"}
    ]


def test_a_message_the_conversation_does_not_hold_has_no_stored_reply():
    assert stored_replies(EVENTS, PREFIX + "d" * 32) is None
    assert stored_replies([], PREFIX + "a" * 32) is None


def test_only_nginx_request_ids_become_message_ids():
    assert message_id_from_header("0123456789abcdef" * 2) == PREFIX + "0123456789abcdef" * 2
    for value in (None, "", "x" * 32, "0123456789ABCDEF" * 2, "a" * 33, "a" * 31 + "\n"):
        assert message_id_from_header(value) is None
