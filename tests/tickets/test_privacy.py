"""Personal data is masked in logs."""

from __future__ import annotations

import logging

import pytest

from tickets.privacy import install_log_redaction, mask_email, mask_phone, redact


@pytest.mark.parametrize(
    "text, secret",
    [
        ("电话 13912345678", "13912345678"),
        ("手机 +8613912345678", "13912345678"),
        ("手机 138-1234-5678", "1234-5678"),
        ("手机 139 1234 5678", "1234 5678"),
        ("邮箱 li.na@example.com", "li.na@example.com"),
        ("我的密码是 Secr3t!", "Secr3t!"),
        ("我的密碼：abc123", "abc123"),
        ("password: hunter2", "hunter2"),
    ],
)
def test_personal_data_is_masked(text, secret):
    assert secret not in redact(text)


def test_ordinary_log_lines_are_left_alone():
    line = "playbook login started at reset_password (conversation 9ad9b3f773)"
    assert redact(line) == line


def test_masks_keep_what_a_user_recognises():
    assert mask_phone("13812345678") == "138****5678"
    assert mask_email("zhang.wei@example.com") == "z***@example.com"


def test_log_records_and_tracebacks_are_redacted(caplog):
    install_log_redaction()
    logger = logging.getLogger("dy.test")
    with caplog.at_level(logging.INFO):
        logger.info("contact %s", "13912345678")
        try:
            raise ValueError("bad value li.na@example.com")
        except ValueError:
            logger.exception("failed")
    assert "13912345678" not in caplog.text and "li.na@example.com" not in caplog.text
    assert "139****5678" in caplog.text and "l***@example.com" in caplog.text
