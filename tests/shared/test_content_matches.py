"""The planner's shortcut for an unchanged verdict (``_content_matches``) agrees with the full
comparison (``_same_content`` against the entity ``_check_entity`` builds) field by field, and a
new content field cannot slip past it."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from azure.data.tables import TableEntity

from shared.kernel.changes import Cause
from shared.kernel.findings import Severity, Status
from shared.state.entities import (
    _CONTENT_FIELDS,
    _MAX_TEXT_UNITS,
    _check_entity,
    _content_matches,
    _same_content,
)
from tests.shared.test_state_store import RID, T0, finding

# A changed value of each content field, as the finding would carry it.
CHANGED: dict[str, Any] = {
    "resource_type": "microsoft.storage/other",
    "status": Status.PASS,
    "severity": Severity.LOW,
    "hipaa": ("164.312(b)",),
    "title": "another title",
    "reason": "another reason",
    "evidence": {"properties.setting": "changed"},
    "phi": False,
    "evidence_truncated": None,  # follows from the evidence: one too large to keep whole
}


def _row(f: Any) -> dict[str, Any]:
    return _check_entity("pk", RID, f, None, T0, Cause("sweep"))


def test_every_content_field_has_a_case() -> None:
    assert set(CHANGED) == set(_CONTENT_FIELDS)


@pytest.mark.parametrize("name", sorted(CHANGED))
def test_a_row_differing_in_one_content_field_is_not_taken_for_unchanged(name: str) -> None:
    stored = finding("storage_account_min_tls_1_2", Status.FAIL)
    row = _row(stored)
    if name == "evidence_truncated":
        now = dataclasses.replace(stored, evidence={"big": "x" * 40_000})
    else:
        now = dataclasses.replace(stored, **{name: CHANGED[name]})
    built = _check_entity("pk", RID, now, TableEntity(row), T0, Cause("sweep"))

    assert not _same_content(row, built)
    assert not _content_matches(row, now)


def test_the_same_verdict_matches_both_ways() -> None:
    stored = finding("storage_account_min_tls_1_2", Status.FAIL)
    row = _row(stored)
    assert _content_matches(row, stored) and _same_content(row, _row(stored))


def test_a_verdict_stored_cut_is_left_to_the_full_comparison() -> None:
    long = dataclasses.replace(
        finding("storage_account_min_tls_1_2", Status.FAIL),
        reason="r" * (_MAX_TEXT_UNITS + 10),
        evidence={"big": "x" * 40_000},
    )
    row = _row(long)
    assert row["reason"] != long.reason and row["evidence_truncated"] is True
    # Not matched by the shortcut (the stored text was cut), still the same content.
    assert not _content_matches(row, long)
    assert _same_content(row, _row(long))
