"""The notification and outbox settings (``PHIGUARD_*``), parsed here: :class:`NotifySettings`
and :func:`build_senders`. They are documented with every other setting in ``shared.config``
(``NOTIFY_SETTINGS_DOC``, part of ``SETTINGS_DOC``).

Secrets (the Teams webhook URL, the ACS connection string, the SMTP password) are kept out of
``repr`` and out of every message: an error names the setting, never its value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from shared.config import NOTIFY_SETTINGS_DOC as NOTIFY_SETTINGS_DOC
from shared.config import PREFIX, SettingsError
from shared.notify.routing import Routing, RoutingError, is_address
from shared.notify.smtp import STARTTLS_MODES
from shared.outbox.dispatcher import DEFAULT_MAX_ATTEMPTS

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from shared.notify.model import Notifier
    from shared.outbox.model import Channel


@dataclass(frozen=True)
class NotifySettings:
    teams_webhook_url: str | None = field(default=None, repr=False)
    email_sender: str | None = None
    acs_endpoint: str | None = None
    acs_connection_string: str | None = field(default=None, repr=False)
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_starttls: str = "auto"
    routing: Routing = field(default_factory=Routing)
    outbox_max_attempts: int = DEFAULT_MAX_ATTEMPTS
    outbox_base_delay_seconds: int = 30
    outbox_max_delay_seconds: int = 3600
    outbox_retention_days: int = 30
    digest_hours: int = 24
    immediate_per_hour: int = 20

    @property
    def email_transport(self) -> str | None:
        """``acs``, ``smtp`` or None (no email)."""
        if self.acs_endpoint or self.acs_connection_string:
            return "acs"
        return "smtp" if self.smtp_host else None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> NotifySettings:
        env = os.environ if env is None else env

        def text(name: str) -> str | None:
            value = env.get(PREFIX + name, "").strip()
            return value or None

        def number(name: str, default: int, low: int, high: int) -> int:
            raw = text(name)
            if raw is None:
                return default
            try:
                value = int(raw)
            except ValueError:
                raise SettingsError(f"{PREFIX}{name}: {raw[:20]!r} is not a whole number") from None
            if not low <= value <= high:
                raise SettingsError(f"{PREFIX}{name}: {value} is not between {low} and {high}")
            return value

        webhook = text("TEAMS_WEBHOOK_URL")
        if webhook is not None:
            parts = urlsplit(webhook)
            if parts.scheme != "https" or not parts.netloc:
                raise SettingsError(f"{PREFIX}TEAMS_WEBHOOK_URL: must be an https:// URL")
        sender = text("EMAIL_SENDER")
        if sender is not None and not is_address(sender):
            raise SettingsError(f"{PREFIX}EMAIL_SENDER: not an email address")
        acs_endpoint, acs_connection = text("ACS_ENDPOINT"), text("ACS_CONNECTION_STRING")
        if acs_endpoint and acs_connection:
            raise SettingsError(
                f"{PREFIX}ACS_ENDPOINT and {PREFIX}ACS_CONNECTION_STRING: set one, not both"
            )
        if acs_endpoint and not acs_endpoint.startswith("https://"):
            raise SettingsError(f"{PREFIX}ACS_ENDPOINT: must be an https:// URL")
        if acs_connection and "accesskey=" not in acs_connection.lower():
            raise SettingsError(f"{PREFIX}ACS_CONNECTION_STRING: has no accesskey")
        smtp_host = text("SMTP_HOST")
        if smtp_host and (acs_endpoint or acs_connection):
            raise SettingsError(f"{PREFIX}SMTP_HOST and {PREFIX}ACS_*: choose one email transport")
        starttls = (text("SMTP_STARTTLS") or "auto").lower()
        if starttls not in STARTTLS_MODES:
            raise SettingsError(
                f"{PREFIX}SMTP_STARTTLS: {starttls[:20]!r} is not {', '.join(STARTTLS_MODES)}"
            )
        username, password = text("SMTP_USERNAME"), text("SMTP_PASSWORD")
        if password and not username:
            raise SettingsError(f"{PREFIX}SMTP_PASSWORD is set without {PREFIX}SMTP_USERNAME")
        try:
            routing = Routing.from_settings(env)
        except RoutingError as exc:
            raise SettingsError(str(exc)) from None
        settings = cls(
            teams_webhook_url=webhook,
            email_sender=sender,
            acs_endpoint=acs_endpoint,
            acs_connection_string=acs_connection,
            smtp_host=smtp_host,
            smtp_port=number("SMTP_PORT", 587, 1, 65535),
            smtp_username=username,
            smtp_password=password,
            smtp_starttls=starttls,
            routing=routing,
            outbox_max_attempts=number("OUTBOX_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS, 1, 100),
            outbox_base_delay_seconds=number("OUTBOX_BASE_DELAY_SECONDS", 30, 1, 86_400),
            outbox_max_delay_seconds=number("OUTBOX_MAX_DELAY_SECONDS", 3600, 1, 7 * 86_400),
            outbox_retention_days=number("OUTBOX_RETENTION_DAYS", 30, 1, 3650),
            digest_hours=number("DIGEST_HOURS", 24, 1, 24 * 31),
            immediate_per_hour=number("NOTIFY_IMMEDIATE_PER_HOUR", 20, 0, 10_000),
        )
        if settings.email_transport and not sender:
            raise SettingsError(f"{PREFIX}EMAIL_SENDER: needed to send email")
        return settings

    def secrets(self) -> tuple[str, ...]:
        return tuple(
            s for s in (self.teams_webhook_url, self.acs_connection_string, self.smtp_password) if s
        )


def build_senders(
    settings: NotifySettings,
    *,
    credential: TokenCredential | None = None,
    ca_cert: str | None = None,
    extra_secrets: tuple[str, ...] = (),
    **options: Any,
) -> dict[Channel, Notifier]:
    """The notifiers the settings configure, by channel (for the outbox's dispatcher). Every
    notifier's guard knows every configured secret (and ``extra_secrets``: the trackers' tokens).
    ``credential``: the managed identity, for ``ACS_ENDPOINT``."""
    from shared.notify.acs import AcsEmailNotifier
    from shared.notify.smtp import SmtpNotifier
    from shared.notify.teams import TeamsNotifier
    from shared.outbox.model import Channel

    secrets = (*settings.secrets(), *extra_secrets)
    senders: dict[Channel, Notifier] = {}
    if settings.teams_webhook_url:
        senders[Channel.TEAMS] = TeamsNotifier(
            settings.teams_webhook_url, secrets=secrets, ca_cert=ca_cert, **options
        )
    sender = settings.email_sender or ""
    if settings.acs_connection_string:
        senders[Channel.EMAIL] = AcsEmailNotifier.from_connection_string(
            settings.acs_connection_string,
            sender,
            settings.routing,
            ca_cert=ca_cert,
            secrets=secrets,
        )
    elif settings.acs_endpoint:
        if credential is None:
            raise SettingsError(f"{PREFIX}ACS_ENDPOINT needs the managed identity's credential")
        senders[Channel.EMAIL] = AcsEmailNotifier.from_endpoint(
            settings.acs_endpoint,
            credential,
            sender,
            settings.routing,
            ca_cert=ca_cert,
            secrets=secrets,
        )
    elif settings.smtp_host:
        senders[Channel.EMAIL] = SmtpNotifier(
            settings.smtp_host,
            settings.smtp_port,
            sender,
            settings.routing,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
            ca_cert=ca_cert,
            secrets=secrets,
        )
    return senders
