"""The support console at /console/: staff log in, see the queue, open a ticket, work it;
supervisors and content editors see the playbooks as flow diagrams with real counts, and the
inbox of messages the assistant misunderstood, which they file as training data.

Server-rendered Jinja2 pages with auto-escaping; a signed HttpOnly, SameSite=Strict session
cookie; a CSRF token on every form; every change goes through ``tickets.workflow`` (tickets) or
``tickets.labels`` (training labels) and so lands in an audit trail with its author. Editors
(role ``editor``) see only the flow diagrams and the inbox (masked messages, no conversation
ids): no tickets, transcripts, contact details, dashboard or export.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import logging
import os
import secrets
import time
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, cast, overload
from urllib.parse import quote

import aiohttp
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy import case, func, select
from sqlalchemy.exc import SQLAlchemyError

from actions.registry import default_registry
from editing import labels as label_files
from editing.project import Project
from playbook.model import MAX_ANSWER_PHRASE_CHARS, Playbook
from playbook.registry import PlaybookRegistry
from playbook.sourcefile import PROJECT_ROOT
from tickets import config as ticket_config
from tickets import labels as label_audit
from tickets import metrics, workflow
from tickets import staff as staff_accounts
from tickets.db import session_scope
from tickets.models import TICKET_STATUSES, StaffUser, Ticket, TicketEvent, utcnow
from tickets.policy import load_policy
from tickets.privacy import mask_email, mask_phone, redact
from tickets.staff import Staff, StaffError
from understanding.normalize import normalize
from web import flows, inbox

logger = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent
COOKIE = "dy_console"
SESSION_SECONDS = 8 * 3600
templates = Environment(
    loader=FileSystemLoader(str(ROOT / "templates")), autoescape=select_autoescape(["html"])
)
console = Blueprint("console", url_prefix="/console")


def _secret() -> bytes:
    """CONSOLE_SECRET, or a random one kept in var/ (so sessions survive a restart)."""
    if os.environ.get("CONSOLE_SECRET"):
        return os.environ["CONSOLE_SECRET"].encode("utf-8")
    path = PROJECT_ROOT / "var" / "console_secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip().encode("utf-8")


def _sign(text: str) -> str:
    return hmac.new(_secret(), text.encode("utf-8"), hashlib.sha256).hexdigest()


def make_session(staff_id: int) -> str:
    body = f"{staff_id}.{int(time.time()) + SESSION_SECONDS}"
    return f"{body}.{_sign(body)}"


def read_session(value: str | None) -> tuple[int, str] | None:
    """(staff id, session value) for a valid, unexpired cookie."""
    try:
        staff_id, expires, signature = (value or "").split(".")
        if not hmac.compare_digest(signature, _sign(f"{staff_id}.{expires}")):
            return None
        if int(expires) < time.time():
            return None
        return int(staff_id), value  # type: ignore[return-value]
    except ValueError:
        return None


def csrf_token(session_value: str) -> str:
    return _sign("csrf:" + session_value)


def current_staff(request: Request) -> Staff | None:
    session = read_session(request.cookies.get(COOKIE))
    if session is None:
        return None
    person = staff_accounts.get_staff(session[0])
    if person is not None:
        request.ctx.csrf = csrf_token(session[1])
    return person


def render(name: str, request: Request, status: int = 200, **values: Any) -> HTTPResponse:
    page = templates.get_template(f"console/{name}").render(
        csrf=getattr(request.ctx, "csrf", ""), policy=load_policy(), **values
    )
    return response.html(page, status=status, headers={"Cache-Control": "no-store"})


def _form_ok(request: Request) -> bool:
    token: str = request.form.get("csrf") or ""
    expected: str | None = getattr(request.ctx, "csrf", None)
    if not expected:
        return False
    return hmac.compare_digest(token, expected)


@overload
def _local(moment: datetime) -> datetime: ...
@overload
def _local(moment: None) -> None: ...
def _local(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.astimezone(ticket_config.DISPLAY_TZ)  # stored and read in UTC (UTCDateTime)


templates.filters["local"] = lambda m: _local(m).strftime("%m-%d %H:%M") if m else ""


def _local_iso(text: str | None) -> str:
    if text is None:  # as datetime.fromisoformat(None) would: a TypeError, shown as ""
        return ""
    try:
        return _local(datetime.fromisoformat(text)).strftime("%m-%d %H:%M:%S")
    except (TypeError, ValueError):
        return ""


templates.filters["local_iso"] = _local_iso


# --- login ------------------------------------------------------------------------------------

LOGIN_COOKIE = "dy_console_login"


def _login_form(request: Request, status: int = 200, **values: Any) -> HTTPResponse:
    """The login page with a fresh double-submit CSRF token (cookie + hidden field)."""
    token = secrets.token_hex(16)
    request.ctx.csrf = token
    page = render("login.html", request, status=status, **values)
    page.cookies[LOGIN_COOKIE] = token
    page.cookies[LOGIN_COOKIE]["httponly"] = True
    page.cookies[LOGIN_COOKIE]["samesite"] = "Strict"
    page.cookies[LOGIN_COOKIE]["path"] = "/console"
    return page


@console.get("/login")
async def login_page(request: Request) -> HTTPResponse:
    return _login_form(request)


@console.post("/login")
async def login(request: Request) -> HTTPResponse:
    username = (request.form.get("username") or "")[:64]
    password = (request.form.get("password") or "")[:256]
    expected = request.cookies.get(LOGIN_COOKIE) or ""
    if not expected or not hmac.compare_digest(request.form.get("csrf") or "", expected):
        return _login_form(
            request, status=403, error="登录页面已过期，请重新输入", username=username
        )
    try:
        person = await asyncio.to_thread(staff_accounts.authenticate, username, password)
    except StaffError as exc:
        return _login_form(request, status=401, error=str(exc), username=username)
    reply = response.redirect("/console/" if person.works_tickets else "/console/playbooks")
    reply.cookies[COOKIE] = make_session(person.id)
    reply.cookies[COOKIE]["httponly"] = True
    reply.cookies[COOKIE]["samesite"] = "Strict"
    reply.cookies[COOKIE]["path"] = "/console"
    reply.cookies[COOKIE]["max-age"] = SESSION_SECONDS
    logger.info("staff %s logged in", person.username)
    return reply


@console.post("/logout")
async def logout(request: Request) -> HTTPResponse:
    person = current_staff(request)
    if person is not None and not _form_ok(request):
        return render(
            "message.html", request, status=403, me=person, text="表单已过期，请刷新页面后重试"
        )
    reply = response.redirect("/console/login")
    del reply.cookies[COOKIE]  # type: ignore[no-untyped-call]  # sanic 21.12: CookieJar untyped
    return reply


# --- who may see what ---------------------------------------------------------------------------

EDITOR_REFUSAL = "抱歉，内容编辑账号只能查看手册流程图，不能查看工单、用户的对话记录和联系方式。"


_P = ParamSpec("_P")
#: A console page's handler, given the logged-in staff member after the request.
StaffHandler = Callable[Concatenate[Request, Staff, _P], Coroutine[Any, Any, HTTPResponse]]
#: The handler Sanic calls: the request, then the route's parameters.
PageHandler = Callable[Concatenate[Request, _P], Coroutine[Any, Any, HTTPResponse]]


def staff_page(
    allowed: Callable[[Staff], bool], refusal: str
) -> Callable[[StaffHandler[_P]], PageHandler[_P]]:
    """A console page for logged-in staff that ``allowed`` admits; anonymous visitors are
    sent to the login, other staff get ``refusal`` (403)."""

    def wrap(handler: StaffHandler[_P]) -> PageHandler[_P]:
        @functools.wraps(handler)
        async def page(request: Request, /, *args: _P.args, **kwargs: _P.kwargs) -> HTTPResponse:
            person = current_staff(request)
            if person is None:
                return response.redirect("/console/login")
            if not allowed(person):
                return render("message.html", request, status=403, me=person, text=refusal)
            return await handler(request, person, *args, **kwargs)

        return page

    return wrap


def supervisors_only(refusal: str) -> Callable[[StaffHandler[_P]], PageHandler[_P]]:
    """A console page for logged-in supervisors; others are sent to the login or refused."""
    return staff_page(lambda person: person.is_supervisor, refusal)


#: Tickets, transcripts and contact details: agents and supervisors, never editors.
ticket_workers_only = staff_page(lambda person: person.works_tickets, EDITOR_REFUSAL)


# --- the queue --------------------------------------------------------------------------------

QUEUE_STATUSES = ("open", "assigned", "in_progress")


def queue_rows(filters: dict[str, str]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    policy = load_policy()
    rank = case(
        {name: level.rank for name, level in policy.levels.items()}, value=Ticket.priority, else_=99
    )
    with session_scope() as session:
        query = select(Ticket, StaffUser.username).join(
            StaffUser, Ticket.assignee_id == StaffUser.id, isouter=True
        )
        status = filters.get("status")
        query = (
            query.where(Ticket.status == status)
            if status in ticket_statuses()
            else query.where(Ticket.status.in_(QUEUE_STATUSES))
        )
        if filters.get("priority") in policy.levels:
            query = query.where(Ticket.priority == filters["priority"])
        if filters.get("category") in policy.categories:
            query = query.where(Ticket.category == filters["category"])
        if filters.get("assignee"):
            query = query.where(StaffUser.username == filters["assignee"][:64])
        rows = session.execute(query.order_by(rank, Ticket.sla_due_at).limit(500)).all()
        counts = dict(
            session.execute(select(Ticket.status, func.count()).group_by(Ticket.status)).all()
        )
    now = utcnow()
    items = [
        {
            "t": t,
            "assignee": name,
            "overdue": t.status in QUEUE_STATUSES and _local(t.sla_due_at) < now,
        }
        for t, name in rows
    ]
    return items, counts


def ticket_statuses() -> tuple[str, ...]:
    return TICKET_STATUSES


@console.get("/")
@ticket_workers_only
async def queue(request: Request, person: Staff) -> HTTPResponse:
    filters = {k: request.args.get(k, "") for k in ("status", "priority", "category", "assignee")}
    items, counts = await asyncio.to_thread(queue_rows, filters)
    return render(
        "queue.html",
        request,
        me=person,
        items=items,
        counts=counts,
        filters=filters,
        statuses=ticket_statuses(),
        refresh_ms=int(os.environ.get("CONSOLE_REFRESH_MS", "20000")),
    )


# --- one ticket -------------------------------------------------------------------------------


def ticket_view(number: str, reveal: bool = False) -> dict[str, Any] | None:
    with session_scope() as session:
        row = session.execute(
            select(Ticket, StaffUser.username)
            .join(StaffUser, Ticket.assignee_id == StaffUser.id, isouter=True)
            .where(Ticket.number == number)
        ).first()
        if row is None:
            return None
        ticket, assignee = row
        session.expunge(ticket)
    contact = {"phone": ticket.contact_phone, "email": ticket.contact_email}
    if not reveal:
        contact = {
            "phone": ticket.contact_phone and mask_phone(ticket.contact_phone),
            "email": ticket.contact_email and mask_email(ticket.contact_email),
        }
    return {
        "t": ticket,
        "assignee": assignee,
        "contact": contact,
        "trail": workflow.audit_trail(number),
        "next": sorted(workflow.TRANSITIONS[ticket.status]),
    }


@console.get("/tickets/<number>")
@ticket_workers_only
async def ticket_page(request: Request, person: Staff, number: str) -> HTTPResponse:
    view = await asyncio.to_thread(ticket_view, number[:32])
    if view is None:
        return render("message.html", request, status=404, me=person, text="工单不存在")
    return render("ticket.html", request, me=person, error=request.args.get("error"), **view)


async def push_to_user(sender_id: str, text: str) -> bool:
    """Deliver a staff reply into the user's conversation through Rasa's HTTP API."""
    return await trigger(sender_id, "EXTERNAL_staff_message", {"staff_message": text})


async def trigger(sender_id: str, intent: str, entities: dict[str, str]) -> bool:
    """Send an external event into the user's conversation (live to an open widget)."""
    url = os.environ.get("RASA_URL") or f"http://127.0.0.1:{os.environ.get('RASA_PORT', '5005')}"
    params = {"output_channel": "latest"}
    if os.environ.get("RASA_AUTH_TOKEN"):
        params["token"] = os.environ["RASA_AUTH_TOKEN"]
    body = {"name": intent, "entities": entities}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
            async with session.post(
                f"{url}/conversations/{sender_id}/trigger_intent", params=params, json=body
            ) as reply:
                return reply.status == 200
    except (aiohttp.ClientError, asyncio.TimeoutError):
        return False


