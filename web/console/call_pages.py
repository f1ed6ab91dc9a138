"""The hotline in the console, for agents and supervisors: the form an agent fills in while on
the phone (``/console/calls/new``: the caller's number, what they said, the call time, the
category and urgency), with a 「识别问题类别」 button that asks the assistant's own understanding
(``channels.report_understanding``, Rasa's NLU as the chat and the mail intake use it) and
shows the category and the priority the policy would give; and the follow-up calls
(``/console/calls``, 回访任务): resolved phone tickets whose user is to be called back, each
with a form for how the call went. Every change goes through ``tickets.phone`` (audited
with the agent); showing a caller's full number through ``tickets.workflow.reveal_contact``.

The understanding parses with Rasa's ``/model/parse`` unless the app names another parse
function in ``app.ctx.report_parse`` (the tests do: they run no Rasa).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

import requests
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels.report_understanding import Parse, parse_with_rasa, understand
from playbook.sourcefile import SourceError
from tickets import phone, workflow
from tickets.mail_policy import load_mail_policy
from tickets.models import utcnow
from tickets.policy import PriorityPolicy, load_policy
from tickets.staff import Staff
from understanding.ratings import ASPECT_LABELS, ASPECTS
from web.console.auth import ticket_forms, ticket_workers_only
from web.console.pages import message, render

logger = logging.getLogger(__name__)
routes = Blueprint("console_calls")

#: The longest value taken from each field of the forms.
MAX_CALLER = 40
MAX_TIME = 40
MAX_CATEGORY = 32
#: How sure the understanding must be when the mail policy cannot be read (its default).
DEFAULT_MIN_CONFIDENCE = 0.6
#: The hotline pages run one script of their own, inline, allowed by its nonce only.
CSP = (
    "default-src 'none'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
UNAVAILABLE = "暂时无法自动识别（客服助手没有响应），请您根据来电内容选择问题类别。"
NOTHING_FOUND = "系统没能从这段描述里识别出问题类别，请您根据来电内容选择。"
NOTHING_SAID = "请先填写用户反映的问题，再点「识别问题类别」。"
OUTCOME_NOTICES = {
    "closed": "已记录回访：用户确认问题已经解决，工单 {number} 已关闭。谢谢！",
    "reopened": (
        "已记录回访：用户表示问题仍未解决，工单 {number} 已退回「处理中」，请负责同事继续跟进。"
    ),
    "attempt": (
        "已记录：工单 {number} 第 {attempts} 次回访未接通，任务会保留在列表里，请稍后再拨。"
    ),
}


def _secured(page: HTTPResponse, nonce: str) -> HTTPResponse:
    page.headers["Content-Security-Policy"] = CSP.format(nonce=nonce)
    return page


def _field(request: Request, name: str, longest: int) -> str:
    return (request.form.get(name) or "")[:longest]


# --- the intake form ---------------------------------------------------------------------------


def priority_text(policy: PriorityPolicy, priority: str) -> str:
    """``紧急（1 小时内响应）``."""
    promise = policy.priority_promise(priority)
    label = policy.priority_label(priority)
    return f"{label}（{promise}响应）" if promise else label


def priority_table(policy: PriorityPolicy, at: datetime) -> dict[str, dict[str, dict[str, str]]]:
    """The priority each category would get, not urgent and urgent, as the form's script
    shows it next to the category chosen: ``{category: {"0"|"1": {priority, text}}}``."""
    table: dict[str, dict[str, dict[str, str]]] = {}
    for category in policy.categories:
        table[category] = {}
        for urgent in (False, True):
            decision = policy.decide(
                category=category, reason="user_request", urgent_signal=urgent, created_at=at
            )
            table[category]["1" if urgent else "0"] = {
                "priority": decision.priority,
                "text": priority_text(policy, decision.priority),
            }
    return table


def _min_confidence() -> float:
    try:
        return load_mail_policy().min_confidence
    except SourceError as exc:
        logger.error("mail policy unreadable, the hotline uses the default confidence: %s", exc)
        return DEFAULT_MIN_CONFIDENCE


async def suggestion(request: Request, said: str) -> dict[str, Any]:
    """What the understanding makes of the caller's words: the category (None when it found
    none or could not be asked), whether it is unsure, the urgency, the priority the policy
    would give, and the sentence the form shows."""
    policy = load_policy()
    given: Parse = getattr(request.app.ctx, "report_parse", None) or parse_with_rasa
    failed: list[str] = []

    def watched(text: str) -> dict[str, Any]:
        try:
            return given(text)
        except (requests.RequestException, ValueError) as exc:
            failed.append(type(exc).__name__)
            raise

    found = await asyncio.to_thread(
        understand, "", said, min_confidence=_min_confidence(), parse=watched
    )
    answer: dict[str, Any] = {
        "available": not failed,
        "category": None,
        "category_label": None,
        "unsure": True,
        "urgent": found.urgent,
        "priority": None,
        "priority_text": None,
    }
    if failed:
        return answer | {"text": UNAVAILABLE}
    if found.intent is None:
        return answer | {"text": NOTHING_FOUND}
    decision = policy.decide(
        category=found.category,
        reason="user_request",
        urgent_signal=found.urgent,
        created_at=utcnow(),
    )
    label = policy.category_label(found.category)
    shown = priority_text(policy, decision.priority)
    if found.unsure:
        text = f"系统不太确定，猜测是：{label} · {shown}。请您确认或改选类别。"
    else:
        text = f"系统建议：{label} · {shown}"
    return answer | {
        "category": found.category,
        "category_label": label,
        "unsure": found.unsure,
        "priority": decision.priority,
        "priority_text": shown,
        "text": text,
    }


def _intake_form(request: Request) -> dict[str, Any]:
    return {
        "caller": _field(request, "caller", MAX_CALLER),
        "said": _field(request, "said", phone.MAX_SAID + 1),
        "called_at": _field(request, "called_at", MAX_TIME),
        "category": _field(request, "category", MAX_CATEGORY),
        "urgent": request.form.get("urgent") == "1",
        "unsure": request.form.get("unsure") == "1",
    }


def _intake_page(
    request: Request,
    person: Staff,
    form: Mapping[str, Any],
    *,
    status: int = 200,
    error: str | None = None,
    suggested: Mapping[str, Any] | None = None,
) -> HTTPResponse:
    nonce = secrets.token_urlsafe(16)
    return _secured(
        render(
            "call_new.html",
            request,
            status=status,
            me=person,
            form=form,
            error=error,
            suggested=suggested,
            priorities=priority_table(load_policy(), utcnow()),
            nonce=nonce,
        ),
        nonce,
    )


@routes.get("/calls/new")
@ticket_workers_only
async def new_call(request: Request, person: Staff) -> HTTPResponse:
    empty = {
        "caller": "",
        "said": "",
        "called_at": phone.local_input(utcnow()),
        "category": "",
        "urgent": False,
        "unsure": False,
    }
    return _intake_page(request, person, empty)


@routes.post("/calls/new")
@ticket_forms
async def register_call(request: Request, person: Staff) -> HTTPResponse:
    """The ticket of the call, then its page; or the form again, as filled in, with what to
    correct. The form's 「识别问题类别」 button, without the page's script, sends the form here
    (``suggest``): the same form comes back with the suggestion chosen."""
    form = _intake_form(request)
    if request.form.get("suggest"):
        if not form["said"].strip():
            return _intake_page(request, person, form, status=400, error=NOTHING_SAID)
        found = await suggestion(request, form["said"])
        if found["category"]:  # the guess chosen, marked for a colleague when unsure
            form["category"] = found["category"]
            form["unsure"] = found["unsure"]
        form["urgent"] = form["urgent"] or found["urgent"]
        return _intake_page(request, person, form, suggested=found)
    try:
        ticket = await asyncio.to_thread(
            phone.create_phone_ticket,
            caller=form["caller"],
            said=form["said"],
            called_at=phone.read_local_input(form["called_at"]),
            category=form["category"],
            urgent=form["urgent"],
            category_unsure=form["unsure"],
            actor=person,
        )
    except workflow.WorkflowError as exc:
        return _intake_page(request, person, form, status=400, error=str(exc))
    return response.redirect(f"/console/tickets/{quote(ticket.number)}")


@routes.post("/calls/suggest")
@ticket_forms
async def suggest(request: Request, person: Staff) -> HTTPResponse:
    """The suggestion as JSON, for the form's script."""
    said = _field(request, "said", phone.MAX_SAID).strip()
    if not said:
        return response.json({"error": NOTHING_SAID}, status=400, ensure_ascii=False)
    found = await suggestion(request, said)
    return response.json(found, ensure_ascii=False, headers={"Cache-Control": "no-store"})


