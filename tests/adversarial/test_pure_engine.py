"""Pure layer, the engine: any document of a checked type, mutated anywhere (wrong types,
nulls, huge, deep, unicode, markup, hostile tags), evaluates without raising, quickly, and every
finding has a Status. The one documented refusal is :class:`MalformedResource` for a document
whose id or type cannot be told (``Snapshot`` needs a string ``id``; ``Engine.evaluate`` needs a
type from ``type`` or the id)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from functools import partial
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checks import CATALOG
from remediations import REMEDIATIONS
from remediations.registry import RemediationOptions
from shared.engine import Engine
from shared.kernel.findings import Status
from shared.kernel.resource_id import ResourceIdError, canonical, normalize, resource_type_of
from shared.kernel.snapshot import MalformedResource, Snapshot
from tests.adversarial import strategies as s
from tests.adversarial.profile import PURE, SOME

ENGINE = Engine()
MOMENT = 2.0


def _usable_type(doc: Mapping[str, Any]) -> bool:
    try:
        resource_type_of(dict(doc))
    except ResourceIdError:
        return False
    return True


def evaluate_or_refuse(
    doc: Any, related: dict[str, Any], group: Mapping[str, Any] | None, phi: bool | None
) -> Any:
    """The evaluation, or None when the documented refusal applied (and only then)."""
    try:
        snapshot = Snapshot(doc, related, group, phi)
    except MalformedResource:
        assert not (isinstance(doc, Mapping) and isinstance(doc.get("id"), str)), doc
        return None
    try:
        evaluation, seconds = s.timed(lambda: ENGINE.evaluate(snapshot))
    except MalformedResource as exc:
        assert str(exc).startswith("$.type"), exc
        assert not _usable_type(doc)
        return None
    assert seconds < MOMENT, f"{seconds:.2f} s"
    assert evaluation.resource_id == doc["id"]
    for finding in evaluation.findings:
        assert isinstance(finding.status, Status)
        assert finding.check_id in CATALOG
        assert isinstance(finding.reason, str) and finding.reason.strip()
        assert isinstance(finding.evidence, Mapping)
        if finding.status is Status.PASS:
            assert not any(n.check_id == finding.check_id for n in evaluation.not_assessed)
    return evaluation


@PURE
@given(
    doc=s.resource_documents(),
    related=s.related_documents(),
    group_tags=st.one_of(st.none(), s.tags()),
    phi=st.one_of(st.none(), st.booleans()),
)
def test_any_mutated_document_evaluates_or_is_refused_as_documented(
    doc: Any, related: dict[str, Any], group_tags: Any, phi: bool | None
) -> None:
    group = None if group_tags is None else {"tags": group_tags}
    evaluate_or_refuse(doc, related, group, phi)


@SOME
@given(
    doc=st.sampled_from(s.checked_documents()),
    where=st.sampled_from(("properties", "tags", "properties.securityRules", "sku", "identity")),
    value=st.one_of(s.deep_values, s.wide_values, s.huge_text),
)
def test_huge_and_deep_values_cost_a_moment(doc: dict[str, Any], where: str, value: Any) -> None:
    path = tuple(where.split("."))
    evaluate_or_refuse(s.set_at(doc, path, value), {}, None, True)


def _nsg_with_rules(count: int, rule: dict[str, Any]) -> dict[str, Any]:
    nsg = next(d for d in s.documents_of("microsoft.network/networksecuritygroups"))
    rules = [
        {
            "name": f"r{i}",
            "id": f"{nsg['id']}/securityRules/r{i}",
            "properties": {**rule["properties"], "priority": 100 + i},
        }
        for i in range(count)
    ]
    return {**nsg, "properties": {**nsg["properties"], "securityRules": rules}}


@pytest.mark.parametrize(
    ("count", "ports", "source", "access"),
    [
        (1_000, "*", "*", "Allow"),
        (2_000, "0-65535", "Internet", "Deny"),
        (2_000, "3389", "*", "Allow"),
        (2_000, "1-1000", "10.0.0.0/8", "Allow"),
    ],
)
def test_an_nsg_with_thousands_of_rules_is_judged_and_planned_in_a_moment(
    count: int, ports: str, source: str, access: str
) -> None:
    """Azure allows 1,000 rules per NSG; a document with twice as many still costs only a
    moment, through the checks and the NSG fix's planner (measured on an idle 2-core machine:
    about 0.2 s each for 2,000 rules, 0.6 s / 0.8 s for 4,000: linear)."""
    rule = {
        "properties": {
            "protocol": "*",
            "sourcePortRange": "*",
            "destinationPortRange": ports,
            "sourceAddressPrefix": source,
            "destinationAddressPrefix": "*",
            "access": access,
            "direction": "Inbound",
        }
    }
    doc = _nsg_with_rules(count, rule)
    evaluate_or_refuse(doc, {}, None, True)
    fix = REMEDIATIONS["network_nsg_restrict_internet_inbound"]
    plan, seconds = s.timed(lambda: fix.plan(Snapshot(doc, {}, None, True), RemediationOptions()))
    assert seconds < MOMENT, f"{seconds:.2f} s to plan for {count} rules"
    if plan is not None:
        json.dumps([w.body for w in plan.writes])


@PURE
@given(doc=s.resource_documents(keep_id=True), phi=st.booleans())
def test_a_remediation_plan_raises_only_value_errors_and_writes_only_under_its_resource(
    doc: Any, phi: bool
) -> None:
    """Every remediation's planner on a hostile document: a plan or ValueError (PlanError,
    MalformedResource), and every write targets the resource itself or a child of it."""
    try:
        snapshot = Snapshot(doc, {}, None, phi)
        rtype = snapshot.type
    except (MalformedResource, ResourceIdError):
        return
    for fix in REMEDIATIONS.values():
        if not fix.applies_to(rtype):
            continue
        try:
            plan, seconds = s.timed(partial(fix.plan, snapshot, RemediationOptions()))
        except ValueError:
            continue
        assert seconds < MOMENT
        if plan is None:
            continue
        _assert_under(snapshot.id, [w.target_id for w in plan.writes])


def _assert_under(resource_id: str, targets: list[str]) -> None:
    """Every target is canonical (no dot segment an HTTP client would resolve, no query) and
    is the resource or one of its children."""
    own = normalize(resource_id)
    for target in targets:
        assert canonical(target) == target.rstrip("/"), target
        key = normalize(target)
        assert key == own or key.startswith(own + "/"), (resource_id, target)


@PURE
@given(nsg=s.steered_nsgs(), phi=st.booleans())
def test_the_nsg_fix_writes_only_rules_of_the_nsg_it_judged(nsg: dict[str, Any], phi: bool) -> None:
    """Regression (found here, fixed in 2c51b33): the fix PUT to the embedded rule's ``id`` (or
    ``{nsg}/securityRules/{name}``) as the NSG body gave it: another subscription's NSG rule, a
    storage account (the audit archive), a dot-segment or query path."""
    fix = REMEDIATIONS["network_nsg_restrict_internet_inbound"]
    snapshot = Snapshot(nsg, {}, None, phi)
    try:
        plan = fix.plan(snapshot, RemediationOptions())
    except ValueError:
        return  # refusing to plan is safe
    assert plan is not None
    _assert_under(snapshot.id, [w.target_id for w in plan.writes])
    _assert_under(snapshot.id, [w.target_id for w in plan.inverse])


@pytest.mark.parametrize("where", ["tags", "default_rule_name", "description"])
def test_a_deeply_nested_value_anywhere_does_not_break_the_nsg_planner(where: str) -> None:
    """Found by the deep run: an NSG whose own rule opens RDP to the Internet (the demo's
    nsg-chs-phi-app) with a value 700 levels deep somewhere the fix never touches."""
    nsg = next(d for d in s.NSG_DOCUMENTS if d["name"] == "nsg-chs-phi-app")
    value = s.deep(700, "list")
    if where == "tags":
        doc = s.set_at(nsg, ("tags", "x"), value)
    elif where == "default_rule_name":
        doc = s.set_at(nsg, ("properties", "defaultSecurityRules", 0, "name"), value)
    else:
        doc = s.set_at(nsg, ("properties", "securityRules", 0, "properties", "description"), value)
    fix = REMEDIATIONS["network_nsg_restrict_internet_inbound"]
    with contextlib.suppress(ValueError):  # refusing to plan (recorded FAILED) is fine
        fix.plan(Snapshot(doc, {}, None, True), RemediationOptions())


def test_huge_ids_are_parsed_without_being_held() -> None:
    """The parse cache keeps ids of a real length only: a feed of huge distinct ids (hostile
    events) must not fill memory with them."""
    from shared.kernel import resource_id

    before = resource_id._parse.cache_info().currsize
    for i in range(50):
        rid = f"/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/{i}"
        parsed = resource_id.parse(rid + "x" * 200_000)
        assert parsed.type == "microsoft.storage/storageaccounts"
    assert resource_id._parse.cache_info().currsize == before
    short = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/held"
    assert resource_id.parse(short) is resource_id.parse(short)  # kept, and frozen
