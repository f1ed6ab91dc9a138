"""The misunderstanding inbox in a real browser: a user's message the real model did not
understand is recorded in the tracker store; an editor finds it in the inbox, files it as an
example of an intent, sees the validator's result, and the project copy's YAML holds the line."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from editing.checks.training_files import nlu_files
from editing.project import Project
from tests.browser.pages import ARTIFACTS, TIMEOUT, editor_at_console
from tickets import labels as label_audit
from understanding.answers import Verdict, judge

pytestmark = pytest.mark.browser
PASSWORD = "browser test password"
#: Sentences the trained model does not take for a problem, an answer or small talk: said while
#: a step is open, they are asked about again (out_of_scope or the fallback); the first one the
#: current model reads that way and that is no training example yet is used.
CANDIDATES = [
    "视频发出去没人看",
    "我想问一下那个东西怎么弄",
    "帮我弄一下那个东西",
    "这个到底咋整啊",
    "那玩意儿又不灵了",
    "qxzv 呒嗰 kplm",
    "？？？这是啥",
    "asdf jkl 哈哈",
]
NOT_UNDERSTOOD = {"nlu_fallback", "out_of_scope"}


def test_editor_files_a_misunderstood_message_as_an_example(browser, site):
    project = Path(site.env["DY_PROJECT_DIR"])
    copy = Project(project)
    known = {e.plain for path in nlu_files(copy) for e in copy.examples(path)}
    text = next(
        (
            t
            for t in CANDIDATES
            if t.casefold() not in known
            and not judge(t).pending
            and judge(t).verdict == Verdict.OTHER
            and site.parse(t)["intent"]["name"] in NOT_UNDERSTOOD
        ),
        None,
    )
    if text is None:
        pytest.fail(
            f"the model understands every candidate sentence now: {CANDIDATES}; "
            f"add one it does not understand"
        )
    sender = f"inbox-{uuid.uuid4().hex[:10]}"
    site.say(sender, "/network_problem")  # a step is open
    replies = site.say(sender, text)
    check = "切换到稳定的网络后，现在可以正常使用了吗？"  # the open question, asked again
    assert any(check in (r.get("text") or "") for r in replies), replies

    editor, desk, page, problems = editor_at_console(browser, site, "周编辑", PASSWORD)
    page.click("header >> text=误解收件箱")
    page.wait_for_url("**/console/inbox")

    group = page.locator("section.group", has=page.locator("h2.said", has_text=text)).first
    group.wait_for(timeout=TIMEOUT)
    assert "助手又问了一遍" in group.inner_text()
    form = group.locator("form.label-intent")
    assert form.locator("input[name=text]").input_value() == text
    form.locator("select[name=intent]").select_option("feature_problem")
    with page.expect_navigation(timeout=180_000):  # the validator runs, Rasa's checks included
        form.locator("button[type=submit]").click()
    result = page.locator("#result")
    assert "已写入" in result.inner_text() and "make train" in result.inner_text()
    assert "校验通过 (validation passed)" in result.inner_text()
    assert (
        page.locator("h2.said", has_text=text)
        .first.locator("xpath=..")
        .locator(".tag.done")
        .inner_text()
        .startswith("已标注：feature_problem")
    )
    latest = page.locator("#labels tbody tr").first.inner_text()
    assert "周编辑" in latest and "已写入" in latest and "feature_problem" in latest
    page.screenshot(path=str(ARTIFACTS / "console-inbox-1280.png"), full_page=True)

    nlu = (project / "data" / "nlu" / "problems.yml").read_text(encoding="utf-8")
    assert f"    - {text}\n" in nlu
    record = label_audit.latest_labels(1, database_url=site.database_url)[0]
    assert (record.username, record.outcome, record.target) == (
        editor.username,
        "written",
        "feature_problem",
    )
    assert not problems, problems
    desk.close()
