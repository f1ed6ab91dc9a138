"""A message nginx delivers a second time (the Rasa server it chose saved the turn and died
before answering; nginx sends the same request, with the same X-Dy-Message-Id, to the other
one) is answered from the stored reply, not taken again: the conversation does not skip a
step. The real Rasa and action servers; the header as nginx sets it."""

from __future__ import annotations

import uuid

import pytest
import requests

from channels.redelivery import MESSAGE_ID_HEADER
from playbook.registry import PlaybookRegistry
from tests.factories import texts

pytestmark = pytest.mark.integration

NETWORK = PlaybookRegistry().get("network")


def say(servers, sender: str, message: str, message_id: str | None = None) -> requests.Response:
    headers = {MESSAGE_ID_HEADER: message_id} if message_id else {}
    return requests.post(
        f"{servers.url}/webhooks/rest/webhook",
        json={"sender": sender, "message": message},
        headers=headers,
        timeout=60,
    )


def user_messages(servers, sender: str) -> list[str]:
    return [e["text"] for e in servers.tracker(sender)["events"] if e["event"] == "user"]


def test_a_message_delivered_twice_is_answered_once_from_the_stored_reply(servers):
    sender = f"redeliver-{uuid.uuid4().hex[:10]}"
    first_id, second_id = uuid.uuid4().hex, uuid.uuid4().hex
    opened = say(servers, sender, "网络老是掉线", first_id)
    assert NETWORK.step("check_network").message in texts(opened.json())
    taken = say(servers, sender, "还是不行", second_id)
    assert NETWORK.step("restart_device").message in texts(taken.json())
    again = say(servers, sender, "还是不行", second_id)  # nginx's retry of that very request
    assert again.status_code == 200 and again.json() == taken.json()
    assert user_messages(servers, sender) == ["网络老是掉线", "还是不行"]  # taken once
    # and the conversation goes on from the step it is at, not one further
    following = say(servers, sender, "没用", uuid.uuid4().hex)
    assert NETWORK.step("contact_isp").message in texts(following.json())


def test_the_same_words_with_another_id_or_none_are_a_new_message(servers):
    sender = f"redeliver-{uuid.uuid4().hex[:10]}"
    say(servers, sender, "网络老是掉线", uuid.uuid4().hex)
    say(servers, sender, "还是不行", uuid.uuid4().hex)
    answer = say(servers, sender, "还是不行")  # the user said it again: a turn of its own
    assert NETWORK.step("contact_isp").message in texts(answer.json())
    forged = say(servers, sender, "还是不行", "not-an-nginx-id")  # ignored: Rasa's own id
    assert forged.status_code == 200
    assert user_messages(servers, sender) == ["网络老是掉线", "还是不行", "还是不行", "还是不行"]
