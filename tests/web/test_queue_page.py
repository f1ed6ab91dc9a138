"""The console's queue page over a real database: each line's labels from the policy, the
stored name of a priority the policy does not know, each line's channel and a category still
to confirm (待分类), and the channel filter."""

from __future__ import annotations

import re

from tests.factories import NOW, login
from tests.tickets.builders import ticket_with
from tickets import store


def cells(page: str, number: str) -> list[str]:
    """The text of each cell of the queue line of ticket ``number``."""
    row = re.search(rf"<tr[^>]*>\s*<td><a href=\"/console/tickets/{number}\">.*?</tr>", page, re.S)
    assert row, number
    return [
        re.sub(r"<[^>]+>", "", cell).strip()
        for cell in re.findall(r"<td>(.*?)</td>", row.group(0), re.S)
    ]


def test_queue_lines_show_the_policys_labels_and_an_unknown_priority_as_stored(console_site):
    legacy = ticket_with(
        console_site.database_url, "other", NOW, reason="user_request", priority="legacy"
    )
    page = login(console_site, "agent").get(console_site.url + "/console/", timeout=30).text
    assert cells(page, console_site.ticket)[1:5] == ["一般", "网络连接", "待处理", "—"]
    assert cells(page, legacy)[1:5] == ["legacy", "其他", "待处理", "—"]
    assert page.index(console_site.ticket) < page.index(legacy)  # a known priority first


def test_each_line_shows_its_channel_and_the_queue_filters_by_it(console_site):
    url = console_site.database_url
    mail = store.create_or_join(
        idempotency_key="queue-page-mail",
        sender_id="mail:li.na@example.com",
        category="login",
        reason="user_request",
        database_url=url,
        join=False,
        channel="email",
        category_unsure=True,
        contact_email="li.na@example.com",
    ).number
    call = store.create_or_join(
        idempotency_key="queue-page-call",
        sender_id="call:13900001111",
        category="network",
        reason="user_request",
        database_url=url,
        join=False,
        channel="phone",
    ).number
    agent = login(console_site, "agent")
    page = agent.get(console_site.url + "/console/", timeout=30).text
    assert cells(page, mail)[:3] == [f"{mail}邮件", "紧急", "账号登录待分类"]
    assert cells(page, call)[0] == f"{call}电话热线" and cells(page, call)[2] == "网络连接"
    assert cells(page, console_site.ticket)[0] == f"{console_site.ticket}在线聊天"
    assert 'data-channel="email"' in page and 'title="类别是系统根据内容推测的' in page
    options = re.search(r'<select name="channel">(.*?)</select>', page, re.S).group(1)
    assert re.findall(r'<option value="(\w*)"[^>]*>([^<]+)</option>', options) == [
        ("", "全部渠道"),
        ("chat", "在线聊天"),
        ("email", "邮件"),
        ("phone", "电话热线"),
    ]
    by_mail = agent.get(console_site.url + "/console/?channel=email", timeout=30).text
    listed = re.findall(r'<a href="/console/tickets/([^"]+)">', by_mail)
    assert listed == [mail]
    assert '<option value="email" selected>邮件</option>' in by_mail
    by_chat = agent.get(console_site.url + "/console/?channel=chat", timeout=30).text
    chat_listed = re.findall(r'<a href="/console/tickets/([^"]+)">', by_chat)
    assert (
        console_site.ticket in chat_listed and mail not in chat_listed and call not in chat_listed
    )
    anything = agent.get(console_site.url + "/console/?channel=pigeon", timeout=30).text
    assert {mail, call, console_site.ticket} <= set(
        re.findall(r'<a href="/console/tickets/([^"]+)">', anything)
    )
