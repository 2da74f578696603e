"""A real local SMTP server for the demo and the end-to-end tests (aiosmtpd): it accepts mail on
a loopback port and keeps every message it received, parsed."""

from __future__ import annotations

import email
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default
from typing import Any


@dataclass
class SmtpInbox:
    host: str = "127.0.0.1"
    port: int = 0
    messages: list[EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)
    # While set, every message is refused with this reply (a 4xx: "try again later").
    refuse: str = ""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd calls it by this name
        if self.refuse:
            return self.refuse
        message = email.message_from_bytes(envelope.content, policy=default)
        if isinstance(message, EmailMessage):
            self.messages.append(message)
            self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_smtp() -> Iterator[SmtpInbox]:
    """An SMTP server on 127.0.0.1 (no TLS, no AUTH: loopback only) for the time of the block."""
    from aiosmtpd.controller import Controller

    inbox = SmtpInbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    inbox.port = controller.port
    try:
        yield inbox
    finally:
        controller.stop()
