"""Server logs must not hold phone numbers, e-mail addresses or passwords."""

from __future__ import annotations

import uuid

import pytest

pytestmark = pytest.mark.integration

PHONE, EMAIL, PASSWORD = "13766554433", "li.na.secret@example.com", "Secr3t!pass"


def test_personal_data_never_reaches_the_logs(servers):
    sender = f"it-{uuid.uuid4().hex[:12]}"
    servers.say(sender, f"登录不上，我的密码是 {PASSWORD}")
    servers.say(sender, "转人工")
    servers.say(sender, f"手机 {PHONE}，邮箱 {EMAIL}")
    servers.say(sender, f'/provide_contact{{"phone": "{PHONE}"}}')
    logs = servers.action_log.read_text(encoding="utf-8") + servers.rasa_log.read_text(
        encoding="utf-8"
    )
    assert "ticket DY-" in logs  # the logs are being written
    for secret in (PHONE, EMAIL, PASSWORD):
        assert secret not in logs