# --- the follow-up calls -----------------------------------------------------------------------


async def _calls_page(
    request: Request,
    person: Staff,
    *,
    status: int = 200,
    reveal: str | None = None,
    notice: str | None = None,
    error: str | None = None,
    failed: str | None = None,
    kept: Mapping[str, Any] | None = None,
) -> HTTPResponse:
    tasks = await asyncio.to_thread(phone.calls_due, reveal=reveal)
    nonce = secrets.token_urlsafe(16)
    return _secured(
        render(
            "calls.html",
            request,
            status=status,
            me=person,
            tasks=tasks,
            notice=notice,
            error=error,
            failed=failed,
            kept=kept or {},
            aspects=[(aspect, ASPECT_LABELS[aspect]) for aspect in ASPECTS],
            nonce=nonce,
        ),
        nonce,
    )


@routes.get("/calls")
@ticket_workers_only
async def calls(request: Request, person: Staff) -> HTTPResponse:
    notice = None
    number = (request.args.get("done") or "")[:32]
    outcome = request.args.get("outcome") or ""
    if number and outcome in OUTCOME_NOTICES:
        attempts = request.args.get("attempts") or ""
        notice = OUTCOME_NOTICES[outcome].format(
            number=number, attempts=attempts if attempts.isdigit() else "1"
        )
    return await _calls_page(request, person, notice=notice)


