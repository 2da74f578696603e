"""The selection model and the mute rules, without services: what a selection picks and what
the engine then asks the reader for; what a rule covers, when it holds, and what a muted or
no-longer-muted finding looks like."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from checks import CATALOG
from shared.engine import Engine
from shared.kernel.findings import Finding, Severity, Status
from shared.kernel.snapshot import Snapshot
from shared.mutes import MuteError, MuteRule, apply_mutes, new_rule
from shared.selection import Selection, SelectionError, from_setting

NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)
SA = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-legacy/providers/"
    "Microsoft.Storage/storageAccounts/stlegacy"
)


def test_criteria_combine_with_and_values_with_or_exclusions_last() -> None:
    chosen = Selection(services=("storage", "keyvault"), severities=("high",)).apply(CATALOG)
    assert chosen and all(
        c.service in ("storage", "keyvault") and c.severity == Severity.HIGH
        for c in chosen.values()
    )
    assert len(chosen) < len([c for c in CATALOG.values() if c.service in ("storage", "keyvault")])
    cited = Selection(hipaa=("164.312(b)",)).apply(CATALOG)
    assert cited and all("164.312(b)" in c.hipaa for c in cited.values())
    part = Selection(hipaa=("164.308",)).apply(CATALOG)
    assert all(any(h.startswith("164.308(") for h in c.hipaa) for c in part.values())
    phi = Selection(phi_only=True).apply(CATALOG)
    assert phi and all(c.phi_only for c in phi.values())
    some = next(iter(Selection(services=("network",)).apply(CATALOG)))
    rest = Selection(services=("network",), excluded_checks=(some,)).apply(CATALOG)
    assert some not in rest and rest
    assert not Selection(excluded_services=("storage",)).apply(CATALOG).keys() & {
        k for k, c in CATALOG.items() if c.service == "storage"
    }
    assert Selection().everything and Selection().apply(CATALOG) == CATALOG


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        (Selection(checks=("storage_nope",)), "checks: unknown check id 'storage_nope'"),
        (Selection(services=("dns", "dhcp")), "unknown services 'dns', 'dhcp'"),
        (Selection(severities=("urgent",)), "'urgent' is not one of CRITICAL"),
        (Selection(hipaa=("164.3",)), "no check cites '164.3'"),
        (Selection(hipaa=("164.3120",)), "no check cites"),
    ],
)
def test_unknown_names_are_refused_naming_them(selection: Selection, message: str) -> None:
    with pytest.raises(SelectionError, match=message.replace("(", r"\(")):
        selection.apply(CATALOG)


def test_the_setting_takes_check_ids_and_services_and_names_itself() -> None:
    selection = from_setting(("storage", "network_nsg_flow_logs_x"), ("keyvault",), CATALOG)
    assert selection.services == ("storage",) and selection.excluded_services == ("keyvault",)
    with pytest.raises(SelectionError, match="PHIGUARD_CHECKS: unknown check id"):
        selection.apply(CATALOG)


def test_the_engine_asks_only_for_the_selected_checks_related_documents() -> None:
    full = Engine()
    rtype = "microsoft.storage/storageaccounts"
    assert full.needs_for(rtype, True)  # storage checks need diagnostic settings, ...
    no_needs = next(c for c in CATALOG.values() if rtype in c.resource_types and not c.needs)
    narrow = Engine.selected(Selection(checks=(no_needs.id,)))
    assert narrow.needs_for(rtype, True) == set()
    assert narrow.supported_types() == set(no_needs.resource_types)
    assert narrow.scope == frozenset({no_needs.id})
    with pytest.raises(SelectionError, match="matches no check"):
        Engine.selected(Selection(services=("storage",), excluded_services=("storage",)))


def _finding(status: Status = Status.FAIL, check: str = "storage_account_min_tls_1_2") -> Finding:
    return Finding(
        resource_id=SA,
        resource_type="microsoft.storage/storageaccounts",
        check_id=check,
        status=status,
        severity=Severity.HIGH,
        hipaa=("164.312(e)(1)",),
        title="t",
        reason="The account accepts TLS1_0.",
        evidence={"properties.minimumTlsVersion": "TLS1_0"},
        phi=True,
    )


def _rule(**changes: object) -> MuteRule:
    values: dict[str, object] = {
        "id": "mute-0000000a",
        "check": "storage_account_min_tls_1_2",
        "resource": SA,
        "reason": "legacy",
        "approver": "ciso@contoso.example",
        "expires_at": NOW + timedelta(days=10),
        "created_at": NOW - timedelta(days=1),
        "created_by": "oncall",
    }
    values.update(changes)
    return MuteRule(**values)  # type: ignore[arg-type]


def test_a_holding_rule_mutes_a_fail_and_names_itself() -> None:
    (muted,) = apply_mutes([_finding()], [_rule()], NOW, 180)
    assert muted.status == Status.MUTED
    assert muted.evidence["muted_by"]["rule"] == "mute-0000000a"
    assert muted.evidence["properties.minimumTlsVersion"] == "TLS1_0"  # evidence kept
    assert muted.reason.startswith("Muted by mute-0000000a until ")
    # Only FAILs: a check that could not judge stays unjudged.
    for status in (Status.PASS, Status.ERROR, Status.NOT_ASSESSED):
        assert apply_mutes([_finding(status)], [_rule()], NOW, 180)[0].status == status


@pytest.mark.parametrize(
    ("resource", "covers"),
    [
        (SA.upper(), True),
        (SA.rsplit("/", 1)[0] + "/*", True),
        ("/subscriptions/*/resourceGroups/rg-legacy/*", True),
        ("/subscriptions/*/resourceGroups/rg-other/*", False),
        (SA + "x", False),
        (SA[:-1] + "?", True),
    ],
)
def test_resource_ids_and_patterns(resource: str, covers: bool) -> None:
    assert _rule(resource=resource).covers("storage_account_min_tls_1_2", SA) is covers
    assert not _rule(resource=resource).covers("storage_other_check", SA)
    assert _rule(resource=resource, check="*").covers("storage_other_check", SA) is covers


def test_an_ended_rule_stops_muting_and_says_so() -> None:
    ended = _rule(expires_at=NOW - timedelta(seconds=1))
    (finding,) = apply_mutes([_finding()], [ended], NOW, 180)
    assert finding.status == Status.FAIL
    assert finding.evidence["mute_expired"]["rule"] == "mute-0000000a"
    assert "no longer applies" in finding.reason
    # A rule longer than the limit (written to the table by hand) is not honoured either.
    long = _rule(created_at=NOW - timedelta(days=1), expires_at=NOW + timedelta(days=400))
    assert apply_mutes([_finding()], [long], NOW, 180)[0].status == Status.FAIL


def test_the_engine_applies_the_rules_it_is_given() -> None:
    body = {
        "id": SA,
        "name": "stlegacy",
        "type": "Microsoft.Storage/storageAccounts",
        "location": "eastus",
        "tags": {"hipaa": "true"},
        "properties": {"minimumTlsVersion": "TLS1_0"},
    }
    engine = Engine.selected(Selection(checks=("storage_account_min_tls_1_2",)))
    assert engine.evaluate(Snapshot(body)).findings[0].status == Status.FAIL
    rule = _rule(expires_at=datetime.now(UTC) + timedelta(days=1))
    engine.mutes = lambda: (rule,)
    (finding,) = engine.evaluate(Snapshot(body)).findings
    assert finding.status == Status.MUTED


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"check": "nope"}, "'nope' is not a check id"),
        ({"resource": "rg-legacy/*"}, "starting /subscriptions/"),
        ({"resource": "/subscriptions/x/[a-z]"}, "only letters"),
        ({"resource": "/subscriptions/x/../y"}, "'..'"),
        ({"check": "*", "resource": "/subscriptions/*"}, "mutes everything"),
        ({"check": "*", "resource": "/subscriptions/*/*"}, "mutes everything"),
        ({"reason": " "}, "--reason is empty"),
        ({"approver": "a\u202eb"}, "--approver holds control"),
        ({"expires_at": NOW}, "in the past"),
        ({"expires_at": NOW + timedelta(days=200)}, "more than 180 days"),
    ],
)
def test_new_rules_are_validated(changes: dict[str, object], message: str) -> None:
    values: dict[str, object] = {
        "check": "storage_account_min_tls_1_2",
        "resource": SA,
        "reason": "legacy",
        "approver": "ciso@contoso.example",
        "expires_at": NOW + timedelta(days=30),
    }
    values.update(changes)
    with pytest.raises(MuteError, match=message.replace("[", r"\[").replace("(", r"\(")):
        new_rule(
            **values,  # type: ignore[arg-type]
            created_by="oncall",
            known_checks=CATALOG,
            now=NOW,
            max_days=180,
        )


def test_catalog_lists_what_a_selection_picks(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from shared.cli import main

    assert main(["catalog", "--format", "json", "--services", "keyvault", "--phi-only"]) == 0
    listed = json.loads(capsys.readouterr().out)["checks"]
    assert listed and all(c["service"] == "keyvault" and c["phi_only"] for c in listed)
    assert main(["catalog", "--excluded-services", "mainframe"]) == 2
    assert "unknown service 'mainframe'" in capsys.readouterr().err
