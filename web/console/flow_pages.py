"""The playbooks as flow diagrams with their real counts, for supervisors and editors."""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse

from actions.registry import default_registry
from playbook.model import Playbook, Step
from playbook.sourcefile import PROJECT_ROOT
from tickets.staff import Staff
from web import flow_diagram, trackerstore
from web.console.auth import flow_readers_only
from web.console.pages import message, render
from web.flow_replay import PlaybookStats, StepStats
from web.flow_stats import flow_stats

logger = logging.getLogger(__name__)
routes = Blueprint("console_flows")
#: The flow pages draw editors' text with Mermaid: only this site's scripts may run.
FLOW_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
flow_readers = flow_readers_only("抱歉，手册流程图只对主管和内容编辑开放。")


@dataclass(frozen=True)
class BrokenFile:
    """A playbook file that failed its checks (the live version, if any, is the older one)."""

    file: str
    problems: list[str]
    older_live: bool


@dataclass(frozen=True)
class Overview:
    playbooks: list[Playbook]
    stats: dict[str, PlaybookStats]
    broken: list[BrokenFile]
    idle_minutes: int
    note: str | None


@dataclass(frozen=True)
class StepRow:
    """One step shown to users (branches are choices, not steps), numbered as users see them."""

    step: Step
    number: int
    counts: StepStats = field(default_factory=StepStats)


@dataclass(frozen=True)
class BranchRow:
    branch: Step
    case: str
    target: Step | None
    count: int


def overview() -> Overview:
    """Live playbooks, their statistics from the tracker store, and the files refused."""
    registry = default_registry()
    playbooks = registry.all()
    note = None
    idle = trackerstore.idle_seconds()
    try:
        stats = flow_stats(playbooks, trackerstore.tracker_store_url(), idle_seconds=idle)
    except trackerstore.StoreUnreadable as exc:
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
        broken.append(BrokenFile(file=shown, problems=problems, older_live=shown in sources))
    return Overview(
        playbooks=playbooks,
        stats=stats,
        broken=broken,
        idle_minutes=round(idle / 60),
        note=note or (None if stats else "暂无对话数据"),
    )


def step_rows(playbook: Playbook, stats: PlaybookStats | None) -> list[StepRow]:
    shown = [step for step in playbook.steps.values() if step.branch is None]
    return [
        StepRow(
            step=step,
            number=number,
            counts=(stats.steps.get(step.id) if stats else None) or StepStats(),
        )
        for number, step in enumerate(shown, start=1)
    ]


def branch_rows(playbook: Playbook, stats: PlaybookStats | None) -> list[BranchRow]:
    rows: list[BranchRow] = []
    for step in playbook.steps.values():
        if step.branch is not None:
            cases = [*step.branch.cases.items(), ("其他", step.branch.default)]
            rows += [
                BranchRow(
                    branch=step,
                    case=case,
                    target=playbook.step(target),
                    count=stats.branches.get((step.id, target), 0) if stats else 0,
                )
                for case, target in cases
            ]
    return rows


def _flow_page(name: str, request: Request, **values: Any) -> HTTPResponse:
    page = render(name, request, **values)
    page.headers["Content-Security-Policy"] = FLOW_CSP
    return page


@routes.get("/playbooks")
@flow_readers
async def playbooks_page(request: Request, person: Staff) -> HTTPResponse:
    found = await asyncio.to_thread(overview)
    return _flow_page(
        "playbooks.html",
        request,
        me=person,
        playbooks=found.playbooks,
        stats=found.stats,
        broken=found.broken,
        idle_minutes=found.idle_minutes,
        note=found.note,
    )


@routes.get("/playbooks/<playbook_id>")
@flow_readers
async def playbook_page(request: Request, person: Staff, playbook_id: str) -> HTTPResponse:
    found = await asyncio.to_thread(overview)
    playbook = next((p for p in found.playbooks if p.id == playbook_id[:64]), None)
    if playbook is None:
        return message(
            request, person, "找不到这本手册：它可能已改名、被删除，或者文件未通过检查。", 404
        )
    stats = found.stats.get(playbook.id)
    return _flow_page(
        "playbook.html",
        request,
        me=person,
        playbook=playbook,
        stats=stats,
        note=found.note,
        idle_minutes=found.idle_minutes,
        source=flow_diagram.mermaid(playbook, stats),
        rows=step_rows(playbook, stats),
        branches=branch_rows(playbook, stats),
    )