@console.post("/tickets/<number>/<action>")
@ticket_workers_only
async def ticket_action(request: Request, person: Staff, number: str, action: str) -> HTTPResponse:
    if not _form_ok(request):
        return render(
            "message.html", request, status=403, me=person, text="表单已过期，请刷新页面后重试"
        )
    number = number[:32]
    form = request.form
    error = None
    view: dict[str, Any] | None
    try:
        if action == "claim":
            await asyncio.to_thread(workflow.claim, number, person)
        elif action == "status":
            to = form.get("to", "")
            await asyncio.to_thread(workflow.transition, number, person, to, form.get("note", ""))
            if to == "resolved":  # the follow-up visit: the user is asked to confirm and rate
                # the transition found the ticket, and tickets are never deleted
                view = cast(dict[str, Any], await asyncio.to_thread(ticket_view, number))
                if not await trigger(
                    view["t"].sender_id, "EXTERNAL_ticket_resolved", {"ticket_number": number}
                ):
                    error = "工单已标记为已解决，但暂时无法向用户发出回访（客服助手未响应）"
        elif action == "note":
            await asyncio.to_thread(workflow.add_note, number, person, form.get("text", ""))
        elif action == "assign":
            await asyncio.to_thread(workflow.assign, number, person, form.get("assignee", ""))
        elif action == "priority":
            await asyncio.to_thread(
                workflow.change_priority,
                number,
                person,
                form.get("priority", ""),
                form.get("reason", ""),
            )
        elif action == "reply":
            text = (form.get("text") or "").strip()
            view = await asyncio.to_thread(ticket_view, number)
            if view is None:
                raise workflow.WorkflowError("工单不存在")
            await asyncio.to_thread(workflow.record_reply, number, person, text)
            if not await push_to_user(view["t"].sender_id, text[:2000]):
                error = "回复已记录，但暂时无法送达用户的对话（客服助手未响应），请稍后重试"
        elif action == "reveal":
            await asyncio.to_thread(_log_reveal, number, person)  # refuses an unknown ticket
            view = cast(dict[str, Any], await asyncio.to_thread(ticket_view, number, True))
            return render("ticket.html", request, me=person, **view)
        else:
            return render("message.html", request, status=404, me=person, text="未知操作")
    except workflow.WorkflowError as exc:
        error = str(exc)
    target = f"/console/tickets/{number}"
    if error:
        target += "?error=" + quote(error)
    return response.redirect(target)


