"""The one dispatcher of staff operations on a ticket, for the console's forms and the JSON
API alike: each goes through ``tickets.workflow`` (and so the audit trail), and the ones the
user must hear about are sent into their conversation through Rasa."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from channels import mail_desk
from tickets import queries, store, workflow
from tickets.staff import Staff
from web import rasa_client

#: The longest staff reply sent into a conversation (the audit keeps workflow.MAX_NOTE).
MAX_PUSHED_REPLY = 2000
FOLLOW_UP_NOT_SENT = "工单已标记为已解决，但暂时无法向用户发出回访（客服助手未响应）"
REPLY_NOT_DELIVERED = "回复已记录，但暂时无法送达用户的对话（客服助手未响应），请稍后重试"
NO_MAIL_ADDRESS = "回复已记录，但这张邮件工单没有用户的邮箱地址，无法发出邮件"
PHONE_REPLY = "回复已记录。这是电话工单，请致电用户告知处理结果"
FOLLOW_UP_MAIL_NOT_SENT = "工单已标记为已解决，但这张邮件工单没有用户的邮箱地址，无法发出回访邮件"


class UnknownOperation(LookupError):
    """No operation has that name."""


@dataclass(frozen=True)
class Outcome:
    """What happened besides the change itself."""

    #: For a reply: whether it reached the user's conversation.
    delivered: bool | None = None
    #: Something staff must know (the change is made, the user did not hear of it).
    warning: str | None = None


Fields = Mapping[str, str]
Operation = Callable[[str, Staff, Fields], Awaitable[Outcome]]


async def _channel(number: str) -> str:
    channel = await asyncio.to_thread(store.channel_of, number)
    if channel is None:
        raise workflow.TicketNotFound(f"工单 {number} 不存在")
    return channel


async def _sender(number: str) -> str:
    sender = await asyncio.to_thread(queries.sender_of, number)
    if sender is None:
        raise workflow.TicketNotFound(f"工单 {number} 不存在")
    return sender


async def _claim(number: str, person: Staff, fields: Fields) -> Outcome:
    await asyncio.to_thread(workflow.claim, number, person)
    return Outcome()


async def _status(number: str, person: Staff, fields: Fields) -> Outcome:
    to = fields.get("to", "")
    await asyncio.to_thread(workflow.transition, number, person, to, fields.get("note", ""))
    if to != "resolved":
        return Outcome()
    # the follow-up visit: the user is asked to confirm the fix and rate it, where they are
    channel = await _channel(number)
    if channel == "email":
        queued = await asyncio.to_thread(mail_desk.queue_follow_up, number)
        return Outcome(warning=None if queued else FOLLOW_UP_MAIL_NOT_SENT)
    if channel == "phone":  # a call task in the console (回访任务)
        return Outcome()
    sent = await rasa_client.trigger_intent(
        await _sender(number), "EXTERNAL_ticket_resolved", {"ticket_number": number}
    )
    return Outcome(warning=None if sent else FOLLOW_UP_NOT_SENT)


async def _note(number: str, person: Staff, fields: Fields) -> Outcome:
    await asyncio.to_thread(workflow.add_note, number, person, fields.get("text", ""))
    return Outcome()


async def _assign(number: str, person: Staff, fields: Fields) -> Outcome:
    await asyncio.to_thread(
        workflow.assign, number, person, fields.get("assignee", ""), fields.get("reason", "")
    )
    return Outcome()


async def _priority(number: str, person: Staff, fields: Fields) -> Outcome:
    await asyncio.to_thread(
        workflow.change_priority,
        number,
        person,
        fields.get("priority", ""),
        fields.get("reason", ""),
    )
    return Outcome()


async def _reply(number: str, person: Staff, fields: Fields) -> Outcome:
    text = fields.get("text", "").strip()
    sender = await _sender(number)
    await asyncio.to_thread(workflow.record_reply, number, person, text)
    channel = await _channel(number)
    if channel == "email":  # by mail, in the ticket's thread (channels.mail_sending sends it)
        queued = await asyncio.to_thread(mail_desk.queue_staff_reply, number, person, text)
        return Outcome(delivered=queued, warning=None if queued else NO_MAIL_ADDRESS)
    if channel == "phone":
        return Outcome(delivered=False, warning=PHONE_REPLY)
    delivered = await rasa_client.trigger_intent(
        sender, "EXTERNAL_staff_message", {"staff_message": text[:MAX_PUSHED_REPLY]}
    )
    return Outcome(delivered=delivered, warning=None if delivered else REPLY_NOT_DELIVERED)


async def _category(number: str, person: Staff, fields: Fields) -> Outcome:
    await asyncio.to_thread(workflow.change_category, number, person, fields.get("category", ""))
    return Outcome()


OPERATIONS: dict[str, Operation] = {
    "claim": _claim,
    "status": _status,
    "note": _note,
    "assign": _assign,
    "priority": _priority,
    "reply": _reply,
    "category": _category,
}


async def perform(number: str, person: Staff, name: str, fields: Fields) -> Outcome:
    """Do operation ``name`` on ticket ``number``; raises :class:`UnknownOperation`, and
    ``workflow.WorkflowError`` (``TicketNotFound`` for a missing ticket) when refused."""
    operation = OPERATIONS.get(name)
    if operation is None:
        raise UnknownOperation(name)
    return await operation(number, person, fields)
