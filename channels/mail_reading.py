"""A support mail as it really arrives, read into what the ticket side needs: who sent it, its
threading headers, its subject (RFC 2047 decoded), its new text (GB2312 / GBK / GB18030 or
UTF-8, HTML-only mail turned into plain text, the quoted earlier messages of QQ Mail, 163 / 126,
Foxmail and Outlook trimmed), its attachments, and whether it is an automatic message
(auto-reply, bounce, list) that must never be answered automatically.

Pure: bytes in, a :class:`ReadMail` out; nothing is sent, stored or logged. A mail whose MIME
tree cannot be read still gives what could be read and says so in ``problems``.
"""

from __future__ import annotations

import email
import email.policy
import html
import re
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.message import Message
from email.utils import parseaddr

#: Chinese mail often says gb2312 and uses characters only GB18030 has: read it as GB18030.
CHARSET_ALIASES = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "cp936": "gb18030"}
#: Where the quoted earlier message of a reply starts, as the common clients write it.
QUOTE_STARTS = (
    re.compile(r"^-{2,}\s*原始邮件\s*-{2,}", re.M),  # QQ Mail, Foxmail
    re.compile(r"^-{2,}\s*Original\s+Message\s*-{2,}", re.M | re.I),
    re.compile(r"^-{6,}\s*Original\s*-{6,}", re.M | re.I),  # QQ Mail, Foxmail in English
    re.compile(r"^-{2,}\s*回复的原邮件\s*-{2,}", re.M),  # 163 / 126
    re.compile(r"^在\s*\d{4}[-年/]\d{1,2}[-月/]\d{1,2}.{0,60}写道[:：]\s*$", re.M),  # 163, Gmail zh
    re.compile(r"^On .{5,120} wrote:\s*$", re.M),
    re.compile(r"^(发件人|From)\s*[:：].+\n(发送时间|Sent|日期|Date)\s*[:：]", re.M),  # Outlook
    re.compile(r"^_{10,}\s*$", re.M),  # Outlook's rule above the quoted header
)
QUOTED_LINE = re.compile(r"^\s*>")
#: ``Precedence`` values of bulk mail.
BULK = {"bulk", "junk", "list"}
#: The longest address kept (RFC 5321); a longer one is no usable sender.
MAX_ADDRESS = 254
BOUNCE_SENDERS = re.compile(r"^(mailer-daemon|postmaster)@", re.I)


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes
    #: Shown inline in the console (an image), else offered as a download.
    inline_image: bool


@dataclass(frozen=True)
class ReadMail:
    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    sender: str | None
    sender_name: str
    subject: str
    #: The new text of the mail (quoted earlier messages left out).
    text: str
    #: The whole text (a new report keeps what it forwarded).
    body: str = ""
    attachments: tuple[Attachment, ...] = ()
    #: Why the mail was written by a machine (auto-reply, bounce): no report, never answered.
    automatic: str = ""
    #: Why a person's mail must get no automatic answer (bulk, list, the sender asked so).
    quiet: str = ""
    #: What could not be read (a broken part, an unknown charset), for the console.
    problems: tuple[str, ...] = field(default_factory=tuple)

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """The message ids this mail answers, nearest first."""
        found = [self.in_reply_to] if self.in_reply_to else []
        return tuple(dict.fromkeys([*found, *reversed(self.references)]))


def decoded_header(value: str | None) -> str:
    """A header's text with RFC 2047 words decoded (GB2312 read as GB18030); "" for none."""
    if not value:
        return ""
    value = _raw_bytes_read(str(value))
    parts = []
    try:
        for raw, charset in decode_header(str(value)):
            if isinstance(raw, bytes):
                name = CHARSET_ALIASES.get((charset or "").lower(), charset or "utf-8")
                parts.append(raw.decode(name, errors="replace"))
            else:
                parts.append(raw)
    except (LookupError, ValueError):
        return str(make_header([(str(value), None)]))
    return re.sub(r"\s+", " ", "".join(parts)).strip()


