"""Lint over the check catalog: the contract of checks/registry.py, enforced."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from checks import CATALOG, FAILURE_PATTERNS
from checks.registry import SERVICES, Check, RegistryError, check, validate
from shared.kernel.findings import Result, Severity, passed
from shared.kernel.hipaa import SECTIONS
from shared.kernel.snapshot import Snapshot

CHECKS_DIR = Path(__file__).resolve().parents[2] / "checks"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "checks"


def test_catalog_has_at_least_140_checks() -> None:
    assert len(CATALOG) >= 140, len(CATALOG)


@pytest.mark.parametrize(
    ("service", "minimum"),
    [
        ("storage", 10),
        ("network", 6),
        ("keyvault", 6),
        ("sql", 6),
        ("monitoring", 5),
        ("appservice", 5),
        ("edge", 3),
        ("compute", 2),
        ("governance", 1),
        # issue 14
        ("cosmosdb", 5),
        ("postgresql", 5),
        ("mysql", 5),
        ("backup", 5),
        ("defender", 10),
        ("messaging", 3),
        ("health", 3),
    ],
)
def test_each_service_meets_its_minimum(service: str, minimum: int) -> None:
    count = sum(1 for c in CATALOG.values() if c.service == service)
    assert count >= minimum, f"{service}: {count} checks, need {minimum}"


def test_ids_equal_function_names_and_citations_exist() -> None:
    for item in CATALOG.values():
        assert item.id == item.func.__name__
        assert item.service in SERVICES
        assert all(c in SECTIONS for c in item.hipaa), item.id
        assert 0 < len(item.title) <= 150


def test_every_failure_pattern_maps_to_a_check() -> None:
    covered = {p for c in CATALOG.values() for p in c.patterns}
    assert covered == set(FAILURE_PATTERNS)


def test_every_check_has_pass_and_fail_fixtures() -> None:
    missing = []
    for check_id in CATALOG:
        names = [p.name for p in (FIXTURES / check_id).glob("*.json")]
        if not any(n.startswith("pass") for n in names):
            missing.append(f"{check_id}: no pass*.json")
        if not any(n.startswith("fail") for n in names):
            missing.append(f"{check_id}: no fail*.json")
    assert not missing, "\n".join(missing)


def test_every_check_reading_related_documents_has_a_not_assessed_fixture() -> None:
    """A check that needs documents beyond the resource must show that it says NOT_ASSESSED,
    never PASS, when they could not be read."""
    missing = [
        check_id
        for check_id, item in CATALOG.items()
        if item.needs and not any((FIXTURES / check_id).glob("notassessed*.json"))
    ]
    assert not missing, "\n".join(missing)


def test_fixture_dirs_name_existing_checks() -> None:
    stray = [p.name for p in FIXTURES.iterdir() if p.is_dir() and p.name not in CATALOG]
    assert not stray


def test_checks_import_no_azure_sdk_and_do_no_io() -> None:
    banned_modules = ("azure", "requests", "os", "time", "datetime", "socket", "urllib", "random")
    for path in CHECKS_DIR.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in banned_modules, f"{path.name} imports {name}"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in {"open", "print", "input"}, (
                    f"{path.name}: {node.func.id}"
                )


def _bad_check(**overrides: object) -> Check:
    def governance_sample_ok(snapshot: Snapshot) -> Result:
        """PASS always."""
        return passed("ok")

    fields: dict[str, object] = {
        "id": "governance_sample_ok",
        "title": "A title",
        "severity": Severity.LOW,
        "resource_types": ("microsoft.storage/storageaccounts",),
        "hipaa": ("164.312(b)",),
        "azure_policy": (),
        "phi_only": False,
        "remediation": None,
        "needs": (),
        "guidance": "Do it.",
        "patterns": (),
        "limitations": "",
        "service": "governance",
        "func": governance_sample_ok,
    }
    fields.update(overrides)
    return Check(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"hipaa": ("164.999(z)",)}, "unknown HIPAA citation"),
        ({"id": "governance_other_name"}, "differs from the function name"),
        ({"title": "x" * 151}, "title"),
        ({"azure_policy": ("00000000-0000-0000-0000-000000000000",)}, "unknown Azure Policy id"),
        ({"needs": ("no_such_doc",)}, "unknown related document"),
        ({"patterns": ("P9",)}, "unknown failure pattern"),
        ({"resource_types": ("Microsoft.Storage/storageAccounts",)}, "lowercase ARM types"),
    ],
)
def test_registry_rejects_broken_metadata(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(RegistryError, match=message):
        validate([_bad_check(**overrides)])


def test_registry_rejects_duplicate_ids() -> None:
    item = _bad_check()
    with pytest.raises(RegistryError, match="duplicate id"):
        validate([item, item])


def test_decorator_records_module_as_service() -> None:
    before = len(CATALOG)

    @check(
        id="x_y",
        title="t",
        severity=Severity.LOW,
        resource_types=("a/b",),
        hipaa=("164.312(b)",),
        guidance="g",
    )
    def x_y(snapshot: Snapshot) -> Result:  # pragma: no cover - never run
        """PASS always."""
        return passed("ok")

    assert len(CATALOG) == before  # the catalog was validated at import; later registrations
    # only reach it through validate(), which would reject this module name:
    from checks.registry import registered

    newest = registered()[-1]
    with pytest.raises(RegistryError, match="service name"):
        validate([newest])
