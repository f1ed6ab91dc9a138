"""Supervisors' pages: the service dashboard over a period (``?from=YYYY-MM-DD&to=YYYY-MM-DD``
in China time, the last 30 days by default, ``?all=1`` for every ticket), every figure also
per channel, its figures as JSON, the tickets behind any figure (the drill-down, also of one
channel), and the CSV export of one row per ticket."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from tickets import metrics
from tickets.config import DISPLAY_TZ
from tickets.models import utcnow
from tickets.period import PeriodError, parse_period, today_local
from tickets.queries import CHANNEL_LABELS
from tickets.staff import Staff
from understanding.ratings import ASPECTS
from web.console.auth import supervisors_only
from web.console.pages import render

routes = Blueprint("console_supervision")
DASHBOARD_REFUSAL = "只有主管可以查看统计看板"
EXPORT_REFUSAL = "只有主管可以导出数据"
#: The dashboard's pages run only this site's scripts (ECharts from /vendor, dashboard.js);
#: the figures travel as JSON in a data block, never as script.
DASHBOARD_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
DRILL_PATH = "/console/dashboard/tickets"
OUTCOME_LABELS = {"met": "按时", "missed": "超时", "pending": "未到期"}
OUTCOMES = tuple(OUTCOME_LABELS)
CLOCK_LABELS = {"first_response": "首次响应", "resolution": "解决", "update": "进度通报"}
ONLY_LABELS = {"resolved": "已解决的", "rated": "有三项评价的", "reviewed": "已抽查评分的"}


def _arguments(request: Request) -> dict[str, str]:
    """The query string, one value per name (the first)."""
    return {key: values[0] for key, values in request.args.items() if values}


def drill_link(period_query: Mapping[str, str]) -> Callable[..., str]:
    """``link(**filters)``: the drill-down of the period's tickets narrowed to ``filters``
    (empty ones left out). (Called a few thousand times for a long period's daily table.)"""
    start = f"{DRILL_PATH}?{urlencode(period_query)}"

    def link(**filters: Any) -> str:
        given = [
            f"&{key}={quote(str(value), safe='')}"
            for key, value in filters.items()
            if value is not None and value != ""
        ]
        return start + "".join(given)

    return link


def shown(value: Any, suffix: str = "") -> str:
    """A figure as a table shows it: a dash for none (no rate, no mean)."""
    return "—" if value is None else f"{value}{suffix}"


def daily_rows(figures: Mapping[str, Any], link: Callable[..., str]) -> list[dict[str, Any]]:
    """The daily table's rows, newest first, each figure with its drill-down link made here
    (a year of days is a few thousand cells: formatting them in the template took 0.1 s)."""
    rows = []
    for d in reversed(figures["daily"]):
        day, fr, rated = d["day"], d["first_response"], d["staff_ratings"]
        rows.append(
            {
                "day": day,
                "tickets": (d["tickets"], link(day=day)),
                "first_response": [
                    (fr[o], link(day=day, clock="first_response", outcome=o)) for o in OUTCOMES
                ],
                "compliance": shown(fr["compliance_pct"], "%"),
                "resolved": (d["resolved"], link(day=day, only="resolved")),
                "mean_hours": shown(d["mean_hours_to_resolve"]),
                "bot_resolved": d["bot_resolved"],
                "containment": shown(d["containment_pct"], "%"),
                "bot_rating": shown(d["bot_rating"]["mean"]),
                "aspects": [shown(rated[a]) for a in ASPECTS],
                "rated": (rated["ratings"], link(day=day, only="rated")),
            }
        )
    return rows


def channel_daily_rows(
    figures: Mapping[str, Any], link: Callable[..., str]
) -> list[dict[str, Any]]:
    """The rows of the daily table by channel, newest first: per day, each channel's tickets,
    late first responses, first-response compliance, resolutions and mean time to resolve,
    the counts with their drill-down links (made here, as ``daily_rows``)."""
    channels = figures["channels"]
    rows = []
    for n in reversed(range(len(figures["daily"]))):
        day = figures["daily"][n]["day"]
        cells = []
        for name, channel in channels.items():
            d = channel["daily"][n]
            fr = d["first_response"]
            cells.append(
                {
                    "channel": name,
                    "tickets": (d["tickets"], link(day=day, channel=name)),
                    "late": (
                        fr["missed"],
                        link(day=day, channel=name, clock="first_response", outcome="missed"),
                    ),
                    "compliance": shown(fr["compliance_pct"], "%"),
                    "resolved": (d["resolved"], link(day=day, channel=name, only="resolved")),
                    "mean_hours": shown(d["mean_hours_to_resolve"]),
                }
            )
        rows.append({"day": day, "channels": cells})
    return rows


def when(moment: datetime) -> str:
    """A moment in China time with its year (a list may span years)."""
    return moment.astimezone(DISPLAY_TZ).strftime("%Y-%m-%d %H:%M")


def _page(name: str, request: Request, status: int = 200, **values: Any) -> HTTPResponse:
    page = render(
        name,
        request,
        status=status,
        outcome_labels=OUTCOME_LABELS,
        clock_labels=CLOCK_LABELS,
        only_labels=ONLY_LABELS,
        when=when,
        **values,
    )
    page.headers["Content-Security-Policy"] = DASHBOARD_CSP
    return page


def chart_data(figures: Mapping[str, Any], link: Callable[..., str]) -> dict[str, Any]:
    """What dashboard.js draws: the daily series, each channel's tickets per day (with its
    label) and the drill-down's address for the period (a point's day and series are added
    to it)."""
    return {
        "drill": link(),
        "daily": figures["daily"],
        "channels": [
            {
                "name": name,
                "label": CHANNEL_LABELS.get(name, name),
                "tickets": [d["tickets"] for d in channel["daily"]],
            }
            for name, channel in figures["channels"].items()
        ],
    }


@routes.get("/dashboard")
@supervisors_only(DASHBOARD_REFUSAL)
async def dashboard(request: Request, person: Staff) -> HTTPResponse:
    given = _arguments(request)
    try:
        period = parse_period(given, today_local(utcnow()))
    except PeriodError as exc:
        return _page(
            "dashboard.html", request, 400, me=person, error=str(exc), given=given, figures=None
        )
    figures = await asyncio.to_thread(metrics.compute, period)
    link = drill_link(period.query())
    return _page(
        "dashboard.html",
        request,
        me=person,
        error=None,
        given=given,
        period=period,
        figures=figures,
        link=link,
        chart=chart_data(figures, link),
        days=daily_rows(figures, link),
        channel_days=channel_daily_rows(figures, link),
        export_link="/console/export.csv?" + urlencode(period.query()),
    )


@routes.get("/dashboard.json")
@supervisors_only(DASHBOARD_REFUSAL)
async def dashboard_json(request: Request, person: Staff) -> HTTPResponse:
    """The dashboard's figures for the period asked for, as JSON (400 with the reason)."""
    try:
        period = parse_period(_arguments(request), today_local(utcnow()))
    except PeriodError as exc:
        return response.json({"error": str(exc)}, status=400, ensure_ascii=False)
    figures = await asyncio.to_thread(metrics.compute, period)
    return response.json(
        figures | {"drill": drill_link(period.query())()},
        ensure_ascii=False,
        headers={"Cache-Control": "no-store"},
    )


@routes.get("/dashboard/tickets")
@supervisors_only(DASHBOARD_REFUSAL)
async def dashboard_tickets(request: Request, person: Staff) -> HTTPResponse:
    """The tickets behind a figure of the dashboard, a page at a time."""
    given = _arguments(request)
    try:
        filters = metrics.DrillFilters.from_mapping(given, today_local(utcnow()))
    except PeriodError as exc:
        return _page("dashboard_tickets.html", request, 400, me=person, error=str(exc))
    found = await asyncio.to_thread(metrics.drill_down, filters)
    query = filters.query()
    return _page(
        "dashboard_tickets.html",
        request,
        me=person,
        error=None,
        filters=filters,
        found=found,
        more=(
            f"{DRILL_PATH}?{urlencode(query | {'after': str(found.next_after)})}"
            if found.next_after is not None
            else None
        ),
        back="/console/dashboard?" + urlencode(filters.period.query()),
    )


@routes.get("/export.csv")
@supervisors_only(EXPORT_REFUSAL)
async def export_csv(request: Request, person: Staff) -> HTTPResponse:
    """Every ticket, or a period's (``from`` / ``to`` / ``days`` as on the dashboard), streamed
    as the database gives it, one chunk of rows at a time."""
    given = _arguments(request)
    period = None
    if any(given.get(key) for key in ("from", "to", "days")) and not given.get("all"):
        try:
            period = parse_period(given, today_local(utcnow()))
        except PeriodError as exc:
            return _page("dashboard.html", request, 400, me=person, error=str(exc), given=given)
    name = "tickets.csv" if period is None or period.everything else _file_name(period.query())
    chunks = metrics.csv_chunks(period)
    try:
        header = await asyncio.to_thread(next, chunks, None)  # the query runs: it may fail
        stream: HTTPResponse = await request.respond(
            content_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
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


def _file_name(query: Mapping[str, str]) -> str:
    return f"tickets-{query['from']}-{query['to']}.csv"