def _log_reveal(number: str, person: Staff) -> None:
    with session_scope() as session:
        ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar()
        if ticket is None:
            raise workflow.WorkflowError("工单不存在")
        session.add(
            TicketEvent(
                ticket_id=ticket.id,
                actor_id=person.id,
                kind="contact_view",
                detail={},
                created_at=utcnow(),
            )
        )


# --- supervisors: the dashboard and the CSV export ----------------------------------------------


@console.get("/dashboard")
@supervisors_only("只有主管可以查看统计看板")
async def dashboard(request: Request, person: Staff) -> HTTPResponse:
    figures = await asyncio.to_thread(metrics.compute)
    return render("dashboard.html", request, me=person, m=figures)


@console.get("/export.csv")
@supervisors_only("只有主管可以导出数据")
async def export_csv(request: Request, person: Staff) -> HTTPResponse:
    body = await asyncio.to_thread(metrics.tickets_csv)
    return response.text(
        body,
        content_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="tickets.csv"',
            "Cache-Control": "no-store",
        },
    )


# --- supervisors and editors: the playbooks as flow diagrams ------------------------------------

#: The flow pages draw editors' text with Mermaid: only this site's scripts may run.
FLOW_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
flow_readers_only = staff_page(
    lambda person: person.sees_flows, "抱歉，手册流程图只对主管和内容编辑开放。"
)


