"""Estates of the simulated tenant: shape, determinism, and that the ground truth is true.

The ground-truth tests run every document through ``shared.loader.load_documents`` (whole-tenant
mode) and ``shared.engine.Engine``: a resource listed for a pattern must get a FAIL from a check
carrying that pattern, its compliant twin must not, and nothing else may fail a pattern check.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from checks import CATALOG
from shared.engine import Engine, Evaluation
from shared.kernel.findings import Status
from shared.kernel.resource_id import normalize, parent, parse, resource_type_of
from shared.kernel.snapshot import Snapshot
from shared.loader import load_documents, load_paths
from sim.estate import (
    HIPAA_INITIATIVE_ID,
    PATTERNS,
    Estate,
    demo_compliant_twins,
    demo_estate,
    demo_ground_truth,
    estate_from_spec,
    generated_estate,
    guid,
    load_estate,
    save_estate,
)

SUBSCRIPTION = "microsoft.resources/subscriptions"


def _evaluate(estate: Estate) -> dict[str, Evaluation]:
    snapshots = load_documents(((d, "estate") for d in estate.documents), complete=True)
    engine = Engine()
    return {s.key: engine.evaluate(s) for s in snapshots}


def _fails(evaluations: Iterable[Evaluation]) -> set[tuple[str, str]]:
    """(check id, normalized resource id) of every FAIL."""
    return {
        (f.check_id, normalize(f.resource_id))
        for e in evaluations
        for f in e.findings
        if f.status == Status.FAIL
    }


def _pattern_fails(fails: set[tuple[str, str]], pattern: str) -> set[str]:
    return {rid for check_id, rid in fails if pattern in CATALOG[check_id].patterns}


@pytest.fixture(scope="module")
def demo() -> Estate:
    return demo_estate()


@pytest.fixture(scope="module")
def demo_evaluations(demo: Estate) -> dict[str, Evaluation]:
    return _evaluate(demo)


@pytest.fixture(scope="module")
def generated() -> Estate:
    return generated_estate(1500, role_assignments=300, seed=11, violation_rate=0.3)


# --- shape -----------------------------------------------------------------------------------


def test_same_inputs_give_the_same_estate() -> None:
    assert demo_estate() == demo_estate()
    first = generated_estate(400, 60, seed=5)
    assert first == generated_estate(400, 60, seed=5)
    other = generated_estate(400, 60, seed=6)
    assert {d["id"] for d in first.documents}.isdisjoint({d["id"] for d in other.documents})


def test_guid_is_uuid5_of_the_name() -> None:
    value = guid("subscription", "x")
    assert uuid.UUID(value).version == 5
    assert value == guid("subscription", "x") != guid("subscription", "y")


@pytest.mark.parametrize("which", ["demo", "generated"])
def test_ids_are_unique_ignoring_case(which: str, demo: Estate, generated: Estate) -> None:
    estate = demo if which == "demo" else generated
    counts = Counter(normalize(d["id"]) for d in estate.documents)
    assert [k for k, n in counts.items() if n > 1] == []


@pytest.mark.parametrize("which", ["demo", "generated"])
def test_every_document_has_an_id_and_a_type(which: str, demo: Estate, generated: Estate) -> None:
    estate = demo if which == "demo" else generated
    for doc in estate.documents:
        assert isinstance(doc.get("id"), str) and doc["id"].startswith("/subscriptions/"), doc
        rtype = resource_type_of(doc)
        if rtype == SUBSCRIPTION:
            # Subscriptions_Get has no "type"; the id says what it is.
            assert "type" not in doc and doc["subscriptionId"] in doc["id"]
        else:
            assert isinstance(doc.get("type"), str) and doc["type"].lower() == rtype, doc["id"]


@pytest.mark.parametrize("which", ["demo", "generated"])
def test_child_and_extension_documents_have_their_parent(
    which: str, demo: Estate, generated: Estate
) -> None:
    estate = demo if which == "demo" else generated
    keys = {normalize(d["id"]) for d in estate.documents}
    # Defender's per-location resources (JIT policies) hang off a location segment that ARM
    # serves no document for.
    orphans = [
        d["id"]
        for d in estate.documents
        if (up := parent(d["id"])) is not None
        and normalize(up) not in keys
        and "/providers/microsoft.security/locations/" not in normalize(up) + "/"
    ]
    assert orphans == []


def test_subscriptions_are_documents_of_the_tenant(demo: Estate, generated: Estate) -> None:
    for estate in (demo, generated):
        assert estate.subscriptions
        keys = {normalize(d["id"]) for d in estate.documents}
        for sub in estate.subscriptions:
            assert sub["tenantId"] == estate.tenant_id
            assert normalize(sub["id"]) in keys


def test_demo_covers_every_resource_type_the_catalog_checks(demo: Estate) -> None:
    checked = {t for c in CATALOG.values() for t in c.resource_types}
    present = {resource_type_of(d) for d in demo.documents}
    assert sorted(checked - present) == []


def test_embedded_security_rules_equal_their_child_documents(demo: Estate) -> None:
    by_id = demo.by_id()
    nsgs = [d for d in demo.documents if resource_type_of(d).endswith("/networksecuritygroups")]
    assert nsgs
    for nsg in nsgs:
        for rule in nsg["properties"]["securityRules"]:
            assert by_id[normalize(rule["id"])] == rule
            assert rule["etag"] == nsg["etag"]


def test_demo_has_no_real_contact_data(demo: Estate) -> None:
    text = json.dumps(demo.documents)
    emails = set(re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", text))
    assert emails and all(e.endswith(".example") for e in emails), emails


def test_hipaa_initiative_is_assigned_on_one_demo_subscription_only(demo: Estate) -> None:
    assigned = [
        d["properties"]["scope"]
        for d in demo.documents
        if resource_type_of(d) == "microsoft.authorization/policyassignments"
        and d["properties"]["policyDefinitionId"].lower() == HIPAA_INITIATIVE_ID.lower()
    ]
    assert len(assigned) == 1
    assert len(demo.subscriptions) == 2


def test_generated_estate_has_the_requested_size() -> None:
    estate = generated_estate(2000, role_assignments=500, seed=3)
    assignments = [
        d
        for d in estate.documents
        if resource_type_of(d) == "microsoft.authorization/roleassignments"
    ]
    assert len(assignments) == 500
    scaffolding = {
        "microsoft.resources/resourcegroups",
        SUBSCRIPTION,
        "microsoft.authorization/roledefinitions",
        "microsoft.authorization/policyassignments",
        "microsoft.authorization/roleassignments",
    }
    top_level = [
        d
        for d in estate.documents
        if resource_type_of(d) not in scaffolding
        and (rg := parse(d["id"]).resource_group_id) is not None
        and normalize(parent(d["id"]) or "") == normalize(rg)
    ]
    # The requested resources, plus per subscription a few platform resources, plus the
    # servers that databases bring and the OS disks of VMs.
    assert 2000 <= len(top_level) <= 2000 * 1.2 + 10 * len(estate.subscriptions)
    assert len(estate.documents) > 2 * 2000


# --- ground truth ----------------------------------------------------------------------------


def test_demo_ground_truth_names_patterns_and_known_checks(demo: Estate) -> None:
    assert demo.ground_truth == demo_ground_truth()
    assert set(PATTERNS) <= demo.ground_truth.keys()
    keys = {normalize(d["id"]) for d in demo.documents}
    for name, ids in demo.ground_truth.items():
        assert name in PATTERNS or name in CATALOG, f"unknown check id {name!r}"
        assert ids and all(normalize(i) in keys for i in ids), name
    for ids in demo_compliant_twins().values():
        assert all(normalize(i) in keys for i in ids)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_demo_violations_fail_their_pattern(
    pattern: str, demo: Estate, demo_evaluations: dict[str, Evaluation]
) -> None:
    failing = _pattern_fails(_fails(demo_evaluations.values()), pattern)
    expected = {normalize(i) for i in demo.ground_truth[pattern]}
    assert sorted(expected - failing) == [], "known violations without a FAIL"
    assert sorted(failing - expected) == [], "FAILs the ground truth does not list"


@pytest.mark.parametrize("pattern", PATTERNS)
def test_demo_twins_pass_their_pattern(pattern: str, demo: Estate) -> None:
    """Twins are evaluated with PHI scope forced on, so phi_only checks apply to all of them."""
    snapshots = {
        s.key: s for s in load_documents(((d, "demo") for d in demo.documents), complete=True)
    }
    engine = Engine()
    passed: Counter[str] = Counter()
    for twin in demo_compliant_twins()[pattern]:
        s = snapshots[normalize(twin)]
        evaluation = engine.evaluate(Snapshot(s.resource, s.related, s.resource_group, phi=True))
        verdicts = {
            f.check_id: f.status
            for f in evaluation.findings
            if pattern in CATALOG[f.check_id].patterns
        }
        assert verdicts, f"no {pattern} check assessed {twin}: {evaluation.not_assessed}"
        assert Status.FAIL not in verdicts.values(), (twin, verdicts)
        assert Status.ERROR not in verdicts.values(), (twin, verdicts)
        passed[pattern] += Status.PASS in verdicts.values()
    # An RBAC vault is NOT_APPLICABLE to access-policy checks; some twin must really PASS.
    assert passed[pattern], f"no {pattern} twin passes a {pattern} check"


def test_demo_fails_exactly_the_checks_its_ground_truth_lists(
    demo: Estate, demo_evaluations: dict[str, Evaluation]
) -> None:
    actual = _fails(demo_evaluations.values())
    expected = {
        (name, normalize(rid))
        for name, ids in demo.ground_truth.items()
        if name not in PATTERNS
        for rid in ids
    }
    assert sorted(expected - actual) == [], "listed but not failing"
    assert sorted(actual - expected) == [], "failing but not listed"


def test_demo_evaluates_without_errors_or_gaps(demo_evaluations: dict[str, Evaluation]) -> None:
    errors = [
        (e.resource_id, f.check_id, f.reason)
        for e in demo_evaluations.values()
        for f in e.findings
        if f.status == Status.ERROR
    ]
    assert errors == []
    not_assessed = [
        (e.resource_id, n.check_id, n.missing)
        for e in demo_evaluations.values()
        for n in e.not_assessed
    ]
    assert not_assessed == []


def test_generated_ground_truth_matches_the_pattern_checks(generated: Estate) -> None:
    fails = _fails(_evaluate(generated).values())
    assert all(generated.ground_truth[p] for p in PATTERNS if p != "P3")
    for pattern in PATTERNS:
        expected = {normalize(i) for i in generated.ground_truth[pattern]}
        failing = _pattern_fails(fails, pattern)
        assert sorted(expected - failing) == [], f"{pattern}: listed but not failing"
        assert sorted(failing - expected) == [], f"{pattern}: failing but not listed"


def test_violation_rate_zero_gives_no_pattern_violations() -> None:
    estate = generated_estate(600, seed=2, violation_rate=0.0)
    assert all(estate.ground_truth[p] == [] for p in PATTERNS)
    fails = _fails(_evaluate(estate).values())
    assert {p: sorted(_pattern_fails(fails, p)) for p in PATTERNS} == {p: [] for p in PATTERNS}


# --- files and specs -------------------------------------------------------------------------


def test_save_and_load_round_trip(tmp_path: Path, demo: Estate) -> None:
    path = tmp_path / "estate.json"
    save_estate(demo, path)
    assert load_estate(path) == demo
    assert estate_from_spec(str(path)) == demo


def test_saved_estate_is_a_file_phiguard_evaluate_reads(tmp_path: Path, demo: Estate) -> None:
    path = tmp_path / "estate.json"
    save_estate(demo, path)
    from_file = {s.key for s in load_paths([path])}
    from_documents = {s.key for s in load_documents((d, "demo") for d in demo.documents)}
    assert from_file == from_documents


def test_load_estate_reports_the_file_and_path(tmp_path: Path) -> None:
    bad: list[tuple[Any, str]] = [
        ("{", "invalid JSON"),
        ({"value": {}}, "$.value"),
        ({"value": [{"name": "x"}]}, "$.value[0]"),
        ({"value": [], "groundTruth": {"P1": "x"}}, "$.groundTruth"),
    ]
    for index, (content, where) in enumerate(bad):
        path = tmp_path / f"bad{index}.json"
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        with pytest.raises(ValueError, match=r"bad\d\.json") as info:
            load_estate(path)
        assert where in str(info.value)


def test_a_bare_document_list_loads(tmp_path: Path, demo: Estate) -> None:
    path = tmp_path / "docs.json"
    path.write_text(json.dumps(demo.documents))
    estate = load_estate(path)
    assert estate.documents == demo.documents
    assert estate.tenant_id == demo.tenant_id
    assert [s["id"] for s in estate.subscriptions] == [s["id"] for s in demo.subscriptions]


def test_estate_from_spec() -> None:
    assert estate_from_spec("demo") == demo_estate()
    assert estate_from_spec(" 40 ") == generated_estate(40)
    assert estate_from_spec("40:7:9") == generated_estate(40, 7, 9)
    with pytest.raises(ValueError, match="not 'demo'"):
        estate_from_spec("no-such-file.json")
    with pytest.raises(ValueError, match=r"negative|not 'demo'"):
        estate_from_spec("-3")


def test_generated_estate_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="negative"):
        generated_estate(-1)
    with pytest.raises(ValueError, match="violation_rate"):
        generated_estate(10, violation_rate=1.5)
