"""A muted failure through the event path and the people side: its open issue closes as not
planned, nothing new is opened or sent, and the finding stays recorded as MUTED."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.messaging import sync_issues
from shared.mutes import new_rule

from .test_people import (  # noqa: F401 - fixtures
    STORAGE,
    TLS_CHECK,
    _deliver,
    _issue_of,
    _issues,
    _run_outbox,
    _set_tls,
    smtp,
    world,
)
from .world import World


def test_a_muted_failure_closes_its_issue_as_not_planned_and_is_not_followed_up(
    world: World,  # noqa: F811
) -> None:
    _deliver(world, _set_tls(world, "TLS1_0"))
    _run_outbox(world)
    assert _issue_of(world, STORAGE["id"], TLS_CHECK)["state"] == "open"
    now = datetime.now(UTC)
    rule = new_rule(
        check=TLS_CHECK,
        resource=STORAGE["id"],
        reason="legacy client until the migration",
        approver="ciso@contoso.com",
        expires_at=now + timedelta(days=30),
        created_by="oncall@contoso.com",
        known_checks=world.ctx.engine.catalog,
        now=now,
        max_days=world.ctx.settings.mute_max_days,
    )
    world.ctx.mutes.add(rule)
    teams_before = world.sim.received("teams")["count"]

    _deliver(world, _set_tls(world, "TLS1_1"))  # still failing: now muted
    (row,) = [
        r for r in world.ctx.store.current(resource_id=STORAGE["id"]) if r.check_id == TLS_CHECK
    ]
    assert row.status == "MUTED" and row.evidence["muted_by"]["rule"] == rule.id
    _run_outbox(world)
    issue = _issue_of(world, STORAGE["id"], TLS_CHECK)
    assert (issue["state"], issue["state_reason"]) == ("closed", "not_planned")
    assert world.sim.received("teams")["count"] == teams_before  # no notice
    assert sync_issues(world.ctx, datetime.now(UTC) + timedelta(hours=1)).opened == 0
    assert len(_issues(world)) == 1

    # Passing, then failing again under the mute: without it this would reopen the issue, send
    # a card (HIGH, PHI) and log the dry-run fix; muted, none of them happens.
    _deliver(world, _set_tls(world, "TLS1_2"))
    _run_outbox(world)
    before = datetime.now(UTC)
    _deliver(world, _set_tls(world, "TLS1_0"))
    _run_outbox(world)
    statuses = {r.check_id: r.status for r in world.ctx.store.current(resource_id=STORAGE["id"])}
    assert statuses[TLS_CHECK] == "MUTED"
    history = [
        (t.from_status, t.to_status)
        for t in world.ctx.store.history(STORAGE["id"])
        if t.check_id == TLS_CHECK
    ]
    assert history[-3:] == [("FAIL", "MUTED"), ("MUTED", "PASS"), ("PASS", "MUTED")]
    issue = _issue_of(world, STORAGE["id"], TLS_CHECK)
    assert (issue["state"], issue["state_reason"]) == ("closed", "not_planned")
    assert world.sim.received("teams")["count"] == teams_before
    records = world.ctx.remediator.records(days=1, resource_id=STORAGE["id"], limit=100)
    assert not [r for r in records if r.created_at >= before]
