"""The follow-up page of an e-mail ticket (``/feedback/<token>``), linked from the follow-up
mail: opening it only shows the form (mail scanners open every link and must not vote); the
user's answer counts once they confirm it (a POST). The token is signed
(``tickets.follow_up_links``) and names the one ticket it may answer. Every word the user
reads is a response in ``domain.yml``."""

from __future__ import annotations

import asyncio
import logging

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from playbook.domain import DomainUnreadable, domain_texts
from tickets import follow_up, follow_up_links, workflow
from understanding.ratings import ASPECT_LABELS, ASPECTS
from web.console.pages import templates

logger = logging.getLogger(__name__)
routes = Blueprint("feedback_pages")
MAX_COMMENT = 2000
#: The page's words (domain.yml responses).
PAGE_TEXTS = (
    "utter_feedback_title",
    "utter_feedback_intro",
    "utter_feedback_solved_question",
    "utter_feedback_solved_yes",
    "utter_feedback_solved_no",
    "utter_feedback_score",
    "utter_feedback_comment_label",
    "utter_feedback_submit",
    "utter_feedback_choose_first",
    "utter_feedback_thanks_closed",
    "utter_feedback_thanks_reopened",
    "utter_feedback_done",
    "utter_feedback_invalid",
)


def _texts(number: str) -> dict[str, str]:
    try:
        responses = domain_texts().responses
    except DomainUnreadable as exc:
        logger.error("follow-up page texts unavailable: %s", exc)
        responses = {}
    return {
        name.removeprefix("utter_feedback_"): responses.get(name, "").replace(
            "{ticket_number}", number
        )
        for name in PAGE_TEXTS
    }


def _page(status: int = 200, *, number: str = "", **values: object) -> HTTPResponse:
    page = templates.get_template("public/feedback.html").render(
        aspects=ASPECTS, aspect_labels=ASPECT_LABELS, t=_texts(number), **values
    )
    return response.html(
        page,
        status=status,
        headers={
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",  # the token must not leave in a Referer
            "X-Frame-Options": "DENY",
        },
    )


async def _ticket(token: str) -> follow_up.FollowUp | None:
    try:
        number = follow_up_links.read_token(token[:200])
    except follow_up_links.NoLinkSecret:
        logger.error("a follow-up link was opened but no link secret is set")
        return None
    if number is None:
        return None
    return await asyncio.to_thread(follow_up.follow_up_of, number)


@routes.get("/feedback/<token>")
async def feedback_form(request: Request, token: str) -> HTTPResponse:
    found = await _ticket(token)
    if found is None:
        return _page(410, invalid=True)
    return _page(number=found.number, ticket=found, token=token, done=found.status != "resolved")


@routes.post("/feedback/<token>")
async def feedback_answer(request: Request, token: str) -> HTTPResponse:
    found = await _ticket(token)
    if found is None:
        return _page(410, invalid=True)
    form = request.form or {}
    solved = (form.get("solved") or "")[:3]
    scores = {}
    for aspect in ASPECTS:
        value = (form.get(aspect) or "")[:1]
        if value in ("1", "2", "3", "4", "5"):
            scores[aspect] = int(value)
    number = found.number
    if form.get("confirm") != "1" or solved not in ("yes", "no"):
        return _page(400, number=number, ticket=found, token=token, error=True)
    try:
        status = await asyncio.to_thread(
            follow_up.record_answer,
            found.number,
            solved=solved == "yes",
            scores=scores,
            comment=(form.get("comment") or "")[:MAX_COMMENT],
            how="回访邮件的链接",
        )
    except workflow.WorkflowError:
        return _page(number=number, ticket=found, token=token, done=True)
    reopened = status == "in_progress"
    return _page(number=number, ticket=found, token=token, thanks=True, reopened=reopened)
