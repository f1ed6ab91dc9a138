"""Supervisors' pages: the service dashboard and the CSV export of every ticket."""

from __future__ import annotations

import asyncio

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from tickets import metrics
from tickets.staff import Staff
from web.console.auth import supervisors_only
from web.console.pages import render

routes = Blueprint("console_supervision")


@routes.get("/dashboard")
@supervisors_only("只有主管可以查看统计看板")
async def dashboard(request: Request, person: Staff) -> HTTPResponse:
    figures = await asyncio.to_thread(metrics.compute)
    return render("dashboard.html", request, me=person, figures=figures)


@routes.get("/export.csv")
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
