"""The notification and outbox settings: parsed, checked (messages name the setting, never a
secret), and turned into the senders the dispatcher uses."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.config import SETTINGS_DOC, SettingsError
from shared.notify.acs import AcsEmailNotifier
from shared.notify.settings import NOTIFY_SETTINGS_DOC, NotifySettings, build_senders
from shared.notify.smtp import SmtpNotifier
from shared.notify.teams import TeamsNotifier
from shared.outbox.model import Channel

from .samples import WEBHOOK

ACS = "endpoint=https://contoso.westus.communications.azure.com/;accesskey=c2VjcmV0LWtleS12YWx1ZQ=="


def env(**values: str) -> dict[str, str]:
    return {f"PHIGUARD_{k.upper()}": v for k, v in values.items()}


def test_defaults_configure_nothing() -> None:
    settings = NotifySettings.from_env({})
    assert settings.email_transport is None and settings.outbox_max_attempts == 8
    assert build_senders(settings) == {}


def test_teams_and_acs() -> None:
    settings = NotifySettings.from_env(
        env(
            teams_webhook_url=WEBHOOK,
            acs_connection_string=ACS,
            email_sender="phiguard@contoso.com",
            notify_email_to="secops@contoso.com",
            outbox_max_attempts="5",
        )
    )
    assert settings.email_transport == "acs" and settings.outbox_max_attempts == 5
    senders = build_senders(settings)
    assert isinstance(senders[Channel.TEAMS], TeamsNotifier)
    assert isinstance(senders[Channel.EMAIL], AcsEmailNotifier)
    text = repr(settings) + repr(senders)
    assert "S3CR3T" not in text and "accesskey" not in text.lower() and "/workflows/" not in text
    # every notifier's guard knows every secret
    email = senders[Channel.EMAIL]
    assert isinstance(email, AcsEmailNotifier)
    assert WEBHOOK in email.renderer.guard.secrets
    assert "c2VjcmV0LWtleS12YWx1ZQ==" in email.renderer.guard.secrets


def test_smtp() -> None:
    settings = NotifySettings.from_env(
        env(
            smtp_host="smtp.contoso.com",
            smtp_port="2525",
            smtp_username="phiguard",
            smtp_password="Pa55-w0rd",
            smtp_starttls="REQUIRED",
            email_sender="phiguard@contoso.com",
        )
    )
    [sender] = build_senders(settings).values()
    assert isinstance(sender, SmtpNotifier)
    assert (sender.port, sender.starttls, sender.username) == (2525, "required", "phiguard")
    assert "Pa55" not in repr(settings) + repr(sender)


@pytest.mark.parametrize(
    ("values", "setting"),
    [
        ({"teams_webhook_url": "http://example.com/hook?sig=S3CR3T"}, "TEAMS_WEBHOOK_URL"),
        ({"email_sender": "nobody"}, "EMAIL_SENDER"),
        (
            {"acs_connection_string": ACS, "acs_endpoint": "https://x.communication.azure.com"},
            "ACS_ENDPOINT",
        ),
        ({"acs_connection_string": "endpoint=https://x/;key=S3CR3T"}, "ACS_CONNECTION_STRING"),
        (
            {"smtp_host": "h", "acs_connection_string": ACS, "email_sender": "a@contoso.com"},
            "SMTP_HOST",
        ),
        ({"smtp_host": "h"}, "EMAIL_SENDER"),
        ({"smtp_starttls": "sometimes"}, "SMTP_STARTTLS"),
        ({"smtp_password": "S3CR3T"}, "SMTP_PASSWORD"),
        ({"smtp_port": "99999"}, "SMTP_PORT"),
        ({"outbox_max_attempts": "many"}, "OUTBOX_MAX_ATTEMPTS"),
        ({"notify_routes": "severity:HIGH=bad-address"}, "NOTIFY_ROUTES"),
    ],
)
def test_bad_settings_name_the_setting_never_the_secret(
    values: dict[str, str], setting: str
) -> None:
    with pytest.raises(SettingsError, match=setting) as caught:
        NotifySettings.from_env(env(**values))
    assert "S3CR3T" not in str(caught.value)


def test_acs_endpoint_needs_the_managed_identity() -> None:
    settings = NotifySettings.from_env(
        env(acs_endpoint="https://x.communication.azure.com", email_sender="a@contoso.com")
    )
    with pytest.raises(SettingsError, match="managed identity"):
        build_senders(settings)


def test_every_setting_is_documented_once_and_the_notify_ones_are_read() -> None:
    names = [name for name, _, _ in SETTINGS_DOC]
    assert len(set(names)) == len(names)
    assert {name for name, _, _ in NOTIFY_SETTINGS_DOC} <= set(names)
    package = Path(__file__).parents[2] / "shared" / "notify"
    source = (package / "settings.py").read_text() + (package / "routing.py").read_text()
    read = {
        n for n, _, _ in NOTIFY_SETTINGS_DOC if f'"{n}"' in source or f'"PHIGUARD_{n}"' in source
    }
    assert read == {n for n, _, _ in NOTIFY_SETTINGS_DOC} - {"OUTBOX_SCHEDULE", "DIGEST_SCHEDULE"}
