"""``phiguard notify``, ``issues sync`` and ``outbox`` against the sim (Teams, GitHub), a real
local SMTP server and Azurite: what they print and their exit codes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from shared.cli import main
from shared.context import reset_app_context
from sim.azurite import AzuriteEndpoints
from sim.fixture import SimHandle, running_sim
from sim.smtp import SmtpInbox, running_smtp

pytestmark = pytest.mark.slow


@pytest.fixture()
def sim(
    azurite: AzuriteEndpoints, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[SimHandle, SmtpInbox]]:
    with running_sim(estate="demo") as sim, running_smtp() as smtp:
        for name, value in {
            "STORAGE_CONNECTION_STRING": azurite.connection_string,
            "TABLE_PREFIX": "cli" + uuid.uuid4().hex[:10],
            "ARM_URL": sim.arm_url,
            "CA_CERT": sim.ca_cert,
            "TEAMS_WEBHOOK_URL": sim.teams_webhook_url,
            "SMTP_HOST": smtp.host,
            "SMTP_PORT": str(smtp.port),
            "SMTP_STARTTLS": "off",
            "EMAIL_SENDER": "phiguard@contoso.com",
            "NOTIFY_EMAIL_TO": "secops@contoso.com",
        }.items():
            monkeypatch.setenv(f"PHIGUARD_{name}", value)
        sim.reset_received("teams")
        try:
            yield sim, smtp
        finally:
            reset_app_context(None)


def test_notify_test_reaches_every_channel(
    sim: tuple[SimHandle, SmtpInbox], capsys: pytest.CaptureFixture[str]
) -> None:
    tenant, smtp = sim
    assert main(["notify", "--test", "--note", "first deployment smoke test"]) == 0
    out = capsys.readouterr().out
    assert "teams: test message delivered" in out and "email: test message delivered" in out
    assert tenant.received("teams")["count"] == 1
    assert len(smtp.messages) == 1 and "test" in str(smtp.messages[0]["Subject"]).lower()
    assert tenant.teams_webhook_url.split("sig=")[1] not in out


def test_notify_test_says_which_channel_failed_and_exits_3(
    sim: tuple[SimHandle, SmtpInbox], capsys: pytest.CaptureFixture[str]
) -> None:
    tenant, smtp = sim
    tenant.set_faults("teams:5xx@1.0")
    assert main(["notify", "--test"]) == 3
    captured = capsys.readouterr()
    assert "teams: test message NOT delivered" in captured.out
    assert "email: test message delivered" in captured.out
    assert "the teams test message was not delivered" in captured.err
    assert len(smtp.messages) == 1


def test_a_dead_letter_is_listed_then_retried_and_sent(
    sim: tuple[SimHandle, SmtpInbox],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenant, _ = sim
    monkeypatch.setenv("PHIGUARD_OUTBOX_MAX_ATTEMPTS", "1")
    tenant.set_faults("teams:5xx@1.0")
    assert main(["notify", "--test", "--channel", "teams"]) == 3
    capsys.readouterr()
    assert main(["outbox", "--format", "json"]) == 3
    listed = json.loads(capsys.readouterr().out)
    assert listed["dead"] == 1 and listed["items"][0]["channel"] == "teams"
    assert listed["items"][0]["last_error"].startswith("TeamsUnavailable")
    assert "sig=" not in json.dumps(listed) or "sig=***" in json.dumps(listed)
    tenant.set_faults("")
    assert main(["outbox", "--retry", "--send"]) == 0
    out = capsys.readouterr().out
    assert "1 dead letter(s) made pending again" in out and "sent 1" in out
    assert tenant.received("teams")["count"] == 1


def test_people_commands_name_what_is_missing(
    sim: tuple[SimHandle, SmtpInbox],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert main(["issues", "sync"]) == 2
    assert "PHIGUARD_ISSUES_ROUTES" in capsys.readouterr().err
    assert main(["notify"]) == 2
    assert "--test" in capsys.readouterr().err
    assert main(["notify", "--test", "--note", "\u202e" * 5000]) == 2  # was a PayloadTooLarge
    assert "--note: at most 500 characters" in capsys.readouterr().err
    monkeypatch.setenv("PHIGUARD_ISSUES_ROUTES", "*=github:contoso/phi")
    assert main(["issues", "sync"]) == 2
    assert "PHIGUARD_GITHUB_TOKEN" in capsys.readouterr().err
    monkeypatch.setenv("PHIGUARD_TEAMS_WEBHOOK_URL", "http://hooks.example/x?sig=hunter2")
    assert main(["notify", "--test"]) == 2
    err = capsys.readouterr().err
    assert "PHIGUARD_TEAMS_WEBHOOK_URL" in err and "hunter2" not in err
