"""Who may use a console page or API call: decorators that find the logged-in staff member
(session cookie for pages, bearer token for the API) and refuse everyone else."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from tickets import staff as staff_accounts
from tickets.staff import Staff
from web.console.pages import STALE_FORM, message
from web.console.sessions import COOKIE, csrf_token, read_session, same_token

EDITOR_REFUSAL = "抱歉，内容编辑账号只能查看手册流程图，不能查看工单、用户的对话记录和联系方式。"
API_TOKEN_NEEDED = "需要有效的 API token（Authorization: Bearer ...）"

_P = ParamSpec("_P")
#: A console handler, given the staff member after the request.
StaffHandler = Callable[Concatenate[Request, Staff, _P], Coroutine[Any, Any, HTTPResponse]]
#: The handler Sanic calls: the request, then the route's parameters.
RouteHandler = Callable[Concatenate[Request, _P], Coroutine[Any, Any, HTTPResponse]]


def current_staff(request: Request) -> Staff | None:
    """The staff member of the request's session cookie; sets the forms' CSRF token."""
    value = request.cookies.get(COOKIE)
    staff_id = read_session(value)
    if staff_id is None or value is None:
        return None
    person = staff_accounts.get_staff(staff_id)
    if person is not None:
        request.ctx.csrf = csrf_token(value)
    return person


def form_ok(request: Request) -> bool:
    """The posted form carries this session's CSRF token."""
    return same_token(request.form.get("csrf") or "", getattr(request.ctx, "csrf", None))


def staff_page(
    allowed: Callable[[Staff], bool], refusal: str, *, form: bool = False
) -> Callable[[StaffHandler[_P]], RouteHandler[_P]]:
    """A page for logged-in staff that ``allowed`` admits: anonymous visitors are sent to the
    login, other staff get ``refusal`` (403); with ``form``, a POST without this session's
    CSRF token is refused as stale (403)."""

    def wrap(handler: StaffHandler[_P]) -> RouteHandler[_P]:
        @functools.wraps(handler)
        async def page(request: Request, /, *args: _P.args, **kwargs: _P.kwargs) -> HTTPResponse:
            person = current_staff(request)
            if person is None:
                return response.redirect("/console/login")
            if not allowed(person):
                return message(request, person, refusal, 403)
            if form and not form_ok(request):
                return message(request, person, STALE_FORM, 403)
            return await handler(request, person, *args, **kwargs)

        return page

    return wrap


def api_error(text: str, status: int) -> HTTPResponse:
    return response.json({"error": text}, status=status, ensure_ascii=False)


def api_call(
    allowed: Callable[[Staff], bool], refusal: str
) -> Callable[[StaffHandler[_P]], RouteHandler[_P]]:
    """A JSON API call with ``Authorization: Bearer <token>``: no usable token is 401, staff
    that ``allowed`` does not admit get ``refusal`` (403)."""

    def wrap(handler: StaffHandler[_P]) -> RouteHandler[_P]:
        @functools.wraps(handler)
        async def call(request: Request, /, *args: _P.args, **kwargs: _P.kwargs) -> HTTPResponse:
            header = request.headers.get("authorization") or ""
            person = None
            if header.lower().startswith("bearer "):
                person = staff_accounts.staff_for_token(header[7:].strip())
            if person is None:
                return api_error(API_TOKEN_NEEDED, 401)
            if not allowed(person):
                return api_error(refusal, 403)
            return await handler(request, person, *args, **kwargs)

        return call

    return wrap


def _works_tickets(person: Staff) -> bool:
    return person.works_tickets


def _is_supervisor(person: Staff) -> bool:
    return person.is_supervisor


def _sees_flows(person: Staff) -> bool:
    return person.sees_flows


#: Tickets, transcripts and contact details: agents and supervisors, never editors.
ticket_workers_only = staff_page(_works_tickets, EDITOR_REFUSAL)
ticket_forms = staff_page(_works_tickets, EDITOR_REFUSAL, form=True)
ticket_api = api_call(_works_tickets, EDITOR_REFUSAL)


def supervisors_only(
    refusal: str, *, form: bool = False
) -> Callable[[StaffHandler[_P]], RouteHandler[_P]]:
    return staff_page(_is_supervisor, refusal, form=form)


def flow_readers_only(
    refusal: str, *, form: bool = False
) -> Callable[[StaffHandler[_P]], RouteHandler[_P]]:
    """The flow diagrams and the inbox: supervisors and editors."""
    return staff_page(_sees_flows, refusal, form=form)
