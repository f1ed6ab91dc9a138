"""Spot checks (定期检查) in the console, for supervisors: the review queue (``/console/reviews``:
the samples waiting for a scorecard, oldest period first, the latest draws and reviews), a
draw on demand, and the scorecard itself. A ticket sample is scored on its ticket page (the
section ``#qa``, shown to supervisors while the ticket has a sample); a conversation the bot
resolved alone has its own small page: its outcome (playbook, the step that solved it, the
user's rating and comment) and its turns from the tracker store, phone numbers, e-mail
addresses and passwords masked, with no conversation id. Every review goes through
``tickets.quality.submit_review`` (which audits it on the ticket).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy import select

from actions.registry import default_registry
from playbook.sourcefile import SourceError
from tickets import quality, queries
from tickets.privacy import redact
from tickets.quality_policy import SCORES, QualityPolicy, load_quality_policy
from tickets.staff import Staff
from tickets.transcript import conversation_turns
from web import trackerstore
from web.console.auth import supervisors_only
from web.console.pages import message, render
from web.console.ticket_pages import ticket_view

logger = logging.getLogger(__name__)
routes = Blueprint("console_quality")

PAGE_REFUSAL = "抱歉，服务质量抽查只对主管开放。"
SUBMIT_REFUSAL = "抱歉，只有主管可以提交抽查评分。"
DRAW_REFUSAL = "抱歉，只有主管可以抽取抽查样本。"
#: The most turns a conversation page shows (the latest of its session).
MAX_TURNS = 200
#: The longest value taken from a form field, and the most score fields read.
MAX_SCORE_FIELD = 8
MAX_SCORE_FIELDS = 50


def policy_problem(exc: SourceError) -> str:
    return "抽查策略文件有误，请先修正后再使用抽查功能：" + "；".join(exc.problems)


@routes.get("/reviews")
@supervisors_only(PAGE_REFUSAL)
async def reviews_page(request: Request, person: Staff) -> HTTPResponse:
    try:
        policy = load_quality_policy()
    except SourceError as exc:
        return message(request, person, policy_problem(exc), 503)
    waiting = await asyncio.to_thread(quality.review_queue)
    recent = await asyncio.to_thread(quality.recent_reviews)
    draws = await asyncio.to_thread(quality.latest_draws)
    drawn = request.args.get("drawn")
    return render(
        "reviews.html",
        request,
        me=person,
        qa_policy=policy,
        queue=waiting,
        recent=recent,
        draws=draws,
        next_draw=policy.period_of(datetime.now(policy.offset)).ends_at,
        playbook_titles={p.id: p.title for p in default_registry().all()},
        drawn=int(drawn) if drawn is not None and drawn.isdigit() else None,
    )


@routes.post("/reviews/draw")
@supervisors_only(DRAW_REFUSAL, form=True)
async def draw_now(request: Request, person: Staff) -> HTTPResponse:
    """Draw every ended period that has no sample yet (what the hourly round does)."""
    try:
        made = await asyncio.to_thread(quality.draw_due, drawn_by=person)
    except SourceError as exc:
        return message(request, person, policy_problem(exc), 503)
    return response.redirect(f"/console/reviews?drawn={len(made)}")


@dataclass(frozen=True)
class Conversation:
    """A bot-only conversation as its review page shows it."""

    playbook: str | None
    step: str | None
    comment: str | None
    turns: list[dict[str, Any]]
    note: str | None


def _titles(sample: quality.SampleDetail) -> tuple[str | None, str | None]:
    """The playbook's and the solving step's titles (None when the playbook is gone)."""
    found = default_registry().get(sample.playbook) if sample.playbook else None
    if found is None:
        return None, None
    step = found.step(sample.resolved_step)
    return found.title, step.title if step else None


def conversation_of(sample: quality.SampleDetail) -> Conversation:
    """The outcome and, from the tracker store, the turns of the session the bot resolved it
    in (masked); a note instead when the store has no such conversation or cannot be read."""
    playbook, step = _titles(sample)
    comment = redact(sample.feedback_comment) if sample.feedback_comment else None
    turns: list[dict[str, Any]] = []
    note = None
    try:
        turns = _session_turns(sample.sender_id or "", sample.resolved_at)
        if not turns:
            note = "对话存储里没有找到这段对话的记录（可能已被清理），可以先根据解决结果评分。"
    except trackerstore.StoreUnreadable as exc:
        logger.warning("spot check: tracker store not readable (%s)", exc)
        note = "暂时无法读取对话记录库，请稍后刷新；也可以先根据解决结果评分。"
    return Conversation(playbook=playbook, step=step, comment=comment, turns=turns, note=note)


def _session_turns(sender_id: str, around: datetime | None) -> list[dict[str, Any]]:
    """The user and bot turns of ``sender_id``'s session that holds ``around``, masked."""
    if not sender_id:
        return []
    events = trackerstore.EVENTS.c
    with trackerstore.reading(trackerstore.tracker_store_url()) as engine:
        if engine is None:
            return []
        with engine.connect() as connection:
            rows = connection.execute(
                select(events.type_name, events.timestamp, events.action_name, events.data)
                .where(
                    events.sender_id == sender_id,
                    events.type_name.in_(["user", "bot", "action"]),
                )
                .order_by(events.id)
            ).all()
    sessions: list[list[Any]] = [[]]
    for row in rows:
        if row.type_name == "action" and row.action_name == "action_session_start":
            sessions.append([])
        sessions[-1].append(row)
    moment = around.timestamp() if around else None
    chosen = next(
        (
            session
            for session in reversed(sessions)
            if session and (moment is None or (session[0].timestamp or 0) <= moment)
        ),
        sessions[-1],
    )
    parsed = []
    for row in chosen:
        if row.type_name == "action":
            continue
        try:
            parsed.append(json.loads(row.data or "{}"))
        except ValueError:
            continue
    return [
        {"role": turn.role, "text": redact(turn.text), "at": turn.timestamp}
        for turn in conversation_turns(parsed)
    ][-MAX_TURNS:]


