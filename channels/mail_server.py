"""The mail channel's process (``python -m channels.mail_server``, started by ``make run``):
the SMTP intake of the support address on 127.0.0.1 (``MAIL_SMTP_PORT``), the IMAP poller
when a production mailbox is set (``MAIL_IMAP_*``), and the sender of the desk's mail
(``MAIL_RELAY_*``: auto-replies, bounces, staff replies, follow-ups).

The intake answers ``250`` only once the mail is kept in the spool (and ``451``, try again,
when it cannot be kept): from then on nothing is lost, whatever its reading does. Mail is
read one at a time in one worker thread, in the order it came.
"""

from __future__ import annotations

import argparse
import asyncio
import imaplib
import logging
import signal
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from channels import mail_imap, mail_sending, mail_settings
from channels.mail_intake import MailIntake
from tickets import mail_store
from tickets.mail_policy import load_mail_policy
from tickets.models import utcnow
from tickets.privacy import install_log_redaction

logger = logging.getLogger("channels.mail_server")
#: The SMTP intake refuses (552) a mail over this many times the policy's limit; below it a
#: mail too large is kept and answered with a clear bounce.
HARD_LIMIT_FACTOR = 3
SPOOL_SECONDS = 30.0
SEND_SECONDS = 5.0


class IntakeHandler:
    """aiosmtpd's handler: only the support address takes mail; each mail is kept, then read."""

    def __init__(self, intake: MailIntake, reader: ThreadPoolExecutor) -> None:
        self.intake = intake
        self.reader = reader

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address.strip().lower() not in self.intake.own:
            return "550 5.1.1 only the support address takes mail here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        body = content if isinstance(content, bytes) else content.encode("utf-8", "replace")
        mail_from = envelope.mail_from or ""
        # the final delivery writes the envelope sender down (an empty one: a bounce)
        raw = f"Return-Path: <{mail_from if mail_from != '<>' else ''}>\r\n".encode() + body
        try:
            path = await asyncio.to_thread(mail_store.spool, raw, utcnow())
        except OSError as exc:
            logger.error("mail not kept (%s): the sender will try again", type(exc).__name__)
            return "451 4.3.0 could not keep the message now, try again later"
        asyncio.get_running_loop().run_in_executor(self.reader, read_kept, self.intake, path)
        return "250 2.0.0 OK: kept"


def smtp_session(handler: IntakeHandler) -> SMTP:
    """One SMTP session of the intake: a mail over ``HARD_LIMIT_FACTOR`` times the policy's
    limit is refused (552) before it is kept; below that a mail too large is kept and gets a
    clear bounce."""
    limit = load_mail_policy().max_mail_bytes * HARD_LIMIT_FACTOR
    return SMTP(handler, data_size_limit=limit, hostname="dy-support", ident="Dy support intake")


def read_kept(intake: MailIntake, path: Path) -> None:
    """Read one kept mail (it may already be done by a spool round)."""
    if not path.exists():
        return
    try:
        intake.process(path)
    except Exception as exc:
        logger.exception("mail kept in the spool, reading failed (%s)", type(exc).__name__)


def poll_imap(settings: mail_settings.Imap, intake: MailIntake) -> None:
    """One IMAP round; a mailbox that refuses the login or does not answer is one line in the
    log (no traceback every round), and the next round tries again."""
    try:
        mail_imap.poll_once(settings, intake)
    except (OSError, imaplib.IMAP4.error) as exc:
        logger.error(
            "the IMAP mailbox could not be read (%s: %s)", type(exc).__name__, str(exc)[:200]
        )


def read_spool(intake: MailIntake) -> None:
    for path in mail_store.spooled():
        read_kept(intake, path)


async def every(
    seconds: float, work: Callable[[], Any], runner: Callable[..., Awaitable[Any]]
) -> None:
    """Run ``work`` (blocking) every ``seconds``, never two at once; errors are logged."""
    while True:
        try:
            await runner(work)
        except Exception as exc:
            logger.exception("mail round failed (%s)", type(exc).__name__)
        await asyncio.sleep(seconds)


async def serve(smtp_host: str, smtp_port: int) -> None:
    intake = MailIntake(mail_settings.address())
    reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mail-reader")
    loop = asyncio.get_running_loop()

    def in_reader(work: Callable[[], Any]) -> Awaitable[Any]:
        return loop.run_in_executor(reader, work)

    rounds = [
        every(SPOOL_SECONDS, lambda: read_spool(intake), in_reader),
        every(SEND_SECONDS, mail_sending.send_due, asyncio.to_thread),
    ]
    imap = mail_settings.imap()
    if imap is not None:
        rounds.append(every(imap.seconds, lambda: poll_imap(imap, intake), in_reader))
        logger.info("fetching mail from the IMAP mailbox every %ss", imap.seconds)
    server = None
    if smtp_port:
        handler = IntakeHandler(intake, reader)
        server = await loop.create_server(
            lambda: smtp_session(handler), host=smtp_host, port=smtp_port
        )
        logger.info("SMTP intake for the support address on %s:%s", smtp_host, smtp_port)
    if mail_settings.relay() is None:
        logger.warning("no MAIL_RELAY_HOST: the desk's mail waits until a relay is set")
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    tasks = [asyncio.ensure_future(r) for r in rounds]
    await stop.wait()
    for task in tasks:
        task.cancel()
    if server is not None:
        server.close()
        await server.wait_closed()
    reader.shutdown(wait=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=mail_settings.smtp_host())
    parser.add_argument("--port", type=int, default=mail_settings.smtp_port())
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # aiosmtpd logs every command with its addresses at INFO: logs never hold e-mail addresses
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    install_log_redaction()  # and whatever else would (an error's bound values) is masked
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
