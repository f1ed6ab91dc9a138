"""Logging in and out of the console (a double-submit CSRF token guards the login form)."""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from tickets import staff as staff_accounts
from tickets.staff import StaffError
from web.console.auth import current_staff, form_ok
from web.console.pages import STALE_FORM, message, render
from web.console.sessions import COOKIE, SESSION_SECONDS, make_session, same_token

logger = logging.getLogger(__name__)
LOGIN_COOKIE = "dy_console_login"
routes = Blueprint("console_login")


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


@routes.get("/login")
async def login_page(request: Request) -> HTTPResponse:
    return _login_form(request)


@routes.post("/login")
async def login(request: Request) -> HTTPResponse:
    username = (request.form.get("username") or "")[:64]
    password = (request.form.get("password") or "")[:256]
    expected = request.cookies.get(LOGIN_COOKIE) or ""
    if not same_token(request.form.get("csrf") or "", expected):
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


@routes.post("/logout")
async def logout(request: Request) -> HTTPResponse:
    person = current_staff(request)
    if person is not None and not form_ok(request):
        return message(request, person, STALE_FORM, 403)
    reply = response.redirect("/console/login")
    del reply.cookies[COOKIE]  # type: ignore[no-untyped-call]  # sanic 21.12: CookieJar untyped
    return reply
