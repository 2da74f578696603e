"""SmtpNotifier against a real local SMTP server (aiosmtpd) on a free port: HTML and text
parts, STARTTLS when offered or required, login only over TLS, the Message-ID from the outbox
key, and the relay's answers mapped to transient or permanent."""

from __future__ import annotations

import email
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from shared.errors import is_transient
from shared.notify.model import outbox_item
from shared.notify.routing import Routing
from shared.notify.smtp import SmtpError, SmtpNotifier, SmtpUnavailable, message_id

from .samples import T0, notices

USER, PASSWORD = "phiguard", "smtp-Pa55word!"
ROUTING = Routing(default=("secops@contoso.com",), owner_domains=frozenset({"contoso.com"}))


@dataclass
class Inbox:
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    tls: list[bool] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    reply: str = "250 OK"
    rcpt_replies: dict[str, str] = field(default_factory=dict)  # address -> a refusal

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if not self.reply.startswith("250"):
            return self.reply
        message = email.message_from_bytes(envelope.content, policy=default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.tls.append(session.ssl is not None)
        return "250 OK"

    def recipients_of_last(self) -> list[str]:
        return self.envelopes[-1][1]

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode(),
            auth_data.password.decode(),
        ) == (USER, PASSWORD)
        if ok:
            self.logins.append(auth_data.login.decode())
        return AuthResult(success=ok, handled=False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def _server(inbox: Inbox, tls: ssl.SSLContext | None = None, **options: Any) -> Controller:
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=_free_port(),
        tls_context=tls,
        authenticator=inbox.authenticate,
        **options,
    )
    controller.start()
    return controller


@pytest.fixture
def plain() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    controller = _server(inbox, auth_require_tls=False)
    yield inbox, controller.port
    controller.stop()


@pytest.fixture
def tls(ca: trustme.CA) -> Iterator[tuple[Inbox, int]]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    inbox = Inbox()
    controller = _server(inbox, context, require_starttls=True)
    yield inbox, controller.port
    controller.stop()


def _send(notifier: SmtpNotifier, index: int = 0) -> str:
    return notifier.send(outbox_item(notifier, notices()[index], T0))


def test_html_and_text_parts_to_the_routed_recipients(plain: tuple[Inbox, int]) -> None:
    inbox, port = plain
    notifier = SmtpNotifier("127.0.0.1", port, "phiguard@contoso.com", ROUTING, starttls="off")
    item = outbox_item(notifier, notices()[0], T0)
    receipt = notifier.send(item)
    [message] = inbox.messages
    assert receipt == f"smtp:{message['Message-ID']}"
    assert message["Message-ID"] == message_id(item.key, "contoso.com")
    assert message["Subject"] == item.payload["subject"]
    assert inbox.envelopes == [("phiguard@contoso.com", ["secops@contoso.com", "dana@contoso.com"])]
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    assert text.get_content().replace("\r\n", "\n") == item.payload["text"]
    assert html.get_content().replace("\r\n", "\n").rstrip("\n") == item.payload["html"]
    assert "&lt;script&gt;" in html.get_content()
    assert inbox.tls == [False] and inbox.logins == []


def test_the_same_item_twice_carries_the_same_message_id(plain: tuple[Inbox, int]) -> None:
    inbox, port = plain
    notifier = SmtpNotifier("127.0.0.1", port, "phiguard@contoso.com", ROUTING, starttls="auto")
    item = outbox_item(notifier, notices()[2], T0)
    notifier.send(item)
    notifier.send(item)  # a crash between the send and the mark
    assert len({m["Message-ID"] for m in inbox.messages}) == 1


def test_starttls_when_offered_then_login(tls: tuple[Inbox, int], ca_file: str) -> None:
    inbox, port = tls
    notifier = SmtpNotifier(
        "127.0.0.1",
        port,
        "phiguard@contoso.com",
        ROUTING,
        username=USER,
        password=PASSWORD,
        ca_cert=ca_file,
    )
    for index in range(len(notices())):
        _send(notifier, index)
    assert inbox.tls == [True] * 6 and inbox.logins == [USER] * 6


def test_starttls_required_but_not_offered_sends_nothing(plain: tuple[Inbox, int]) -> None:
    inbox, port = plain
    notifier = SmtpNotifier("127.0.0.1", port, "phiguard@contoso.com", ROUTING, starttls="required")
    with pytest.raises(SmtpError, match="STARTTLS") as caught:
        _send(notifier)
    assert not is_transient(caught.value) and inbox.messages == []


