"""Support mail as it arrives (fixtures in tests/fixtures/mail/, written for this project): GB2312
subjects and bodies, HTML-only mail, QQ Mail and Outlook replies with their quotes trimmed, an
auto-reply, a bounce, a screenshot attachment and a MIME tree never closed."""

from __future__ import annotations

import pytest

from channels.mail_reading import html_to_text, new_text, read_mail
from tests.factories import ROOT

MAIL = ROOT / "tests" / "fixtures" / "mail"


def read(name: str):
    return read_mail((MAIL / name).read_bytes())


def test_a_gb2312_subject_and_body_are_read_as_chinese():
    mail = read("gbk_plain.eml")
    assert (mail.sender, mail.sender_name) == ("zhangsan@163.com", "张三")
    assert mail.subject == "账号登录不上"
    assert mail.text == "您好，我的账号登录不上了，一直提示密码错误，很着急，影响生意了。"
    assert mail.message_id == "<a1@163.com>" and mail.thread_ids == ()
    assert mail.automatic == "" and mail.problems == ()


def test_an_html_only_mail_becomes_safe_text():
    mail = read("html_only.eml")
    assert mail.subject == "推流失败"
    assert mail.text == "直播推流 失败\n错误码 1003\n请帮忙"
    assert "alert" not in mail.text and "color" not in mail.text


def test_a_qq_mail_reply_keeps_its_new_text_and_its_thread():
    mail = read("qq_reply.eml")
    assert mail.sender_name == "小王" and mail.sender == "12345@qq.com"
    assert mail.text == "还是不行，刚才又试了一次。"
    assert mail.subject == "Re: [DY-20261203-0001] 网络问题"
    assert mail.thread_ids == ("<t1@dy.example>", "<t0@dy.example>")


def test_an_outlook_reply_in_gbk_drops_the_quoted_message():
    mail = read("outlook_reply.eml")
    assert mail.subject == "回复: 网络问题"
    assert mail.text == "已经好了，谢谢！"
    assert mail.in_reply_to == "<t1@dy.example>"


@pytest.mark.parametrize(
    "name, why", [("auto_reply.eml", "auto-submitted"), ("bounce.eml", "bounce")]
)
def test_automatic_mail_is_marked_so_it_is_never_answered(name, why):
    assert read(name).automatic == why


def test_a_screenshot_is_an_inline_image_attachment():
    mail = read("screenshot.eml")
    assert mail.text == "昨天的数据全没了，见截图。"
    (shot,) = mail.attachments
    assert (shot.filename, shot.content_type, shot.inline_image) == ("截图.png", "image/png", True)
    assert shot.data.startswith(b"\x89PNG")


def test_a_mime_tree_never_closed_still_gives_its_text_and_says_so():
    mail = read("broken_mime.eml")
    assert mail.text == "登录不上"
    assert mail.problems  # the console is told the mail was not well formed


def test_garbage_and_empty_mail_do_not_crash():
    for raw in (b"", b"\x00\xff\xfe garbage", b"Subject: =?gb2312?B?!!!?=\r\n\r\nhi"):
        mail = read_mail(raw)
        assert mail.sender is None and isinstance(mail.text, str)


@pytest.mark.parametrize(
    "body, kept",
    [
        ('好的\n\n在 2026-12-03 10:00:00，"Dy 客服" 写道：\n> 请问……', "好的"),
        ("OK\n\nOn Wed, 3 Dec 2026 at 10:00, Dy <s@dy.example> wrote:\n> hi", "OK"),
        ("收到\n-------- 回复的原邮件 --------\n发件人 Dy", "收到"),
        ("第一行\n> 引用\n第二行", "第一行\n第二行"),
    ],
)
def test_quoted_replies_of_the_common_clients_are_trimmed(body, kept):
    assert new_text(body) == kept


def test_html_entities_and_breaks():
    assert html_to_text("a&amp;b<br/>c<p>d</p>") == "a&b\nc\nd"