def playbook_registry() -> PlaybookRegistry:
    """The playbooks, loaded on first use and reloaded when a file changes."""
    return default_registry()


def flow_overview() -> dict[str, Any]:
    """Live playbooks, their statistics from the tracker store, and the files refused."""
    registry = playbook_registry()
    playbooks = registry.all()
    note = None
    idle = flows.idle_seconds()
    try:
        stats = flows.flow_stats(playbooks, flows.tracker_store_url(), idle_seconds=idle)
    except SQLAlchemyError as exc:
        logger.warning(
            "flow statistics unavailable: tracker store not readable (%s)", type(exc).__name__
        )
        stats, note = {}, "暂时无法读取对话记录库，下面只显示流程图，请稍后刷新。"
    sources = {p.source for p in playbooks}
    broken = []
    for path, problems in sorted(registry.errors.items()):
        shown = (
            os.path.relpath(path, PROJECT_ROOT) if Path(path).is_relative_to(PROJECT_ROOT) else path
        )
        broken.append({"file": shown, "problems": problems, "older_live": shown in sources})
    return {
        "playbooks": playbooks,
        "stats": stats,
        "broken": broken,
        "idle_minutes": round(idle / 60),
        "note": note or (None if stats else "暂无对话数据"),
    }


def step_rows(playbook: Playbook, stats: flows.PlaybookStats | None) -> list[dict[str, Any]]:
    """One row per step shown to users (branches are choices, not steps)."""
    rows: list[dict[str, Any]] = []
    for step in playbook.steps.values():
        if step.branch is None:
            rows.append(
                {
                    "step": step,
                    "number": len(rows) + 1,
                    "n": (stats.steps.get(step.id) if stats else None) or flows.StepStats(),
                }
            )
    return rows


