"""The inbox of messages the assistant misunderstood, for supervisors and editors, and the
labels they file from it as training data (each audited through ``tickets.labels``)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from actions.registry import default_registry
from editing import labels as label_files
from editing.project import Project
from playbook.model import MAX_ANSWER_PHRASE_CHARS
from tickets import labels as label_audit
from tickets.privacy import redact
from tickets.staff import Staff
from understanding.normalize import normalize
from web import inbox, trackerstore
from web.console.auth import flow_readers_only
from web.console.pages import message, render

logger = logging.getLogger(__name__)
routes = Blueprint("console_inbox")
INBOX_REFUSAL = "抱歉，误解收件箱只对主管和内容编辑开放。"
inbox_readers = flow_readers_only(INBOX_REFUSAL)
inbox_forms = flow_readers_only(INBOX_REFUSAL, form=True)
#: The inbox page runs no script at all.
INBOX_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
LABEL_FIELDS = ("kind", "text", "intent", "step", "label")
#: Far more than any label (such a text is refused with its reason, not cut).
MAX_FIELD = 100_000


def _page_number(value: Any) -> int:
    try:
        return max(1, min(int(str(value)[:6]), 100000))
    except ValueError:
        return 1


def inbox_view(page: int, result_id: int | None) -> dict[str, Any]:
    """One page of the inbox, what may be labelled, the latest labels and one label's result."""
    project = Project(label_files.project_dir())
    note = None
    try:
        playbooks = {p.id: p for p in default_registry().all()}
        box = inbox.inbox(trackerstore.tracker_store_url(), playbooks)
    except trackerstore.StoreUnreadable as exc:
        logger.warning("inbox unavailable: tracker store not readable (%s)", exc)
        box, note = (
            inbox.Inbox(groups=[], messages=0, conversations=0),
            "暂时无法读取对话记录库，请稍后刷新。",
        )
    label_files.prepare(project)  # the project's own problems, known before the first label
    recent = label_audit.latest_labels(200)
    written = {normalize(r.text): r for r in reversed(recent) if r.written}
    groups = box.page(page)
    return {
        "groups": groups,
        "box": box,
        "page": min(page, box.pages()),
        "pages": box.pages(),
        "labelled": {
            group.key: next((written[form] for form in group.forms if form in written), None)
            for group in groups
        },
        "intents": label_files.label_intents(project),
        "steps": label_files.label_steps(project),
        "recent": recent[:20],
        "note": note,
        "result": label_audit.get_label(result_id) if result_id else None,
        "max_example": label_files.MAX_EXAMPLE_CHARS,
        "max_answer": MAX_ANSWER_PHRASE_CHARS,
        "verdict_titles": label_files.VERDICT_TITLES,
    }


@routes.get("/inbox")
@inbox_readers
async def inbox_page(request: Request, person: Staff) -> HTTPResponse:
    result = request.args.get("result", "")
    view = await asyncio.to_thread(
        inbox_view,
        _page_number(request.args.get("page", "1")),
        _page_number(result) if result else None,
    )
    page = render("inbox.html", request, me=person, **view)
    page.headers["Content-Security-Policy"] = INBOX_CSP
    return page


def file_label(person: Staff, form: dict[str, str]) -> int:
    """Write (or refuse) one label from the inbox form and audit it; returns the audit id."""
    kind, text = form.get("kind", ""), form.get("text", "")
    target = (
        form.get("intent", "")
        if kind == "intent"
        else f"{form.get('step', '')}:{form.get('label', '')}"
    )
    project = Project(label_files.project_dir())
    try:
        if kind == "intent":
            outcome = label_files.add_example(project, form.get("intent", "")[:64], text)
        else:
            outcome = label_files.add_answer(
                project, form.get("step", "")[:160], form.get("label", "")[:16], text
            )
    except label_files.LabelRefused as exc:
        return _refused(person, kind, target, text, str(exc))
    except (OSError, UnicodeError) as exc:
        logger.error(
            "label not written: training file unreadable or not writable (%s)", type(exc).__name__
        )
        return _refused(
            person,
            kind,
            target,
            text,
            f"无法读写训练文件（{type(exc).__name__}），这条标注没有写入，"
            f"请联系管理员检查项目文件夹的权限。",
        )
    return label_audit.record_label(
        person,
        kind=kind,
        target=outcome.target,
        text=outcome.text,
        file=outcome.file,
        line=outcome.line,
        outcome="written" if outcome.written else "refused",
        message=outcome.validator_text,
    )


def _refused(person: Staff, kind: str, target: str, text: str, why: str) -> int:
    return label_audit.record_label(
        person,
        kind=kind,
        target=target[:160],
        text=redact(" ".join(text.split())),
        outcome="refused",
        message=why,
    )


@routes.post("/inbox/label")
@inbox_forms
async def inbox_label(request: Request, person: Staff) -> HTTPResponse:
    form = {key: (request.form.get(key) or "")[:MAX_FIELD] for key in LABEL_FIELDS}
    if form["kind"] not in label_audit.KINDS:
        return message(
            request,
            person,
            "请选择写入方式：作为意图的例句，或作为手册步骤的回答说法。",
            400,
        )
    label_id = await asyncio.to_thread(file_label, person, form)
    page = _page_number(request.form.get("page") or "1")
    return response.redirect(f"/console/inbox?page={page}&result={label_id}#result")