def _raw_bytes_read(value: str) -> str:
    """A header written in 8-bit (UTF-8 or GB18030, no RFC 2047) as its text: the parser keeps
    such bytes as surrogates."""
    if not re.search("[\udc80-\udcff]", value):
        return value
    raw = value.encode("ascii", "surrogateescape")
    for name in ("utf-8", "gb18030"):
        try:
            return raw.decode(name)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", errors="replace")


def header(message: Message, name: str) -> str | None:
    """A header as the mail wrote it (8-bit bytes kept as surrogates, for ``decoded_header``);
    None when it is absent."""
    for key, value in message.raw_items():
        if key.lower() == name.lower():
            return str(value)
    return None


def _ids(value: str | None) -> list[str]:
    return re.findall(r"<[^<>\s]+>", value or "")


def _payload_text(part: Message, problems: list[str]) -> str:
    raw = part.get_payload(decode=True)
    if not isinstance(raw, bytes):
        return ""
    declared = (part.get_content_charset() or "").lower()
    for name in (CHARSET_ALIASES.get(declared, declared) or "utf-8", "utf-8", "gb18030"):
        try:
            return raw.decode(name)
        except (LookupError, UnicodeDecodeError):
            continue
    problems.append(f"正文的字符集 {declared or '未声明'} 无法识别，部分文字可能显示为乱码")
    return raw.decode("utf-8", errors="replace")


def html_to_text(markup: str) -> str:
    """The readable text of an HTML mail: no script, style or tags; lines kept at block ends."""
    text = re.sub(r"(?is)<(script|style|head)\b.*?</\1\s*>", " ", markup)
    text = re.sub(r"(?i)<br\s*/?>|</?(p|div|tr|li|h[1-6]|blockquote)\b[^>]*>", "\n", text)
    text = re.sub(r"(?s)<[^>]*>", "", text)
    text = html.unescape(text).replace("\xa0", " ")
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.splitlines()]
    return re.sub(r"\n{2,}", "\n", "\n".join(lines)).strip()


def new_text(body: str) -> str:
    """The body without the quoted earlier messages (the first quote marker of a known client,
    then any ``>`` lines)."""
    cut = len(body)
    for marker in QUOTE_STARTS:
        found = marker.search(body)
        if found and found.start() < cut:
            cut = found.start()
    kept = [line for line in body[:cut].splitlines() if not QUOTED_LINE.match(line)]
    return "\n".join(kept).strip()


def _text_of(message: Message, name: str) -> str:
    """A header's decoded text, lower-cased ("" when absent); never raises on 8-bit bytes."""
    return decoded_header(header(message, name)).strip().lower()


def _automatic(message: Message, sender: str | None) -> str:
    """Why the mail was written by a machine answering mail (an auto-reply, a bounce): such a
    mail is no customer's report and is never answered."""
    auto = _text_of(message, "Auto-Submitted")
    if auto and auto != "no":
        return "auto-submitted"
    if _text_of(message, "Precedence") == "auto_reply":
        return "auto-reply"
    if header(message, "X-Autoreply") or header(message, "X-Autorespond"):
        return "auto-reply"
    return_path = header(message, "Return-Path")
    if return_path is not None and return_path.strip() in ("<>", ""):
        return "bounce"
    if sender and BOUNCE_SENDERS.match(sender):
        return "bounce"
    if message.get_content_type() == "multipart/report":
        return "bounce"
    return ""


def _quiet(message: Message) -> str:
    """Why a person's mail must get no automatic answer (bulk or list mail, or its sender asked
    for none): it still makes a ticket."""
    if _text_of(message, "Precedence") in BULK:
        return "bulk"
    if header(message, "List-Id") or header(message, "List-Unsubscribe"):
        return "list"
    if header(message, "X-Auto-Response-Suppress"):
        return "no-auto-response"
    return ""


