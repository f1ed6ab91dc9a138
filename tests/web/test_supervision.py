"""The supervisors' dashboard and CSV export through the real web app: the page shows the
database's aggregates, the export streams every ticket without contact details."""

from __future__ import annotations

import csv
import io
import re

from tests.factories import PHONE, login
from tickets import metrics


def test_the_dashboard_shows_the_figures_the_database_counts(console_site):
    boss = login(console_site, "supervisor")
    page = boss.get(console_site.url + "/console/dashboard", timeout=30)
    figures = metrics.compute(database_url=console_site.database_url)
    assert page.status_code == 200
    assert re.search(r"<dt>工单总数</dt><dd>(\d+)</dd>", page.text).group(1) == str(
        figures["tickets"]
    )
    assert figures["tickets"] >= 1 and "首次响应达标率" in page.text
    assert '<span class="label">网络连接</span>' in page.text  # by category, with its label
    assert "一般" in page.text and "3-6 小时内" in page.text  # by priority, with the promise


def test_the_export_streams_every_ticket_without_contacts(console_site):
    boss = login(console_site, "supervisor")
    export = boss.get(console_site.url + "/console/export.csv", timeout=30)
    assert export.status_code == 200
    assert export.headers["content-type"] == "text/csv; charset=utf-8"
    assert export.headers["content-disposition"] == 'attachment; filename="tickets.csv"'
    assert export.headers["cache-control"] == "no-store"
    rows = list(csv.reader(io.StringIO(export.text)))
    assert rows[0] == list(metrics.CSV_HEADER)
    assert console_site.ticket in [row[0] for row in rows[1:]]
    assert len(rows) - 1 == metrics.compute(database_url=console_site.database_url)["tickets"]
    assert PHONE not in export.text
