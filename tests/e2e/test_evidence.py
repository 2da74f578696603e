"""The daily evidence export against Azurite: each day's history and remediation log land in the
evidence container once, with a manifest; a late record makes a new revision, never an
overwrite."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.cli import main
from shared.evidence import BlobEvidenceStore, export
from sim.azurite import AzuriteEndpoints
from sim.estate import open_rdp_rule

from .world import World, find, running_world

NSG = find("microsoft.network/networksecuritygroups", "nsg-chs-phi-data")
NSG_FIX = "network_nsg_restrict_internet_inbound"


@pytest.fixture
def world(azurite: AzuriteEndpoints, tmp_path: Path) -> Iterator[World]:
    container = "ev" + uuid.uuid4().hex[:12]
    with running_world(
        azurite,
        tmp_path,
        remediation_modes=((NSG_FIX, "enforce"),),
        remediation_allow=(NSG_FIX,),
        evidence_container=container,
    ) as world:
        yield world


def _open_rdp(world: World, priority: int) -> None:
    world.drain_events()
    world.sim.change_as_user(
        "PUT",
        f"{NSG['id']}/securityRules/AllowRdp{priority}",
        open_rdp_rule(priority),
        api_version="2024-05-01",
    )
    assert world.post(world.drain_events()).status_code == 200


def _lines(data: bytes | None) -> list[dict[str, Any]]:
    assert data is not None
    return [json.loads(line) for line in data.decode().splitlines() if line]


def test_a_day_is_exported_once_and_a_late_record_makes_a_revision(world: World) -> None:
    _open_rdp(world, 200)
    store = BlobEvidenceStore.from_settings(world.ctx.settings)
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    today = datetime.now(UTC).date()
    (first,) = [d for d in export(world.ctx, store=store, now=tomorrow) if d.day == today]
    history = _lines(store.read(first.files["history"]))
    checks = {(h["resource_id"].lower(), h["check_id"], h["to_status"]) for h in history}
    rid = NSG["id"].lower()
    assert (rid, "network_nsg_management_ports_internet_closed", "FAIL") in checks
    assert (rid, "network_nsg_management_ports_internet_closed", "PASS") in checks
    fixes = _lines(store.read(first.files["remediations"]))
    assert any(f["remediation_id"] == NSG_FIX and f["status"] == "VERIFIED" for f in fixes)
    manifest = json.loads(store.read(first.files["manifest"]) or b"{}")
    data = store.read(first.files["history"]) or b""
    assert manifest["files"]["history"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest["files"]["history"]["records"] == len(history)

    assert export(world.ctx, store=store, now=tomorrow) == []  # every day has its manifest
    again = export(world.ctx, day=today, store=store, now=tomorrow)
    assert again[0].unchanged and again[0].files == first.files

    _open_rdp(world, 190)  # before the denied 200: open again; recorded after the export
    (late,) = export(world.ctx, day=today, store=store, now=tomorrow)
    assert late.files["history"].endswith(".r2.ndjson")
    assert late.files["manifest"].endswith(".r2.json")
    assert store.read(first.files["history"]) == data  # the first export is untouched
    assert len(_lines(store.read(late.files["history"]))) > len(history)


def test_the_cli_refuses_a_day_that_is_not_over(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "PHIGUARD_STORAGE_CONNECTION_STRING", str(world.ctx.settings.storage_connection_string)
    )
    monkeypatch.setenv("PHIGUARD_TABLE_PREFIX", world.ctx.settings.table_prefix)
    monkeypatch.setenv("PHIGUARD_EVIDENCE_CONTAINER", world.ctx.settings.evidence_container)
    assert main(["evidence", "export", "--day", "2999-01-01"]) == 2
    assert "not over yet" in capsys.readouterr().err
    assert main(["evidence", "export", "--day", "yesterday"]) == 2
    assert "not a date" in capsys.readouterr().err
    assert main(["evidence", "export", "--day", "0001-01-01"]) == 2  # nothing written for it
    assert "more than 3660 days ago" in capsys.readouterr().err
    assert main(["evidence", "export", "--days", "2"]) == 0
    out = capsys.readouterr().out
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    assert f"{yesterday}: 0 transitions, 0 remediation records" in out
