"""Edge checks: WAF policy mode and rules (Front Door, Application Gateway), Front Door TLS."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from checks import CATALOG
from checks.registry import FAILURE_PATTERNS
from shared.engine import Engine
from shared.kernel.findings import Status
from shared.kernel.snapshot import Snapshot
from tests.checks.helpers import result, status

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "checks"

AFD_MODE = "edge_frontdoor_waf_policy_prevention_mode"
AGW_MODE = "edge_appgw_waf_policy_prevention_mode"
AFD_RULES = "edge_frontdoor_waf_managed_rules_enabled"
AGW_RULES = "edge_appgw_waf_managed_rules_enabled"
BODY = "edge_waf_policy_request_body_inspection_enabled"
TLS = "edge_frontdoor_custom_domain_min_tls12"


def _resource(check_id: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / check_id / f"{name}.json").read_text())
    return dict(data["resource"])


# The published bodies (see the fixtures): WafPolicyGet for Front Door (2024-02-01) and for
# Application Gateway (2024-05-01), and AFDCustomDomains_Get (2025-04-15).
AFD: dict[str, Any] = _resource(AFD_MODE, "pass_reference")
AGW: dict[str, Any] = _resource(AGW_MODE, "pass_reference")
DOMAIN: dict[str, Any] = _resource(TLS, "pass_reference")


def with_settings(resource: dict[str, Any], **settings: Any) -> dict[str, Any]:
    body = copy.deepcopy(resource)
    for key, value in settings.items():
        if value is None:
            body["properties"]["policySettings"].pop(key, None)
        else:
            body["properties"]["policySettings"][key] = value
    return body


# --- prevention mode (P6) ------------------------------------------------------------------------


def test_mode_checks_carry_failure_pattern_p6() -> None:
    assert "P6" in FAILURE_PATTERNS
    assert CATALOG[AFD_MODE].patterns == ("P6",) == CATALOG[AGW_MODE].patterns


@pytest.mark.parametrize(
    ("check_id", "base", "state_key"),
    [(AFD_MODE, AFD, "enabledState"), (AGW_MODE, AGW, "state")],
)
def test_values_are_case_insensitive(check_id: str, base: dict[str, Any], state_key: str) -> None:
    body = with_settings(base, mode="PREVENTION", **{state_key: "enabled"})
    assert status(check_id, body) == Status.PASS


@pytest.mark.parametrize(
    ("check_id", "base", "state_key"),
    [(AFD_MODE, AFD, "enabledState"), (AGW_MODE, AGW, "state")],
)
def test_disabled_policy_fails_even_in_prevention(
    check_id: str, base: dict[str, Any], state_key: str
) -> None:
    finding = result(check_id, with_settings(base, **{state_key: "Disabled"}))
    assert finding.status == Status.FAIL
    assert "bypass" in finding.reason


def test_front_door_state_defaults_to_enabled() -> None:
    finding = result(AFD_MODE, with_settings(AFD, enabledState=None))
    assert finding.status == Status.PASS
    assert finding.evidence["properties.policySettings.enabledState"] == {
        "absent": True,
        "assumed": "Enabled",
    }


def test_app_gateway_state_has_no_assumed_default() -> None:
    finding = result(AGW_MODE, with_settings(AGW, state=None))
    assert finding.status == Status.FAIL
    assert "not reported" in finding.reason


@pytest.mark.parametrize(("check_id", "base"), [(AFD_MODE, AFD), (AGW_MODE, AGW)])
def test_absent_mode_is_not_prevention(check_id: str, base: dict[str, Any]) -> None:
    assert status(check_id, with_settings(base, mode=None)) == Status.FAIL


@pytest.mark.parametrize(("check_id", "base"), [(AFD_MODE, AFD), (AGW_MODE, AGW)])
def test_absent_policy_settings_never_pass(check_id: str, base: dict[str, Any]) -> None:
    body = copy.deepcopy(base)
    del body["properties"]["policySettings"]
    assert status(check_id, body) == Status.FAIL


@pytest.mark.parametrize(
    ("check_id", "base", "bad"),
    [
        (AFD_MODE, AFD, {"mode": 1}),
        (AGW_MODE, AGW, {"mode": True}),
        (AGW_MODE, AGW, {"state": ["Enabled"]}),
    ],
)
def test_malformed_settings_are_errors(
    check_id: str, base: dict[str, Any], bad: dict[str, Any]
) -> None:
    assert status(check_id, with_settings(base, **bad)) == Status.ERROR


def test_policy_settings_not_an_object_is_an_error() -> None:
    body = copy.deepcopy(AGW)
    body["properties"]["policySettings"] = "Prevention"
    assert status(AGW_MODE, body) == Status.ERROR


# --- managed rule sets ---------------------------------------------------------------------------


def with_rule_sets(resource: dict[str, Any], sets: Any) -> dict[str, Any]:
    body = copy.deepcopy(resource)
    body["properties"]["managedRules"]["managedRuleSets"] = sets
    return body


@pytest.mark.parametrize(
    ("check_id", "base", "rule_set"),
    [
        (AFD_RULES, AFD, "microsoft_defaultruleset"),
        (AFD_RULES, AFD, "DefaultRuleSet"),
        (AGW_RULES, AGW, "owasp"),
        (AGW_RULES, AGW, "Microsoft_DefaultRuleSet"),
    ],
)
def test_core_rule_sets_pass_case_insensitively(
    check_id: str, base: dict[str, Any], rule_set: str
) -> None:
    sets = [{"ruleSetType": rule_set, "ruleSetVersion": "2.1"}]
    assert status(check_id, with_rule_sets(base, sets)) == Status.PASS


@pytest.mark.parametrize(("check_id", "base"), [(AFD_RULES, AFD), (AGW_RULES, AGW)])
def test_bot_manager_alone_is_not_enough(check_id: str, base: dict[str, Any]) -> None:
    sets = [{"ruleSetType": "Microsoft_BotManagerRuleSet", "ruleSetVersion": "1.0"}]
    assert status(check_id, with_rule_sets(base, sets)) == Status.FAIL


def test_front_door_log_only_set_fails_but_block_passes() -> None:
    log = {
        "ruleSetType": "Microsoft_DefaultRuleSet",
        "ruleSetVersion": "2.1",
        "ruleSetAction": "log",
    }
    block = {**log, "ruleSetAction": "Block"}
    assert status(AFD_RULES, with_rule_sets(AFD, [log])) == Status.FAIL
    assert status(AFD_RULES, with_rule_sets(AFD, [log, block])) == Status.PASS


@pytest.mark.parametrize(("check_id", "base"), [(AFD_RULES, AFD), (AGW_RULES, AGW)])
def test_absent_managed_rules_fail(check_id: str, base: dict[str, Any]) -> None:
    body = copy.deepcopy(base)
    del body["properties"]["managedRules"]
    finding = result(check_id, body)
    assert finding.status == Status.FAIL
    assert finding.evidence["properties.managedRules.managedRuleSets"]["absent"] is True


@pytest.mark.parametrize("sets", ["DefaultRuleSet", [["DefaultRuleSet"]], [{"ruleSetType": 3}]])
def test_malformed_rule_sets_are_errors(sets: Any) -> None:
    assert status(AFD_RULES, with_rule_sets(AFD, sets)) == Status.ERROR


# --- request body inspection ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "value", "expected"),
    [
        (AFD, "Enabled", Status.PASS),
        (AFD, "enabled", Status.PASS),
        (AFD, "Disabled", Status.FAIL),
        (AFD, None, Status.FAIL),
        (AFD, True, Status.ERROR),  # Front Door uses the strings Enabled/Disabled
        (AGW, True, Status.PASS),
        (AGW, False, Status.FAIL),
        (AGW, None, Status.FAIL),
        (AGW, "true", Status.ERROR),  # Application Gateway uses a boolean
    ],
)
def test_request_body_inspection(base: dict[str, Any], value: Any, expected: Status) -> None:
    body = with_settings(base, requestBodyCheck=value)
    assert status(BODY, body) == expected


def test_request_body_check_applies_to_both_waf_types() -> None:
    assert set(CATALOG[BODY].resource_types) == {
        "microsoft.network/frontdoorwebapplicationfirewallpolicies",
        "microsoft.network/applicationgatewaywebapplicationfirewallpolicies",
    }


# --- Front Door custom domain TLS ----------------------------------------------------------------


def domain(value: Any = "TLS12", drop: bool = False) -> dict[str, Any]:
    body = copy.deepcopy(DOMAIN)
    if drop:
        del body["properties"]["tlsSettings"]["minimumTlsVersion"]
    else:
        body["properties"]["tlsSettings"]["minimumTlsVersion"] = value
    return body


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("TLS12", Status.PASS),
        ("tls12", Status.PASS),
        ("TLS1_2", Status.PASS),
        ("TLS13", Status.PASS),
        ("TLS10", Status.FAIL),
        ("TLS11", Status.FAIL),
        (None, Status.PASS),  # explicit null: not set, so the TLS 1.2 default
        (12, Status.ERROR),
        (["TLS12"], Status.ERROR),
    ],
)
def test_minimum_tls_versions(value: Any, expected: Status) -> None:
    assert status(TLS, domain(value)) == expected


def test_absent_minimum_tls_assumes_tls12_and_says_so() -> None:
    finding = result(TLS, domain(drop=True))
    assert finding.status == Status.PASS
    assert finding.evidence["properties.tlsSettings.minimumTlsVersion"] == {
        "absent": True,
        "assumed": "TLS12",
    }


def test_tls_settings_not_an_object_is_an_error() -> None:
    body = copy.deepcopy(DOMAIN)
    body["properties"]["tlsSettings"] = "TLS12"
    assert status(TLS, body) == Status.ERROR


def test_classic_cdn_endpoint_domains_are_not_judged() -> None:
    body = copy.deepcopy(DOMAIN)
    body["id"] = body["id"].replace("/customdomains/", "/endpoints/ep1/customdomains/")
    body["type"] = "Microsoft.Cdn/profiles/endpoints/customdomains"
    evaluation = Engine().evaluate(Snapshot(body))
    assert all(f.check_id != TLS for f in evaluation.findings)


# --- metadata ------------------------------------------------------------------------------------


def test_edge_catalog_metadata() -> None:
    edge = {k: v for k, v in CATALOG.items() if v.service == "edge"}
    assert len(edge) >= 4
    assert CATALOG[TLS].azure_policy == ("679da822-78a7-4eff-8fff-a899454a9970",)
    for item in edge.values():
        assert "164.312" in " ".join(item.hipaa), item.id
        assert "bsent" in item.description, item.id
