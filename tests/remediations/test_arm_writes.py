"""How the remediations' writes meet ARM: full-body PUTs of security rules, and the condition a
rule write carries when the rule was read without an etag (as the published examples show it)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from remediations import REMEDIATIONS
from remediations.plan import Write
from shared.arm import PreconditionFailed, WriteResult
from shared.kernel.snapshot import Snapshot
from shared.remediation.writes import write_conditionally

ITEM = REMEDIATIONS["network_nsg_restrict_internet_inbound"]
EXAMPLE = "arm/Microsoft.Network__networkSecurityGroups__Get__2024-05-01.json"


def _published_nsg(reference_dir: Path) -> dict[str, Any]:
    """NetworkSecurityGroups_Get as published (its rules carry no etag), with rule1's port
    moved to RDP so that the management-ports check fails."""
    body = json.loads((reference_dir / EXAMPLE).read_text())["responses"]["200"]["body"]
    body = copy.deepcopy(body)
    rule = body["properties"]["securityRules"][0]
    assert "etag" not in rule  # the published shape
    rule["properties"]["destinationPortRange"] = "3389"
    return dict(body)


class FakeWriter:
    """Stands in for ArmWriter: ``read`` answers ``current`` with etag ``W/"read"``; writes are
    recorded."""

    def __init__(self, current: dict[str, Any] | None) -> None:
        self.current = current
        self.reads: list[str] = []
        self.puts: list[tuple[str, dict[str, Any], dict[str, Any]]] = []

    def read(self, target_id: str, api_version: str) -> tuple[dict[str, Any] | None, str | None]:
        self.reads.append(target_id)
        return copy.deepcopy(self.current), 'W/"read"' if self.current else None

    def put(self, target_id: str, api_version: str, body: Any, **how: Any) -> WriteResult:
        self.puts.append((target_id, dict(body), how))
        return WriteResult(200, dict(body), 'W/"after"')


def _plan_write(reference_dir: Path) -> tuple[dict[str, Any], Write]:
    nsg = _published_nsg(reference_dir)
    plan = ITEM.plan(Snapshot(nsg))
    assert plan is not None and len(plan.writes) == 1
    return nsg, plan.writes[0]


def test_a_rule_without_an_etag_is_written_whole_and_only_if_unchanged(
    reference_dir: Path,
) -> None:
    nsg, write = _plan_write(reference_dir)
    rule = nsg["properties"]["securityRules"][0]
    # A PUT replaces the rule: the body is the whole rule (minus read-only provisioningState).
    assert write.method == "PUT" and write.target_id == rule["id"]
    sent = dict(write.body or {})["properties"]
    assert sent["access"] == "Deny" and sent["priority"] == 130 and "provisioningState" not in sent
    assert write.if_match is None
    assert write.expect == {
        "properties": {k: v for k, v in rule["properties"].items() if k != "provisioningState"}
    }
    writer = FakeWriter(rule)
    write_conditionally(writer, write, "corr", {})  # type: ignore[arg-type]
    assert writer.reads == [rule["id"]]
    assert [p[0] for p in writer.puts] == [rule["id"]]
    assert writer.puts[0][2]["etag"] == 'W/"read"'  # If-Match of what was re-read


def test_a_rule_changed_since_the_plan_is_not_overwritten(reference_dir: Path) -> None:
    nsg, write = _plan_write(reference_dir)
    changed = copy.deepcopy(nsg["properties"]["securityRules"][0])
    changed["properties"]["destinationPortRange"] = "22"  # someone else's edit since the read
    writer = FakeWriter(changed)
    with pytest.raises(PreconditionFailed, match="properties changed"):
        write_conditionally(writer, write, "corr", {})  # type: ignore[arg-type]
    assert writer.puts == []