def test_an_untrusted_certificate_is_refused(tls: tuple[Inbox, int]) -> None:
    inbox, port = tls
    notifier = SmtpNotifier("127.0.0.1", port, "phiguard@contoso.com", ROUTING)
    with pytest.raises(SmtpError, match="TLS"):
        _send(notifier)
    assert inbox.messages == []


def test_wrong_credentials_are_permanent_and_name_no_password(
    tls: tuple[Inbox, int], ca_file: str
) -> None:
    _, port = tls
    notifier = SmtpNotifier(
        "127.0.0.1",
        port,
        "phiguard@contoso.com",
        ROUTING,
        username=USER,
        password="wrong-Pa55",
        ca_cert=ca_file,
    )
    with pytest.raises(SmtpError) as caught:
        _send(notifier)
    assert "535" in str(caught.value) and "wrong-Pa55" not in str(caught.value)
    assert "Pa55" not in repr(notifier)


@pytest.mark.parametrize(
    ("reply", "error", "transient"),
    [("451 try again later", SmtpUnavailable, True), ("554 rejected", SmtpError, False)],
)
def test_relay_answers_map_to_transient_or_permanent(
    plain: tuple[Inbox, int], reply: str, error: type[Exception], transient: bool
) -> None:
    inbox, port = plain
    inbox.reply = reply
    notifier = SmtpNotifier("127.0.0.1", port, "phiguard@contoso.com", ROUTING, starttls="off")
    with pytest.raises(error) as caught:
        _send(notifier)
    assert is_transient(caught.value) is transient


def test_an_unreachable_relay_is_transient() -> None:
    notifier = SmtpNotifier("127.0.0.1", _free_port(), "phiguard@contoso.com", ROUTING, timeout=2)
    with pytest.raises(SmtpUnavailable) as caught:
        _send(notifier)
    assert is_transient(caught.value)


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="STARTTLS"):
        SmtpNotifier("h", 25, "phiguard@contoso.com", ROUTING, starttls="maybe")
    with pytest.raises(ValueError, match="SENDER"):
        SmtpNotifier("h", 25, "not an address", ROUTING)


def test_auto_never_sends_credentials_without_starttls(plain: tuple[Inbox, int]) -> None:
    """RFC 4954 section 4: no plain-text AUTH over an unprotected session; "auto" uses TLS
    when offered, and a relay that does not offer it gets no login (and no message)."""
    inbox, port = plain
    notifier = SmtpNotifier(
        "127.0.0.1", port, "phiguard@contoso.com", ROUTING, username=USER, password=PASSWORD
    )
    with pytest.raises(SmtpError, match="STARTTLS") as caught:
        _send(notifier)
    assert not is_transient(caught.value)
    assert inbox.logins == [] and inbox.messages == []
    assert PASSWORD not in str(caught.value)
    off = SmtpNotifier(
        "127.0.0.1",
        port,
        "phiguard@contoso.com",
        ROUTING,
        username=USER,
        password=PASSWORD,
        starttls="off",
    )
    _send(off)  # "off" is the explicit choice for a local relay
    assert inbox.logins == [USER] and len(inbox.messages) == 1


@pytest.mark.parametrize(
    ("reply", "error", "transient"),
    [
        ("450 4.2.1 Mailbox busy, try again later", SmtpUnavailable, True),
        ("550 5.1.1 No such user", SmtpError, False),
    ],
)
def test_refused_recipients_map_to_transient_or_permanent_by_reply_class(
    plain: tuple[Inbox, int], reply: str, error: type[Exception], transient: bool
) -> None:
    """RFC 5321 section 4.2.1: 4yz is a transient negative reply, 5yz a permanent one."""
    inbox, port = plain
    inbox.rcpt_replies = {"secops@contoso.com": reply, "dana@contoso.com": reply}
    notifier = SmtpNotifier("127.0.0.1", port, "phiguard@contoso.com", ROUTING, starttls="off")
    with pytest.raises(error) as caught:
        _send(notifier)
    assert is_transient(caught.value) is transient and inbox.messages == []


def test_a_partly_refused_envelope_is_sent_and_says_so(plain: tuple[Inbox, int]) -> None:
    inbox, port = plain
    inbox.rcpt_replies = {"dana@contoso.com": "550 5.1.1 No such user"}
    notifier = SmtpNotifier("127.0.0.1", port, "phiguard@contoso.com", ROUTING, starttls="off")
    receipt = _send(notifier)
    assert inbox.recipients_of_last() == ["secops@contoso.com"]
    assert receipt.startswith("smtp:<") and receipt.endswith("(1 recipient(s) refused)")
