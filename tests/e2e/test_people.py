"""People hear about it, end to end: Event Grid events through the webhook, the sim's ARM, the
state store and the outbox in Azurite, and the sim's GitHub Issues, Teams webhook and a real
local SMTP server. One issue per failing (resource, check) for its whole life: opened for a
failure phiguard does not fix, closed by the user's fix, reopened when it recurs; a card and an
email for the fix phiguard made."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.context import AppContext
from shared.issues.model import Fingerprint
from shared.messaging import dispatch, sync_issues
from shared.notify.cards import md
from shared.outbox.model import ItemStatus
from sim.azurite import AzuriteEndpoints
from sim.estate import open_rdp_rule
from sim.fixture import SimHandle
from sim.smtp import SmtpInbox, running_smtp

from .world import World, find, running_world

REPO = "contoso/phi-compliance"
STORAGE = find("microsoft.storage/storageaccounts", "stchsphirecords")
NSG = find("microsoft.network/networksecuritygroups", "nsg-chs-phi-data")
TLS_CHECK = "storage_account_min_tls_1_2"
NSG_FIX = "network_nsg_restrict_internet_inbound"


def _environ(smtp: SmtpInbox) -> Any:
    def make(sim: SimHandle) -> dict[str, str]:
        return {
            "PHIGUARD_ISSUES_ROUTES": f"*=github:{REPO}",
            "PHIGUARD_GITHUB_TOKEN": sim.github_token,
            "PHIGUARD_GITHUB_API_URL": sim.github_url,
            "PHIGUARD_TEAMS_WEBHOOK_URL": sim.teams_webhook_url,
            "PHIGUARD_SMTP_HOST": smtp.host,
            "PHIGUARD_SMTP_PORT": str(smtp.port),
            "PHIGUARD_SMTP_STARTTLS": "off",
            "PHIGUARD_EMAIL_SENDER": "phiguard@contoso.com",
            "PHIGUARD_NOTIFY_EMAIL_TO": "secops@contoso.com",
            "PHIGUARD_PUBLIC_URL": "https://phiguard-contoso.azurewebsites.net",
        }

    return make


@pytest.fixture
def smtp() -> Iterator[SmtpInbox]:
    with running_smtp() as inbox:
        yield inbox


@pytest.fixture
def world(azurite: AzuriteEndpoints, tmp_path: Path, smtp: SmtpInbox) -> Iterator[World]:
    with running_world(
        azurite,
        tmp_path,
        environ=_environ(smtp),
        remediation_modes=((NSG_FIX, "enforce"),),
        remediation_allow=(NSG_FIX,),
    ) as world:
        world.sim.reset_received("github")
        world.sim.reset_received("teams")
        yield world


def _set_tls(world: World, version: str) -> list[dict[str, Any]]:
    world.drain_events()
    world.sim.change_as_user(
        "PATCH",
        STORAGE["id"],
        {"properties": {"minimumTlsVersion": version}},
        api_version="2025-01-01",
    )
    events = world.drain_events()
    assert events, "the sim emitted no event for the change"
    return events


def _deliver(world: World, events: list[dict[str, Any]]) -> None:
    assert world.post(events).status_code == 200


def _issues(world: World) -> list[dict[str, Any]]:
    issues: list[dict[str, Any]] = world.sim.received("github")["issues"]
    return issues


def _issue_of(world: World, resource_id: str, check_id: str) -> dict[str, Any]:
    marker = Fingerprint.of(resource_id, check_id).marker
    found = [i for i in _issues(world) if marker in [label["name"] for label in i["labels"]]]
    assert len(found) == 1, f"{len(found)} issues for {check_id}"
    return found[0]


def _run_outbox(world: World, ctx: AppContext | None = None, hours: float = 0) -> Any:
    return dispatch(ctx or world.ctx, datetime.now(UTC) + timedelta(hours=hours))


def test_one_issue_opened_closed_by_the_fix_and_reopened_on_recurrence(
    world: World, smtp: SmtpInbox
) -> None:
    broken = _set_tls(world, "TLS1_0")
    _deliver(world, broken)
    _deliver(world, broken)  # Event Grid redelivers
    _deliver(world, list(reversed(broken * 3)))  # duplicated and shuffled
    report = _run_outbox(world)
    assert report.dead == 0 and report.by_channel == {"github": 1, "teams": 1, "email": 1}
    issue = _issue_of(world, STORAGE["id"], TLS_CHECK)
    assert issue["state"] == "open"
    labels = {label["name"] for label in issue["labels"]}
    assert {"phiguard", "severity-high", "service-storage"} <= labels
    assert any(label.startswith("hipaa-164.312") for label in labels)
    assert "164.312" in issue["body"] and "phiguard exempt" in issue["body"]
    body = issue["body"]
    assert body.index("### Automatic fix") < body.index("### How to exempt")
    assert "dry" in body[body.index("### Automatic fix") :].lower()
    assert "portal.azure.com/#@/resource/subscriptions/" in issue["body"]
    link = "https://phiguard-contoso.azurewebsites.net/api/findings?resource=%2Fsubscriptions%2F"
    assert link in issue["body"]
    # The new HIGH failure on a PHI resource is told at once: one card, one email.
    cards = world.sim.received("teams")["messages"]
    assert len(cards) == 1
    card = json.dumps(cards[0])
    assert "stchsphirecords" in card and TLS_CHECK.replace("_", "\\\\_") in card
    assert len(smtp.messages) == 1 and smtp.recipients == [["secops@contoso.com"]]
    mail = smtp.messages[0]
    assert {p.get_content_type() for p in mail.iter_parts()} == {"text/plain", "text/html"}

    _deliver(world, _set_tls(world, "TLS1_2"))  # the user's fix
    _run_outbox(world)
    issue = _issue_of(world, STORAGE["id"], TLS_CHECK)
    assert (issue["state"], issue["state_reason"]) == ("closed", "completed")
    comments = world.sim.received("github")["comments"]
    assert any("passes now" in c["body"] for c in comments)
    entry = world.ctx.issue_ledger.get(Fingerprint.of(STORAGE["id"], TLS_CHECK))
    assert entry is not None and entry.state == "closed" and entry.number == issue["number"]

    _deliver(world, _set_tls(world, "TLS1_1"))  # it recurs
    _run_outbox(world)
    again = _issue_of(world, STORAGE["id"], TLS_CHECK)
    assert again["number"] == issue["number"]
    assert (again["state"], again["state_reason"]) == ("open", "reopened")
    assert world.sim.received("github")["count"] == 1
    # Nothing sent holds the token or the webhook's signature.
    sent = json.dumps(world.sim.received("github")) + json.dumps(world.sim.received("teams"))
    assert world.sim.github_token not in sent
    assert world.sim.teams_webhook_url.split("sig=")[1] not in sent


def test_the_fix_phiguard_made_is_announced_with_its_diff_and_rollback(
    world: World, smtp: SmtpInbox
) -> None:
    world.drain_events()
    world.sim.change_as_user(
        "PUT",
        f"{NSG['id']}/securityRules/AllowRdpFromInternet",
        open_rdp_rule(200),
        api_version="2024-05-01",
    )
    _deliver(world, world.drain_events())
    fixes = [
        r for r in world.ctx.remediator.records(days=1, resource_id=NSG["id"]) if r.writes_applied
    ]
    assert fixes, "the NSG fix was not applied"
    report = _run_outbox(world)
    assert report.dead == 0
    cards = [json.dumps(m) for m in world.sim.received("teams")["messages"]]
    rollback = md(f"phiguard rollback {fixes[0].id}")
    fixed = [c for c in cards if json.dumps(rollback)[1:-1] in c]
    assert len(fixed) == 1
    assert "Allow \\u2192 Deny" in fixed[0]  # the diff: the rule's access, before → after
    assert '"title": "PHI", "value": "yes"' in fixed[0]
    subjects = [m["Subject"] for m in smtp.messages]
    assert any("nsg-chs-phi-data" in s for s in subjects), subjects
    # Fixed: no issue and no "new failure" notice for the check phiguard fixed itself.
    markers = {label["name"] for issue in _issues(world) for label in issue["labels"]}
    assert (
        Fingerprint.of(NSG["id"], "network_nsg_management_ports_internet_closed").marker
        not in markers
    )
    assert not [c for c in cards if '"new_failure"' in c and "nsg-chs-phi-data" in c]


def test_two_workers_and_two_dispatchers_open_one_issue(world: World) -> None:
    events = _set_tls(world, "TLS1_0")
    twin = AppContext(world.ctx.settings, environ=world.ctx.environ)

    def handle(ctx: AppContext) -> None:
        from shared.events import parse_delivery

        for _ in range(3):
            try:
                ctx.pipeline.handle(parse_delivery(json.dumps(events).encode()))
            except Exception:  # the other worker holds the follow-up: Event Grid redelivers
                continue

    threads = [threading.Thread(target=handle, args=(c,)) for c in (world.ctx, twin)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    dispatchers = [threading.Thread(target=_run_outbox, args=(world, c)) for c in (world.ctx, twin)]
    for thread in dispatchers:
        thread.start()
    for thread in dispatchers:
        thread.join()
    _run_outbox(world)
    assert world.sim.received("github")["count"] == 1
    assert _issue_of(world, STORAGE["id"], TLS_CHECK)["state"] == "open"
    assert len(world.sim.received("teams")["messages"]) == 1


def test_channels_down_for_a_while_deliver_everything_once_they_recover(
    world: World, smtp: SmtpInbox
) -> None:
    world.sim.set_faults("github:5xx@1.0,teams:429@1.0,teams:retry_after=0")
    smtp.refuse = "451 4.3.0 Try again later"
    _deliver(world, _set_tls(world, "TLS1_0"))
    first = _run_outbox(world)
    assert (first.sent, first.dead) == (0, 0) and first.retried == 3
    assert world.ctx.outbox.dead() == []
    world.sim.set_faults("")
    smtp.refuse = ""
    later = _run_outbox(world, hours=2)  # past every backoff
    print(f"outage: retried {first.retried}; after recovery: sent {later.sent}")
    assert later.sent == 3 and later.dead == 0
    assert _run_outbox(world, hours=4).sent == 0
    assert world.sim.received("github")["count"] == 1
    assert len(world.sim.received("teams")["messages"]) == 1
    assert len(smtp.messages) == 1
    assert {i.status for i in world.ctx.outbox.sent()} == {ItemStatus.SENT}


def test_sync_closes_what_passes_and_opens_what_is_missing(world: World) -> None:
    quiet = AppContext(world.ctx.settings, environ={})  # the same tables, nobody told
    assert quiet.followups is None
    _deliver(world, _set_tls(world, "TLS1_0"))
    _run_outbox(world)
    number = _issue_of(world, STORAGE["id"], TLS_CHECK)["number"]

    from shared.events import parse_delivery

    events = _set_tls(world, "TLS1_2")  # fixed, but the close was never enqueued
    quiet.pipeline.handle(parse_delivery(json.dumps(events).encode()))
    _run_outbox(world)
    assert _issue_of(world, STORAGE["id"], TLS_CHECK)["state"] == "open"
    report = sync_issues(world.ctx)
    assert (report.closed, report.opened) == (1, 0)
    _run_outbox(world)
    assert _issue_of(world, STORAGE["id"], TLS_CHECK)["state"] == "closed"

    events = _set_tls(world, "TLS1_0")  # failing again, and nobody opened anything
    quiet.pipeline.handle(parse_delivery(json.dumps(events).encode()))
    assert sync_issues(world.ctx).opened == 0  # too young: its own follow-up may be running
    report = sync_issues(world.ctx, datetime.now(UTC) + timedelta(hours=1))
    assert report.opened == 1
    _run_outbox(world)
    issue = _issue_of(world, STORAGE["id"], TLS_CHECK)
    assert (issue["number"], issue["state"]) == (number, "open")


def test_an_exemption_closes_the_issue_as_not_planned(world: World) -> None:
    from shared.operations import add_exemption

    _deliver(world, _set_tls(world, "TLS1_0"))
    _run_outbox(world)
    until = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    add_exemption(world.ctx, STORAGE["id"], [TLS_CHECK], until, "ciso@contoso.com", "legacy client")
    report = sync_issues(world.ctx, datetime.now(UTC) + timedelta(hours=1))
    assert report.closed == 1
    _run_outbox(world)
    issue = _issue_of(world, STORAGE["id"], TLS_CHECK)
    assert (issue["state"], issue["state_reason"]) == ("closed", "not_planned")
    assert world.ctx.store.current(resource_id=STORAGE["id"], status="FAIL")  # still recorded
    assert sync_issues(world.ctx, datetime.now(UTC) + timedelta(hours=2)).opened == 0


@pytest.mark.parametrize("auth", ["pat", "managed-identity"])
def test_azure_devops_work_item_lives_the_same_life(
    azurite: AzuriteEndpoints, tmp_path: Path, smtp: SmtpInbox, auth: str
) -> None:
    def environ(sim: SimHandle) -> dict[str, str]:
        return {
            "PHIGUARD_ISSUES_ROUTES": "*=azure-devops:contoso/PHI Compliance",
            "PHIGUARD_ADO_URL": sim.devops_url,
            **({"PHIGUARD_ADO_PAT": sim.devops_pat} if auth == "pat" else {}),
        }

    with running_world(azurite, tmp_path, environ=environ) as world:
        world.sim.reset_received("devops")
        tag = Fingerprint.of(STORAGE["id"], TLS_CHECK).tag

        def item() -> dict[str, Any]:
            found = [
                w
                for w in world.sim.received("devops")["workitems"]
                if tag in str(w["fields"].get("System.Tags", ""))
            ]
            assert len(found) == 1, f"{len(found)} work items"
            work_item: dict[str, Any] = found[0]
            return work_item

        _deliver(world, _set_tls(world, "TLS1_0"))
        _run_outbox(world)
        assert item()["fields"]["System.State"] == "New"
        _deliver(world, _set_tls(world, "TLS1_2"))
        _run_outbox(world)
        assert item()["fields"]["System.State"] == "Closed"
        _deliver(world, _set_tls(world, "TLS1_0"))
        _run_outbox(world)
        assert item()["fields"]["System.State"] == "Active"
        assert world.sim.received("devops")["count"] == 1
        sent = json.dumps(world.sim.received("devops"))
        assert world.sim.devops_pat not in sent
        trackers = world.ctx.trackers
        assert trackers is not None
        # Without a PAT the only way in is the identity's bearer token (the sim refuses others).
        assert (trackers.settings.devops_pat is None) == (auth == "managed-identity")


def test_a_failure_whose_evidence_changes_gets_a_comment(world: World) -> None:
    followups = world.ctx.followups
    assert followups is not None
    noon = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    followups.clock = lambda: noon  # both changes fall in one hour, whenever the test runs
    _deliver(world, _set_tls(world, "TLS1_0"))
    _run_outbox(world)
    _deliver(world, _set_tls(world, "TLS1_1"))  # still failing, differently
    _run_outbox(world)
    _deliver(world, _set_tls(world, "TLS1_0"))  # and again within the hour: no second comment
    _run_outbox(world)
    issue = _issue_of(world, STORAGE["id"], TLS_CHECK)
    comments = [
        c for c in world.sim.received("github")["comments"] if c["issue_url"] == issue["url"]
    ]
    assert issue["state"] == "open"
    assert len(comments) == 1 and "what phiguard sees changed" in comments[0]["body"]


def test_a_burst_of_new_failures_waits_for_the_digest(
    azurite: AzuriteEndpoints, tmp_path: Path, smtp: SmtpInbox
) -> None:
    from shared.messaging import enqueue_digest

    def environ(sim: SimHandle) -> dict[str, str]:
        return {**_environ(smtp)(sim), "PHIGUARD_NOTIFY_IMMEDIATE_PER_HOUR": "1"}

    docs = find("microsoft.storage/storageaccounts", "stchsphidocs")
    with running_world(azurite, tmp_path, environ=environ) as world:
        world.sim.reset_received("teams")
        _deliver(world, _set_tls(world, "TLS1_0"))
        world.drain_events()
        world.sim.change_as_user(
            "PATCH", docs["id"], {"tags": {"touched": "yes"}}, api_version="2025-01-01"
        )
        _deliver(world, world.drain_events())
        new_high = [
            r
            for r in world.ctx.store.current(resource_id=docs["id"], status="FAIL")
            if r.severity in ("CRITICAL", "HIGH")
        ]
        assert len(new_high) >= 2
        _run_outbox(world)

        def cards(heading: str) -> list[str]:
            found = [json.dumps(m) for m in world.sim.received("teams")["messages"]]
            return [c for c in found if heading in c]

        assert len(cards("failure on a PHI resource")) == 1  # the first; the rest wait
        assert enqueue_digest(world.ctx, datetime.now(UTC) + timedelta(hours=1)) == 2
        _run_outbox(world)
        assert len(cards("failure on a PHI resource")) == 1
        (digest,) = cards("digest")
        assert "stchsphidocs" in digest  # named in the digest


def test_a_bad_channel_setting_turns_the_people_side_off_not_the_pipeline(
    azurite: AzuriteEndpoints, tmp_path: Path
) -> None:
    from shared import api

    def environ(sim: SimHandle) -> dict[str, str]:
        return {
            "PHIGUARD_ISSUES_ROUTES": "*=github:contoso",  # no repository
            "PHIGUARD_GITHUB_TOKEN": "ghp_secretvalue0000000000000000000000000",
        }

    with running_world(azurite, tmp_path, environ=environ) as world:
        _deliver(world, _set_tls(world, "TLS1_0"))
        assert world.status(STORAGE["id"], TLS_CHECK) == "FAIL"  # still recorded
        status, body = api.health()
        assert status == 200 and body["status"] == "degraded"
        assert "PHIGUARD_ISSUES_ROUTES" in body["people"]["error"]
        assert "ghp_secretvalue" not in json.dumps(body)
        assert "error" in api.dispatch_outbox()


def test_the_weekly_access_review_is_announced_on_teams_and_by_email(
    azurite: AzuriteEndpoints, tmp_path: Path, smtp: SmtpInbox
) -> None:
    from shared import api
    from sim.estate.access import PHIGUARD_APP_ID

    with running_world(azurite, tmp_path, environ=_environ(smtp)) as world:
        world.ctx.settings = world.ctx.settings.with_overrides(
            graph_url=world.sim.graph_url, identity_app_id=PHIGUARD_APP_ID
        )
        world.sim.reset_received("teams")
        summary = api.access_review_weekly()
        _run_outbox(world)
        (card,) = [json.dumps(m) for m in world.sim.received("teams")["messages"]]
        assert f"Weekly access review {summary['week']}" in card
        assert str(summary["counts"]["paths"]) in card
        (mail,) = [m for m in smtp.messages if "access review" in str(m["Subject"])]
        text = mail.get_body(("plain",))
        assert text is not None and f"Paths to PHI: {summary['counts']['paths']}" in str(
            text.get_content()
        )