#: Control characters (NUL above all: PostgreSQL refuses it in text) kept out of what is read.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean(text: str) -> str:
    return _CONTROL.sub("", text)


_NAME_PARAM = re.compile(r"""(?i)\b(?:file)?name\*?=\s*"?([^";]+)"?""")


def _filename(part: Message) -> str:
    """An attachment's name (RFC 2231 / RFC 2047, or raw 8-bit UTF-8 / GB18030 as Chinese
    clients write it), "" when it has none."""
    raw = header(part, "Content-Disposition") or ""
    raw_type = header(part, "Content-Type") or ""
    for value in (raw, raw_type):
        named = _NAME_PARAM.search(value)
        if named and not value.isascii():  # 8-bit: the parser's own reading loses it
            return clean(_raw_bytes_read(named.group(1)).strip())
    try:
        found = part.get_filename()
    except (TypeError, ValueError, LookupError, AttributeError):
        found = None
    return clean(decoded_header(str(found))) if found else ""


def _read_part(
    part: Message,
    plain: list[str],
    markup: list[str],
    attachments: list[Attachment],
    problems: list[str],
) -> None:
    disposition = decoded_header(header(part, "Content-Disposition")).lower()
    filename = _filename(part)
    kind = part.get_content_type()
    if (
        filename
        or disposition.startswith("attachment")
        or kind.startswith(("image/", "video/", "application/"))
    ):
        data = part.get_payload(decode=True)
        if isinstance(data, bytes):
            attachments.append(
                Attachment(
                    filename=filename or f"附件.{kind.split('/')[-1]}",
                    content_type=kind,
                    data=data,
                    inline_image=kind in ("image/png", "image/jpeg", "image/gif", "image/webp"),
                )
            )
        return
    if kind == "text/plain":
        plain.append(_payload_text(part, problems))
    elif kind == "text/html":
        markup.append(_payload_text(part, problems))


def read_mail(raw: bytes) -> ReadMail:
    """Read one raw mail (RFC 5322 bytes). A part that cannot be read is left out and named in
    ``problems``; whatever the bytes, only the headers can make this fail."""
    problems: list[str] = []
    message: Message = email.message_from_bytes(raw, policy=email.policy.compat32)
    name, address = parseaddr(decoded_header(header(message, "From")))
    sender = clean(address.strip().lower()) or None
    if sender and ("@" not in sender or len(sender) > MAX_ADDRESS or " " in sender):
        sender = None
    plain: list[str] = []
    markup: list[str] = []
    attachments: list[Attachment] = []
    try:
        parts = list(message.walk())
    except (TypeError, ValueError, AttributeError):
        parts, problems = [message], [*problems, "邮件的结构（MIME）损坏，只读出了能读的部分"]
    for part in parts:
        if part.is_multipart():
            continue
        try:
            _read_part(part, plain, markup, attachments, problems)
        except Exception:  # noqa: BLE001 - one broken part must not lose the rest of the mail
            problems.append("邮件中有一部分内容（正文或附件）无法读取，已跳过")
    body = clean("\n".join(plain) if plain else html_to_text("\n".join(markup)))
    references = tuple(_ids(header(message, "References")))
    in_reply_to = next(iter(_ids(header(message, "In-Reply-To"))), None)
    if message.defects:
        problems.append("邮件的格式不完全符合标准，已尽量读出内容")
    return ReadMail(
        message_id=next(iter(_ids(header(message, "Message-ID"))), None),
        in_reply_to=in_reply_to,
        references=references,
        sender=sender,
        sender_name=clean(name.strip()),
        subject=clean(decoded_header(header(message, "Subject"))),
        text=new_text(body),
        body=body.strip(),
        attachments=tuple(attachments),
        automatic=_automatic(message, sender),
        quiet=_quiet(message),
        problems=tuple(dict.fromkeys(problems)),
    )