@routes.post("/calls/<number>/reveal")
@ticket_forms
async def reveal_caller(request: Request, person: Staff, number: str) -> HTTPResponse:
    """The list with this caller's full number, once the view is in the audit trail."""
    number = number[:32]
    try:
        await asyncio.to_thread(workflow.reveal_contact, number, person)
    except workflow.WorkflowError as exc:
        return message(request, person, str(exc), 404)
    return await _calls_page(request, person, reveal=number)


def _scores(request: Request) -> dict[str, int]:
    scores = {}
    for aspect in ASPECTS:
        value = (request.form.get(f"score_{aspect}") or "").strip()[:2]
        if not value:
            continue  # the user did not rate this one
        if not value.isdigit():
            raise workflow.WorkflowError(f"{ASPECT_LABELS[aspect]}的评分必须是 1 到 5 分")
        scores[aspect] = int(value)
    return scores


@routes.post("/calls/<number>")
@ticket_forms
async def record_call(request: Request, person: Staff, number: str) -> HTTPResponse:
    """How the follow-up call went; back to the list with what was recorded, or the list
    again with this ticket's form as filled in and what to correct."""
    number = number[:32]
    reached_value = request.form.get("reached") or ""
    solved_value = request.form.get("solved") or ""
    comment = _field(request, "comment", phone.MAX_CALL_NOTE + 1)
    kept = {
        "reached": reached_value,
        "solved": solved_value,
        "comment": comment,
        **{aspect: (request.form.get(f"score_{aspect}") or "")[:2] for aspect in ASPECTS},
    }
    try:
        if reached_value not in ("1", "0"):
            raise workflow.WorkflowError("请选择这次电话是否接通")
        reached = reached_value == "1"
        solved = {"1": True, "0": False}.get(solved_value)
        done = await asyncio.to_thread(
            phone.record_follow_up_call,
            number,
            person,
            reached=reached,
            solved=solved,
            scores=_scores(request) if reached else {},
            comment=comment,
        )
    except workflow.TicketNotFound as exc:
        return message(request, person, str(exc), 404)
    except workflow.WorkflowError as exc:
        return await _calls_page(
            request,
            person,
            status=400,
            error=f"工单 {number} 的回访没有记录：{exc}",
            failed=number,
            kept=kept,
        )
    return response.redirect(
        f"/console/calls?done={quote(done.number)}&outcome={done.outcome}&attempts={done.attempts}"
    )
