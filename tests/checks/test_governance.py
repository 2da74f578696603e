"""Edge cases of the governance checks: initiative matching, scopes, exclusions, custom roles."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from shared.kernel.findings import Finding, Status
from shared.kernel.snapshot import Snapshot
from tests.checks.helpers import ENGINE, finding, status

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "checks"
ASSIGNED = "governance_subscription_hipaa_initiative_assigned"
EXCLUSIONS = "governance_subscription_hipaa_initiative_no_exclusions"
ROLE = "governance_custom_role_no_broad_permissions"
SUB = "/subscriptions/ae640e6b-ba3e-4256-9d62-2993eecfa6f2"
INITIATIVE = (
    "/providers/Microsoft.Authorization/policySetDefinitions/a169a624-5599-4385-a696-c8d643089fab"
)
MG = "/providers/Microsoft.Management/managementGroups/root"


def _case() -> tuple[dict[str, Any], dict[str, Any]]:
    doc = json.loads((FIXTURES / ASSIGNED / "pass_do_not_enforce.json").read_text())
    assignment: dict[str, Any] = doc["related"]["policy_assignments"][0]
    assignment["properties"]["enforcementMode"] = "Default"
    subscription: dict[str, Any] = doc["resource"]
    return subscription, assignment


def _run(
    check_id: str, resource: dict[str, Any], assignments: Any, phi: bool | None = None
) -> Finding | None:
    return finding(check_id, resource, {"policy_assignments": assignments}, phi)


def _status(check_id: str, resource: dict[str, Any], assignments: Any) -> Status:
    return status(check_id, resource, {"policy_assignments": assignments})


@pytest.mark.parametrize(
    "definition",
    [INITIATIVE, INITIATIVE.upper(), INITIATIVE.lower() + "/", " " + INITIATIVE],
)
def test_initiative_id_matches_case_insensitively(definition: str) -> None:
    subscription, assignment = _case()
    assignment["properties"]["policyDefinitionId"] = definition
    assert _status(ASSIGNED, subscription, [assignment]) == Status.PASS


@pytest.mark.parametrize(
    "definition",
    [
        INITIATIVE.replace("policySetDefinitions", "policyDefinitions"),
        INITIATIVE.replace("a169a624", "a169a625"),
        f"{SUB}/providers/Microsoft.Authorization/policySetDefinitions/HITRUST-HIPAA-copy",
    ],
)
def test_other_definitions_do_not_count(definition: str) -> None:
    subscription, assignment = _case()
    assignment["properties"]["policyDefinitionId"] = definition
    assert _status(ASSIGNED, subscription, [assignment]) == Status.FAIL


def test_do_not_enforce_counts_and_is_reported() -> None:
    subscription, assignment = _case()
    assignment["properties"]["enforcementMode"] = "doNotEnforce"
    finding = _run(ASSIGNED, subscription, [assignment])
    assert finding is not None and finding.status == Status.PASS
    assert "DoNotEnforce" in finding.reason
    assert finding.evidence["related.policy_assignments[0]"]["enforcementMode"] == "doNotEnforce"


def test_an_enforced_assignment_is_preferred_in_the_reason() -> None:
    subscription, assignment = _case()
    audit_only = copy.deepcopy(assignment)
    audit_only["name"] = "audit-only"
    audit_only["properties"]["enforcementMode"] = "DoNotEnforce"
    finding = _run(ASSIGNED, subscription, [audit_only, assignment])
    assert finding is not None and finding.status == Status.PASS
    assert "DoNotEnforce" not in finding.reason


def test_scope_is_taken_from_the_id_when_properties_scope_is_absent() -> None:
    subscription, assignment = _case()
    del assignment["properties"]["scope"]
    assignment["id"] = f"{MG}/providers/Microsoft.Authorization/policyAssignments/hipaa"
    assert _status(ASSIGNED, subscription, [assignment]) == Status.PASS


def test_assignment_to_another_subscription_does_not_count() -> None:
    subscription, assignment = _case()
    assignment["properties"]["scope"] = "/subscriptions/00000000-0000-0000-0000-000000000000"
    finding = _run(ASSIGNED, subscription, [assignment])
    assert finding is not None and finding.status == Status.FAIL
    assert "not assigned" in finding.reason


def test_not_scopes_naming_the_subscription_in_another_case_excludes_it() -> None:
    subscription, assignment = _case()
    assignment["properties"]["scope"] = MG
    assignment["properties"]["notScopes"] = [SUB.upper()]
    assert _status(ASSIGNED, subscription, [assignment]) == Status.FAIL
    assert _status(EXCLUSIONS, subscription, [assignment]) == Status.NOT_APPLICABLE


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda p: p.pop("policyDefinitionId"), "policyDefinitionId"),
        (lambda p: p.update(scope=7), "scope"),
        (lambda p: p.update(notScopes="rg"), "notScopes"),
    ],
)
def test_malformed_assignments_are_errors(mutate: Any, where: str) -> None:
    subscription, assignment = _case()
    mutate(assignment["properties"])
    finding = _run(ASSIGNED, subscription, [assignment])
    assert finding is not None and finding.status == Status.ERROR
    assert where in finding.reason


def test_initiative_checks_are_phi_only() -> None:
    subscription, _ = _case()
    subscription["tags"] = {}
    assert _run(ASSIGNED, subscription, []) is None
    assert _run(ASSIGNED, subscription, [], phi=True) is not None


def test_exclusions_only_count_scopes_inside_the_subscription() -> None:
    subscription, assignment = _case()
    assignment["properties"]["scope"] = MG
    assignment["properties"]["notScopes"] = [
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/elsewhere"
    ]
    assert _status(EXCLUSIONS, subscription, [assignment]) == Status.PASS
    assignment["properties"]["notScopes"].append(f"{SUB.upper()}/resourceGroups/PHI-Data")
    finding = _run(EXCLUSIONS, subscription, [assignment])
    assert finding is not None and finding.status == Status.FAIL
    assert finding.evidence["excluded_scopes_in_subscription"] == [f"{SUB}/resourcegroups/phi-data"]


# --- custom roles ----------------------------------------------------------------------------


def _role(**permission: Any) -> dict[str, Any]:
    doc = json.loads((FIXTURES / ROLE / "pass.json").read_text())
    role: dict[str, Any] = doc["resource"]
    role["properties"]["permissions"][0].update(permission)
    return role


def _role_status(role: dict[str, Any]) -> Status:
    finding = next(f for f in ENGINE.evaluate(Snapshot(role)).findings if f.check_id == ROLE)
    return finding.status


@pytest.mark.parametrize(
    ("actions", "not_actions", "expected"),
    [
        (["MICROSOFT.AUTHORIZATION/*"], [], Status.FAIL),
        (["Microsoft.Authorization/*/write"], [], Status.FAIL),
        (["Microsoft.Authorization/roleAssignments/write"], [], Status.FAIL),
        (["Microsoft.Authorization/*"], ["microsoft.authorization/roleassignments/*"], Status.PASS),
        (["Microsoft.Authorization/*/read"], [], Status.PASS),
        (["Microsoft.Compute/*"], [], Status.PASS),
    ],
)
def test_role_assignment_rights_after_not_actions(
    actions: list[str], not_actions: list[str], expected: Status
) -> None:
    assert _role_status(_role(actions=actions, notActions=not_actions)) == expected


def test_custom_role_type_is_case_insensitive() -> None:
    role = _role(actions=["*"])
    role["properties"]["type"] = "customrole"
    assert _role_status(role) == Status.FAIL


@pytest.mark.parametrize(
    "permission",
    [{"actions": "*"}, {"actions": [1]}, {"notActions": {"a": 1}}, {"dataActions": [None]}],
)
def test_malformed_permissions_are_errors(permission: dict[str, Any]) -> None:
    assert _role_status(_role(**permission)) == Status.ERROR


def test_permissions_not_a_list_is_an_error() -> None:
    role = _role()
    role["properties"]["permissions"] = {"actions": ["*"]}
    assert _role_status(role) == Status.ERROR