def branch_rows(playbook: Playbook, stats: flows.PlaybookStats | None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for step in playbook.steps.values():
        if step.branch is not None:
            cases = [*step.branch.cases.items(), ("其他", step.branch.default)]
            rows += [
                {
                    "branch": step,
                    "case": case,
                    "target": playbook.step(target),
                    "count": stats.branches.get((step.id, target), 0) if stats else 0,
                }
                for case, target in cases
            ]
    return rows


def _flow_page(name: str, request: Request, **values: Any) -> HTTPResponse:
    page = render(name, request, **values)
    page.headers["Content-Security-Policy"] = FLOW_CSP
    return page


@console.get("/playbooks")
@flow_readers_only
async def playbooks_page(request: Request, person: Staff) -> HTTPResponse:
    overview = await asyncio.to_thread(flow_overview)
    return _flow_page("playbooks.html", request, me=person, **overview)


@console.get("/playbooks/<playbook_id>")
@flow_readers_only
async def playbook_page(request: Request, person: Staff, playbook_id: str) -> HTTPResponse:
    overview = await asyncio.to_thread(flow_overview)
    playbook = next((p for p in overview["playbooks"] if p.id == playbook_id[:64]), None)
    if playbook is None:
        return render(
            "message.html",
            request,
            status=404,
            me=person,
            text="找不到这本手册：它可能已改名、被删除，或者文件未通过检查。",
        )
    stats = overview["stats"].get(playbook.id)
    return _flow_page(
        "playbook.html",
        request,
        me=person,
        p=playbook,
        s=stats,
        note=overview["note"],
        idle_minutes=overview["idle_minutes"],
        source=flows.mermaid(playbook, stats),
        rows=step_rows(playbook, stats),
        branches=branch_rows(playbook, stats),
    )


# --- supervisors and editors: the inbox of misunderstandings -----------------------------------

inbox_readers_only = staff_page(
    lambda person: person.sees_flows, "抱歉，误解收件箱只对主管和内容编辑开放。"
)
#: The inbox page runs no script at all.
INBOX_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)


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
        box = inbox.inbox(flows.tracker_store_url())
    except SQLAlchemyError as exc:
        logger.warning("inbox unavailable: tracker store not readable (%s)", type(exc).__name__)
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
            g.key: next((written[f] for f in g.forms if f in written), None) for g in groups
        },
        "intents": label_files.label_intents(project),
        "steps": label_files.label_steps(project),
        "recent": recent[:20],
        "note": note,
        "result": label_audit.get_label(result_id) if result_id else None,
        "max_example": label_files.MAX_EXAMPLE_CHARS,
        "max_answer": MAX_ANSWER_PHRASE_CHARS,
    }