async def _bot_page(
    request: Request,
    person: Staff,
    sample: quality.SampleDetail,
    policy: QualityPolicy,
    *,
    status: int = 200,
    **values: Any,
) -> HTTPResponse:
    talk = await asyncio.to_thread(conversation_of, sample)
    return render(
        "review_bot.html",
        request,
        status=status,
        me=person,
        sample=sample,
        talk=talk,
        qa_policy=policy,
        scores=SCORES,
        **values,
    )


@routes.get("/reviews/<sample_id:int>")
@supervisors_only(PAGE_REFUSAL)
async def review_page(request: Request, person: Staff, sample_id: int) -> HTTPResponse:
    """A ticket sample is scored on its ticket page; a bot-only conversation here."""
    found = await asyncio.to_thread(quality.sample_detail, sample_id)
    if found is None:
        return message(request, person, "找不到这条抽查样本，请返回抽查列表重新选择。", 404)
    if found.kind == "ticket":
        return response.redirect(f"/console/tickets/{found.ticket_number}#qa")
    try:
        policy = load_quality_policy()
    except SourceError as exc:
        return message(request, person, policy_problem(exc), 503)
    return await _bot_page(
        request, person, found, policy, reviewed=request.args.get("reviewed") == "1"
    )


def _form_scores(request: Request) -> dict[str, str]:
    scores: dict[str, str] = {}
    for name in list(request.form)[:MAX_SCORE_FIELDS]:
        if name.startswith("score_"):
            scores[name[len("score_") :][:40]] = (request.form.get(name) or "")[:MAX_SCORE_FIELD]
    return scores


@routes.post("/reviews/<sample_id:int>")
@supervisors_only(SUBMIT_REFUSAL, form=True)
async def submit_review(request: Request, person: Staff, sample_id: int) -> HTTPResponse:
    """Record the scorecard; back to the ticket (or the conversation's page) with a notice, or
    the same page again with the form as filled in and what to correct."""
    scores = _form_scores(request)
    comment = (request.form.get("comment") or "")[: quality.MAX_COMMENT + 1]
    found = await asyncio.to_thread(quality.sample_detail, sample_id)
    if found is None:
        return message(request, person, "找不到这条抽查样本，请返回抽查列表重新选择。", 404)
    try:
        policy = load_quality_policy()
        await asyncio.to_thread(quality.submit_review, sample_id, person, scores, comment)
    except SourceError as exc:
        return message(request, person, policy_problem(exc), 503)
    except quality.QualityError as exc:
        return await _form_again(request, person, found, policy, str(exc), scores, comment)
    if found.kind == "ticket":
        return response.redirect(f"/console/tickets/{found.ticket_number}?reviewed=1")
    return response.redirect(f"/console/reviews/{sample_id}?reviewed=1")


async def _form_again(
    request: Request,
    person: Staff,
    sample: quality.SampleDetail,
    policy: QualityPolicy,
    error: str,
    scores: dict[str, str],
    comment: str,
) -> HTTPResponse:
    """The page of the sample, the refusal on top and the scorecard as it was filled in."""
    text = f"抽查评分没有提交：{error}"
    kept = {"qa_values": scores, "qa_comment": comment[: quality.MAX_COMMENT]}
    fresh = await asyncio.to_thread(quality.sample_detail, sample.id) or sample
    if sample.kind == "ticket" and sample.ticket_number:
        ticket = await asyncio.to_thread(queries.ticket_detail, sample.ticket_number)
        if ticket is not None:
            return await ticket_view(request, person, ticket, status=400, error=text, **kept)
        return message(request, person, "工单不存在", 404)
    return await _bot_page(request, person, fresh, policy, status=400, error=text, **kept)
