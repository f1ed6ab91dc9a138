"""Contact details: the one home of what a mainland mobile number and an e-mail address look
like, and their masking (logs, pages): phone numbers (mobiles and the hotline callers'
landlines), e-mail addresses and passwords."""

from __future__ import annotations

import logging
import re
from typing import Any

#: A mainland mobile number, and an e-mail address, as the ticket store accepts them.
_CARRIER = r"1[3-9]\d"  # the first three digits
MOBILE = rf"{_CARRIER}\d{{8}}"
EMAIL = r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}"
PHONE_RE = re.compile(rf"^{MOBILE}$")
EMAIL_RE = re.compile(rf"^{EMAIL}$")
#: The same, found inside a message.
PHONE_IN_TEXT = re.compile(rf"(?<!\d)({MOBILE})(?!\d)")
EMAIL_IN_TEXT = re.compile(EMAIL)
#: For masking, a number as people write it (+86, spaces or dashes between the groups).
_PHONE = re.compile(rf"(?<!\d)((?:\+|00)?86[-\s]?)?({_CARRIER})[-\s]?\d{{4}}[-\s]?(\d{{4}})(?!\d)")
#: A landline with its area code (010-62345678, 0755 86668888): the hotline's callers.
_LANDLINE = re.compile(r"(?<![\d-])(0\d{2,3})[-\s]?\d{3,4}[-\s]?(\d{4})(?![\d-])")
_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
_PASSWORD = re.compile(
    r"(?i)((?<![A-Za-z_])(?:password|passwd|pwd)\s*(?:[:：=]|\bis\b)\s*"
    r"|(?:密码|密碼|口令)\s*(?:[:：=是为為]\s*|\s+))\S+"
)


def mask_phone(phone: str) -> str:
    """13812345678 (also +86 138-1234-5678) -> 138****5678; 010-62345678 -> 010-****5678."""
    return _LANDLINE.sub(r"\1-****\2", _PHONE.sub(r"\2****\3", phone))


def mask_email(email: str) -> str:
    """zhang.wei@example.com -> z***@example.com."""
    return _EMAIL.sub(r"\1***@\2", email)


def redact(text: str) -> str:
    """Mask every phone number, e-mail address and password-looking value in ``text``."""
    return _PASSWORD.sub(r"\1***", mask_email(mask_phone(text)))


_installed = False


def install_log_redaction() -> None:
    """Redact every log record of this process when it is created (idempotent).

    A record factory covers all loggers and handlers, including the ones rasa_sdk
    configures after this package is imported.
    """
    global _installed
    if _installed:
        return
    _installed = True
    make_record = logging.getLogRecordFactory()

    def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is left for logging to report
            return record
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        if record.exc_info and not record.exc_text:
            # the traceback text (e.g. an error quoting the input) is redacted too
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return record

    logging.setLogRecordFactory(redacting_factory)
