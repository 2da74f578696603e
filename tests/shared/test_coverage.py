"""docs/CHECKS.md's coverage table (shared.coverage) names only checks that exist, and each area
of issue 14 meets its minimum."""

from __future__ import annotations

import pytest

from checks import CATALOG
from shared.coverage import AREAS
from shared.report import catalog_markdown


def _matching(prefix: str) -> list[str]:
    return [c for c in CATALOG if c.startswith(prefix)]


@pytest.mark.parametrize("area", AREAS, ids=lambda a: a.name)
def test_every_named_check_or_prefix_matches_the_catalog(area: object) -> None:
    from shared.coverage import Area

    assert isinstance(area, Area)
    for prefix in area.checks:
        assert _matching(prefix), f"{area.name}: {prefix!r} names no check"


@pytest.mark.parametrize(
    ("number", "minimum"), [("1.", 5), ("2.", 5), ("4.", 5), ("5.", 5), ("6.", 5), ("7.", 2)]
)
def test_each_area_meets_its_minimum(number: str, minimum: int) -> None:
    (area,) = [a for a in AREAS if a.name.startswith(number)]
    checks = {c for prefix in area.checks for c in _matching(prefix)}
    assert len(checks) >= minimum, (area.name, sorted(checks))


def test_the_table_is_in_the_generated_catalog_document() -> None:
    text = catalog_markdown(CATALOG)
    assert "## Coverage against the references" in text
    assert all(f"| {a.name} |" in text for a in AREAS)
    assert "access review" in text  # area 3 is the access review's
