"""Supervisors' pages: the service dashboard and the CSV export of every ticket."""

from __future__ import annotations

import asyncio

from sanic import Blueprint
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
    """Every ticket, streamed as the database gives it, one chunk of rows at a time."""
    chunks = metrics.csv_chunks()
    try:
        header = await asyncio.to_thread(next, chunks, None)  # the query runs: it may fail
        stream: HTTPResponse = await request.respond(
            content_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": 'attachment; filename="tickets.csv"',
                "Cache-Control": "no-store",
            },
        )
        chunk = header
        while chunk is not None:
            await stream.send(chunk)
            chunk = await asyncio.to_thread(next, chunks, None)
        await stream.send("", end_stream=True)  # what eof() does (untyped in sanic 21.12)
        return stream
    finally:
        await asyncio.to_thread(chunks.close)  # a client gone mid-way: the session is closed
