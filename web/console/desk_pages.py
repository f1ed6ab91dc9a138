"""The desk: staff go on duty or away (going on duty takes waiting tickets at once), and
supervisors see who is on duty with their load and set what each person is good at."""

from __future__ import annotations

import asyncio
import logging

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from tickets import assignment, duty
from tickets.staff import Staff, StaffError
from web.console.auth import supervisors_only, ticket_forms
from web.console.pages import message, render

logger = logging.getLogger(__name__)
routes = Blueprint("console_desk")


@routes.post("/duty")
@ticket_forms
async def set_duty(request: Request, person: Staff) -> HTTPResponse:
    on_duty = request.form.get("available") == "1"
    try:
        await asyncio.to_thread(duty.set_available, person, on_duty)
    except StaffError as exc:
        return message(request, person, str(exc), 400)
    if on_duty:
        given = await asyncio.to_thread(assignment.assign_waiting)
        if given:
            logger.info("%d waiting tickets assigned as someone came on duty", len(given))
    target = request.form.get("back") or "/console/"
    return response.redirect(target if target.startswith("/console/") else "/console/")


@routes.get("/staff")
@supervisors_only("只有主管可以查看和设置客服的在岗状态与擅长类别")
async def staff_page(request: Request, person: Staff) -> HTTPResponse:
    entries = await asyncio.to_thread(duty.roster)
    return render("staff.html", request, me=person, roster=entries, error=request.args.get("error"))


@routes.post("/staff/<username>/skills")
@supervisors_only("只有主管可以设置客服擅长的问题类别", form=True)
async def set_skills(request: Request, person: Staff, username: str) -> HTTPResponse:
    skills = [str(value)[:32] for value in request.form.getlist("skill") or []]
    try:
        await asyncio.to_thread(duty.set_skills, person, username[:64], skills)
    except StaffError as exc:
        return message(request, person, str(exc), 400)
    return response.redirect("/console/staff")
