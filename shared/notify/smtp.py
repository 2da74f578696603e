""":class:`SmtpNotifier`: email through an SMTP relay (stdlib ``smtplib``).

STARTTLS is used whenever the server offers it (``starttls="auto"``), demanded with
``"required"`` (a server that does not offer it is refused before anything is sent) or never
used with ``"off"`` (a local relay). Credentials, when given, are sent only after STARTTLS
unless ``starttls="off"``: with ``"auto"`` and a server that does not offer STARTTLS, a
configured login is refused before it is sent (RFC 4954 section 4: a client must not send
credentials that a plain-text mechanism exposes without a protected session). The ``Message-ID`` derives from the outbox key, so a message sent
twice (a crash between the send and the mark) carries the same id and can be dropped by the
receiving side.

A reply's class decides (RFC 5321 section 4.2.1): 4yz is transient (retried later), 5yz
permanent, for the envelope's recipients as for any other command; recipients refused while
others were taken are named by count in the receipt.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from collections.abc import Iterable
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from shared.kernel.errors import PhiguardError
from shared.notify.email import EmailRenderer
from shared.notify.guard import PayloadGuard
from shared.notify.model import Notice
from shared.notify.routing import Routing, is_address
from shared.outbox.model import Channel, OutboxItem, RetryLater

STARTTLS_MODES = ("auto", "required", "off")


class SmtpError(PhiguardError, RuntimeError):
    """The relay refused the message (5xx) or TLS was required and not offered."""


class SmtpUnavailable(RetryLater):
    """The relay is unreachable or answered 4xx (try again later)."""


def message_id(key: str, domain: str) -> str:
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def build_message(payload: dict[str, Any] | Any, sender: str, key: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(payload["to"])
    message["Subject"] = payload["subject"]
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = message_id(key, sender.rpartition("@")[2])
    message.set_content(payload["text"])
    message.add_alternative(payload["html"], subtype="html")
    return message


class SmtpNotifier:
    channel = Channel.EMAIL

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        routing: Routing,
        *,
        username: str | None = None,
        password: str | None = None,
        starttls: str = "auto",
        ca_cert: str | None = None,
        timeout: float = 20,
        secrets: Iterable[str | None] = (),
    ) -> None:
        if starttls not in STARTTLS_MODES:
            raise ValueError(f"PHIGUARD_SMTP_STARTTLS must be one of {', '.join(STARTTLS_MODES)}")
        if not is_address(sender):
            raise ValueError("PHIGUARD_EMAIL_SENDER is not an email address")
        self.host, self.port, self.sender = host, port, sender
        self.username, self._password = username, password
        self.starttls, self.ca_cert, self.timeout = starttls, ca_cert, timeout
        self.renderer = EmailRenderer(routing, PayloadGuard.of([password, *secrets]))

    def __repr__(self) -> str:
        return f"SmtpNotifier({self.host!r}, {self.port}, starttls={self.starttls!r})"

    def render(self, notice: Notice) -> dict[str, Any]:
        return self.renderer.render(notice)

    def send(self, item: OutboxItem) -> str:
        self.renderer.guard.check(item.payload)
        message = build_message(item.payload, self.sender, item.key)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.ehlo()
                if self.starttls != "off" and smtp.has_extn("starttls"):
                    smtp.starttls(context=ssl.create_default_context(cafile=self.ca_cert))
                    smtp.ehlo()
                elif self.starttls == "required":
                    raise SmtpError(f"SMTP relay {self.host}:{self.port} does not offer STARTTLS")
                elif self.starttls == "auto" and self.username:
                    raise SmtpError(
                        f"SMTP relay {self.host}:{self.port} does not offer STARTTLS: the "
                        "credentials are not sent over a plain connection "
                        "(PHIGUARD_SMTP_STARTTLS=off allows it, for a local relay)"
                    )
                if self.username:
                    smtp.login(self.username, self._password or "")
                refused = smtp.send_message(message)
        except smtplib.SMTPResponseException as exc:
            text = f"SMTP relay {self.host}:{self.port} answered {exc.smtp_code}"
            if 400 <= exc.smtp_code < 500:
                raise SmtpUnavailable(text) from None
            raise SmtpError(text) from None
        except smtplib.SMTPNotSupportedError:
            raise SmtpError(f"SMTP relay {self.host}:{self.port} does not support AUTH") from None
        except smtplib.SMTPRecipientsRefused as exc:
            text = f"SMTP relay {self.host}:{self.port} refused {len(exc.recipients)} recipient(s)"
            codes = [code for code, _ in exc.recipients.values()]
            if codes and all(400 <= code < 500 for code in codes):
                raise SmtpUnavailable(f"{text} for now (4xx)") from None
            raise SmtpError(text) from None
        except (smtplib.SMTPException, OSError) as exc:
            if isinstance(exc, ssl.SSLCertVerificationError):
                raise SmtpError(
                    f"SMTP relay {self.host}:{self.port}: TLS verification failed"
                ) from None
            raise SmtpUnavailable(
                f"SMTP relay {self.host}:{self.port} unreachable ({type(exc).__name__})"
            ) from None
        receipt = f"smtp:{message['Message-ID']}"
        return f"{receipt} ({len(refused)} recipient(s) refused)" if refused else receipt
