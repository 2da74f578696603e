"""The simulated tenant refuses the diagnostic-setting PUTs Azure Monitor refuses, so the
remediation's handling of them is tested against a faithful ARM: a sixth setting on one resource
("Each resource can have up to five diagnostic settings", Learn "Diagnostic settings in Azure
Monitor") and log entries outside the published 2021-05-01-preview schema (``enabled``
required; ``category`` or ``categoryGroup``; a ``retentionPolicy`` has ``enabled`` and
``days``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.arm import ArmError, ArmWriter
from sim.fixture import SimHandle, running_sim
from tests.shared.test_remediation import AUDIT, SUB, VAULT, WORKSPACE

pytestmark = pytest.mark.slow

API = "2021-05-01-preview"
EXAMPLE = "arm/Microsoft.Insights__diagnosticSettings__CreateOrUpdate__2021-05-01-preview.json"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    with running_sim(estate="demo") as handle:
        yield handle


def _writer(sim: SimHandle) -> ArmWriter:
    return ArmWriter(sim.arm_url, sim.credential, ca_cert=sim.ca_cert)


def _setting(name: str) -> str:
    return f"{VAULT}/providers/Microsoft.Insights/diagnosticSettings/{name}"


def _body(logs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"properties": {"workspaceId": WORKSPACE, "logs": logs}}


def test_the_published_request_body_is_accepted(sim: SimHandle, reference_dir: Path) -> None:
    published = json.loads((reference_dir / EXAMPLE).read_text())["parameters"]["parameters"]
    result = _writer(sim).put(_setting("published"), API, published)
    assert result.status == 200
    _writer(sim).delete(_setting("published"), API)


def test_a_sixth_setting_on_one_resource_is_refused(sim: SimHandle) -> None:
    writer = _writer(sim)
    names = [f"s{i}" for i in range(5)]
    try:
        for name in names:
            writer.put(_setting(name), API, _body([{"category": "AuditEvent", "enabled": True}]))
        # Rewriting one of the five is allowed; adding a sixth is not.
        writer.put(_setting("s0"), API, _body([{"categoryGroup": "audit", "enabled": True}]))
        with pytest.raises(ArmError) as refused:
            writer.put(
                _setting("phiguard-audit"),
                API,
                _body([{"categoryGroup": "audit", "enabled": True}]),
            )
        assert refused.value.status == 400
        assert "5 diagnostic settings" in str(refused.value)
    finally:
        for name in names:
            writer.delete(_setting(name), API)


@pytest.mark.parametrize(
    "log",
    [
        {"category": "AuditEvent", "categoryGroup": "audit", "enabled": True},
        {"enabled": True},
        {"categoryGroup": "audit"},
        {"categoryGroup": "audit", "enabled": True, "retentionPolicy": {"enabled": False}},
    ],
)
def test_log_entries_outside_the_published_schema_are_refused(
    sim: SimHandle, log: dict[str, Any]
) -> None:
    with pytest.raises(ArmError) as refused:
        _writer(sim).put(_setting("bad"), API, _body([log]))
    assert refused.value.status == 400


def test_a_storage_destination_in_another_region_is_refused(sim: SimHandle) -> None:
    """ "Storage accounts must be in the same region as the resource being monitored if the
    resource is regional" (Learn, "Diagnostic settings in Azure Monitor", Destinations)."""
    far = (
        f"/subscriptions/{SUB}/resourceGroups/rg-chs-monitoring-prod/providers/"
        "Microsoft.Storage/storageAccounts/stchsfarwest"
    )
    account = dict(sim.admin("GET", "document", id=AUDIT))
    account.update(id=far, name="stchsfarwest", location="westus2")
    sim.admin("POST", "load", {"documents": [account]})
    writer = _writer(sim)
    body = _body([{"categoryGroup": "audit", "enabled": True}])
    with pytest.raises(ArmError) as refused:
        writer.put(
            _setting("far"), API, {"properties": {**body["properties"], "storageAccountId": far}}
        )
    assert refused.value.status == 400 and "region" in str(refused.value)
    near = {
        "properties": {**body["properties"], "storageAccountId": AUDIT}
    }  # eastus2, as the vault
    assert writer.put(_setting("near"), API, near).status == 200
    writer.delete(_setting("near"), API)