@console.get("/inbox")
@inbox_readers_only
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
        return label_audit.record_label(
            person,
            kind=kind,
            target=target[:160],
            text=redact(" ".join(text.split())),
            outcome="refused",
            message=str(exc),
        )
    except (OSError, UnicodeError) as exc:
        logger.error(
            "label not written: training file unreadable or not writable (%s)", type(exc).__name__
        )
        return label_audit.record_label(
            person,
            kind=kind,
            target=target[:160],
            text=redact(" ".join(text.split())),
            outcome="refused",
            message=f"无法读写训练文件（{type(exc).__name__}），这条标注没有写入，"
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


@console.post("/inbox/label")
@inbox_readers_only
async def inbox_label(request: Request, person: Staff) -> HTTPResponse:
    if not _form_ok(request):
        return render(
            "message.html", request, status=403, me=person, text="表单已过期，请刷新页面后重试"
        )
    form = {
        key: (request.form.get(key) or "")[:100_000]  # far more than any label: refused
        for key in ("kind", "text", "intent", "step", "label")
    }
    if form["kind"] not in label_audit.KINDS:
        return render(
            "message.html",
            request,
            status=400,
            me=person,
            text="请选择写入方式：作为意图的例句，或作为手册步骤的回答说法。",
        )
    label_id = await asyncio.to_thread(file_label, person, form)
    page = _page_number(request.form.get("page") or "1")
    return response.redirect(f"/console/inbox?page={page}&result={label_id}#result")


# --- the JSON API (token auth) ----------------------------------------------------------------


def api_staff(request: Request) -> Staff | None:
    header = request.headers.get("authorization") or ""
    if not header.lower().startswith("bearer "):
        return None
    return staff_accounts.staff_for_token(header[7:].strip())


def api_refusal(person: Staff | None) -> HTTPResponse | None:
    """The error answer for a request without a usable token or by an editor, else None."""
    if person is None:
        return _api_error("需要有效的 API token（Authorization: Bearer ...）", 401)
    if not person.works_tickets:
        return _api_error(EDITOR_REFUSAL, 403)
    return None


def _iso(moment: datetime | None) -> str | None:
    return _local(moment).isoformat() if moment else None


def ticket_json(t: Ticket, assignee: str | None, full: bool = False) -> dict[str, Any]:
    data = {
        "number": t.number,
        "category": t.category,
        "priority": t.priority,
        "status": t.status,
        "assignee": assignee,
        "reason": t.reason,
        "created_at": _iso(t.created_at),
        "sla_due_at": _iso(t.sla_due_at),
        "first_response_at": _iso(t.first_response_at),
        "resolved_at": _iso(t.resolved_at),
        "closed_at": _iso(t.closed_at),
    }
    if full:
        data.update(
            {
                "steps_tried": t.steps_tried,
                "transcript": t.transcript,
                "contact": {
                    "phone": t.contact_phone and mask_phone(t.contact_phone),
                    "email": t.contact_email and mask_email(t.contact_email),
                },
            }
        )
    return data


def _api_error(message: str, status: int) -> HTTPResponse:
    return response.json({"error": message}, status=status, ensure_ascii=False)


@console.get("/api/tickets")
async def api_list(request: Request) -> HTTPResponse:
    person = api_staff(request)
    refused = api_refusal(person)
    if refused is not None:
        return refused
    filters = {k: request.args.get(k, "") for k in ("status", "priority", "category", "assignee")}
    items, counts = await asyncio.to_thread(queue_rows, filters)
    return response.json(
        {
            "tickets": [
                ticket_json(i["t"], i["assignee"]) | {"overdue": i["overdue"]} for i in items
            ],
            "counts": counts,
        },
        ensure_ascii=False,
    )


@console.get("/api/tickets/<number>")
async def api_get(request: Request, number: str) -> HTTPResponse:
    person = api_staff(request)
    refused = api_refusal(person)
    if refused is not None:
        return refused
    view = await asyncio.to_thread(ticket_view, number[:32])
    if view is None:
        return _api_error("工单不存在", 404)
    body = ticket_json(view["t"], view["assignee"], full=True)
    body["audit"] = [
        {"kind": e["kind"], "actor": e["actor"], "detail": e["detail"], "at": _iso(e["at"])}
        for e in view["trail"]
    ]
    return response.json(body, ensure_ascii=False)


@console.post("/api/tickets/<number>/<action>")
async def api_change(request: Request, number: str, action: str) -> HTTPResponse:
    person = api_staff(request)
    refused = api_refusal(person)
    if refused is not None:
        return refused
    person = cast(Staff, person)  # api_refusal answered a request without a usable token
    body = request.json if isinstance(request.json, dict) else {}
    view: dict[str, Any] | None
    number = number[:32]
    try:
        if action == "status":
            to = str(body.get("to", ""))
            await asyncio.to_thread(
                workflow.transition, number, person, to, str(body.get("note", ""))
            )
            if to == "resolved":
                # the transition found the ticket, and tickets are never deleted
                view = cast(dict[str, Any], await asyncio.to_thread(ticket_view, number))
                await trigger(
                    view["t"].sender_id, "EXTERNAL_ticket_resolved", {"ticket_number": number}
                )
        elif action == "claim":
            await asyncio.to_thread(workflow.claim, number, person)
        elif action == "reply":
            text = str(body.get("text", "")).strip()
            view = await asyncio.to_thread(ticket_view, number)
            if view is None:
                return _api_error("工单不存在", 404)
            await asyncio.to_thread(workflow.record_reply, number, person, text)
            delivered = await push_to_user(view["t"].sender_id, text[:2000])
            return response.json({"ok": True, "delivered": delivered})
        else:
            return _api_error("未知操作", 404)
    except workflow.WorkflowError as exc:
        return _api_error(str(exc), 409)
    return response.json({"ok": True})
