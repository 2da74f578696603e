"""Every check against its own PASS/FAIL fixtures (real ARM shapes), through the engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checks import CATALOG
from shared.engine import Engine
from shared.loader import snapshot_from_json

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "checks"
EXPECTED = {
    "pass": "PASS",
    "fail": "FAIL",
    "na": "NOT_APPLICABLE",
    "error": "ERROR",
    "notassessed": "NOT_ASSESSED",
}


def _cases() -> list[tuple[str, Path]]:
    return [
        (d.name, f)
        for d in sorted(FIXTURES.iterdir())
        if d.is_dir()
        for f in sorted(d.glob("*.json"))
    ]


@pytest.mark.parametrize(("check_id", "path"), _cases(), ids=lambda v: getattr(v, "name", v))
def test_fixture_gives_expected_status(check_id: str, path: Path) -> None:
    expected = EXPECTED[path.stem.split("_")[0].split("-")[0].rstrip("0123456789")]
    snapshot = snapshot_from_json(json.loads(path.read_text()), str(path))
    evaluation = Engine().evaluate(snapshot)
    results = {f.check_id: f for f in evaluation.findings}
    assert check_id in results, (
        f"{check_id} did not run on {path.name}; not assessed: {evaluation.not_assessed}"
    )
    finding = results[check_id]
    assert finding.status == expected, f"{path.name}: {finding.reason} {finding.evidence}"
    assert finding.reason.endswith("."), finding.reason
    if expected in ("PASS", "FAIL"):
        assert finding.evidence, f"{check_id} gave no evidence on {path.name}"
    assert CATALOG[check_id].func.__doc__
