"""The console's queue page over a real database: each line's labels from the policy, and the
stored name of a priority the policy does not know."""

from __future__ import annotations

import re

from tests.factories import NOW, login
from tests.tickets.builders import ticket_with


def test_queue_lines_show_the_policys_labels_and_an_unknown_priority_as_stored(console_site):
    legacy = ticket_with(
        console_site.database_url, "other", NOW, reason="user_request", priority="legacy"
    )
    page = login(console_site, "agent").get(console_site.url + "/console/", timeout=30).text

    def cells(number: str) -> list[str]:
        row = re.search(
            rf"<tr[^>]*>\s*<td><a href=\"/console/tickets/{number}\">.*?</tr>", page, re.S
        )
        return [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<td>(.*?)</td>", row.group(0), re.S)
        ]

    assert cells(console_site.ticket)[1:5] == ["一般", "网络连接", "待处理", "—"]
    assert cells(legacy)[1:5] == ["legacy", "其他", "待处理", "—"]
    assert page.index(console_site.ticket) < page.index(legacy)  # a known priority first
