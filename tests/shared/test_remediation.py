"""The remediator against the simulated tenant and Azurite, through the real azure-core and
azure-data-tables clients: plan, apply, verify, roll back, and every guard that keeps a fix from
running when it should not. The sim's request counters (by method and status) are the proof of
what was and was not written."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.arm import ArmReader, ArmWriter, WriteResult
from shared.config import Settings
from shared.context import AppContext
from shared.engine import Engine
from shared.events import parse_delivery
from shared.kernel.changes import Cause
from shared.remediation import Remediator, RollbackRefused
from shared.remediation_log import Exemption, RecordStatus, TableRemediationLog
from sim.azurite import AzuriteEndpoints
from sim.fixture import SimHandle, running_sim
from sim.server import DEFAULT_APP_ID, PORTAL_APP_ID

pytestmark = pytest.mark.slow

SUB = "98d6f765-1897-5f92-b6a5-1a1b7fccf13a"
PHI_RG = f"/subscriptions/{SUB}/resourceGroups/rg-chs-phi-prod/providers"
NSG = f"{PHI_RG}/Microsoft.Network/networkSecurityGroups/nsg-chs-phi-app"
RDP = f"{NSG}/securityRules/AllowRdpInbound"
VAULT = f"{PHI_RG}/Microsoft.KeyVault/vaults/kv-chs-phi-app"
RECORDS = f"{PHI_RG}/Microsoft.Storage/storageAccounts/stchsphirecords"
DOCS = f"{PHI_RG}/Microsoft.Storage/storageAccounts/stchsphidocs"
AUDIT = (
    f"/subscriptions/{SUB}/resourceGroups/rg-chs-monitoring-prod/providers/"
    "Microsoft.Storage/storageAccounts/stchsauditprod"
)
WORKSPACE = (
    f"/subscriptions/{SUB}/resourcegroups/rg-chs-monitoring-prod/providers/"
    "microsoft.operationalinsights/workspaces/log-chs-audit-prod"
)
ALL = (
    "network_nsg_restrict_internet_inbound",
    "monitoring_diagnostic_settings_audit",
    "storage_account_secure_transport",
)
NET_API = "2024-05-01"
STORAGE_API = "2025-01-01"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Rig:
    sim: SimHandle
    azurite: AzuriteEndpoints
    clock: Clock
    prefix: str
    events_file: Path

    def settings(self, **overrides: Any) -> Settings:
        base = Settings(
            storage_connection_string=self.azurite.connection_string,
            table_prefix=self.prefix,
            arm_url=self.sim.arm_url,
            ca_cert=self.sim.ca_cert,
            subscriptions=tuple(self.sim.subscriptions),
            remediation_allow=ALL,
            remediation_modes=(("storage_account_secure_transport", "enforce"),),
            remediation_workspace_id=WORKSPACE,
            remediation_archive_storage_id=AUDIT,
            identity_app_id=DEFAULT_APP_ID,
        )
        return replace(base, **overrides)

    def remediator(self, writer: ArmWriter | None = None, **overrides: Any) -> Remediator:
        settings = self.settings(**overrides)
        log = TableRemediationLog.from_connection_string(
            self.azurite.connection_string, prefix=self.prefix
        )
        log._clock = self.clock  # the window queries use the same (test) time
        log.ensure_tables()
        engine = Engine(phi_scope=settings.phi_scope())
        reader = ArmReader(self.sim.arm_url, self.sim.credential, ca_cert=self.sim.ca_cert)
        writer = writer or ArmWriter(
            self.sim.arm_url, self.sim.credential, ca_cert=self.sim.ca_cert
        )
        return Remediator(engine, reader, writer, log, settings, clock=self.clock)

    def user_cause(self) -> Cause:
        return Cause(
            kind="event",
            event_id=str(uuid.uuid4()),
            event_time=self.clock(),
            caller_appid=PORTAL_APP_ID,
            correlation_id=str(uuid.uuid4()),
        )

    def writes(self) -> dict[str, int]:
        by_method: dict[str, int] = self.sim.counters()["by_method"]
        return {m: n for m, n in by_method.items() if m in ("PUT", "PATCH", "DELETE")}

    def doc(self, resource_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.sim.admin("GET", "document", id=resource_id)
        return found

    def reopen_rdp(self) -> None:
        rule = self.doc(RDP)
        props = dict(rule["properties"], access="Allow", sourceAddressPrefix="Internet")
        props.pop("provisioningState", None)
        self.sim.change_as_user("PUT", RDP, {"properties": props}, api_version=NET_API)

    def weaken_storage(self, resource_id: str) -> None:
        self.sim.change_as_user(
            "PATCH",
            resource_id,
            {"properties": {"minimumTlsVersion": "TLS1_0", "allowBlobPublicAccess": True}},
            api_version=STORAGE_API,
        )


@pytest.fixture()
def rig(azurite: AzuriteEndpoints, tmp_path: Path) -> Iterator[Rig]:
    events = tmp_path / "events.ndjson"
    with running_sim(
        estate="demo", events_to=str(events), lro_duration=0.05, lro_retry_after=0.02
    ) as sim:
        sim.reset_counters()
        yield Rig(sim, azurite, Clock(), "rem" + uuid.uuid4().hex[:10], events)


def _rule_access(rig: Rig) -> str:
    return str(rig.doc(RDP)["properties"]["access"])


def _own_setting(rig: Rig, scope: str) -> dict[str, Any] | None:
    sid = f"{scope}/providers/Microsoft.Insights/diagnosticSettings/phiguard-audit"
    try:
        return rig.doc(sid)
    except RuntimeError:
        return None


# --- plan → apply → verify → rollback ---------------------------------------------------------


def test_nsg_fix_is_applied_verified_and_rolled_back(rig: Rig) -> None:
    ctx = AppContext(rig.settings())
    remediator = ctx.remediator  # the composition root's wiring
    remediator.clock = rig.clock
    (preview,) = remediator.preview(NSG)
    assert preview.plan is not None and preview.mode == "enforce" and preview.allowed
    assert '- properties.securityRules[name=AllowRdpInbound].properties.access: "Allow"' in (
        preview.plan.diff_lines()
    )
    assert rig.writes() == {}

    (record,) = remediator.act(NSG, cause=rig.user_cause())
    assert record.status == RecordStatus.VERIFIED, record.reason
    assert record.writes_applied == 1 and record.seconds_to_verified is not None
    assert record.verification == {
        "network_nsg_management_ports_internet_closed": "PASS",
        "network_nsg_phi_internet_inbound_denied": "PASS",
    }
    assert record.evaluation_after is not None
    assert _rule_access(rig) == "Deny"
    assert rig.doc(RDP)["properties"]["priority"] == 300  # name and priority kept
    assert rig.writes() == {"PUT": 1}
    stored = remediator.log.get(record.id)
    assert stored.status == RecordStatus.VERIFIED and stored.cause.caller_appid == PORTAL_APP_ID
    assert stored.before == {
        "properties.securityRules[name=AllowRdpInbound].properties.access": "Allow"
    }
    assert [w.method for w in stored.inverse] == ["PUT"]

    rig.clock.advance(seconds=5)
    undone = remediator.rollback(record.id)
    assert undone.status == RecordStatus.ROLLED_BACK and undone.rolls_back == record.id
    assert _rule_access(rig) == "Allow"
    assert undone.verification["network_nsg_management_ports_internet_closed"] == "FAIL"
    assert remediator.log.get(record.id).rolled_back_by == undone.id
    assert rig.writes() == {"PUT": 2}
    with pytest.raises(RollbackRefused, match="rolled back already"):
        remediator.rollback(record.id)
    assert [r.id for r in remediator.records()][:2] == [undone.id, record.id]


def test_diagnostic_setting_is_created_verified_and_deleted_on_rollback(rig: Rig) -> None:
    remediator = rig.remediator()
    (record,) = remediator.act(VAULT, cause=rig.user_cause())
    assert record.status == RecordStatus.VERIFIED, record.reason
    setting = _own_setting(rig, VAULT)
    assert setting is not None
    assert setting["properties"]["logs"] == [{"categoryGroup": "audit", "enabled": True}]
    assert setting["properties"]["storageAccountId"] == AUDIT
    assert rig.writes() == {"PUT": 1}
    (docs,) = remediator.act(DOCS, cause=rig.user_cause())  # the blob service's setting
    assert docs.status == RecordStatus.VERIFIED, docs.reason
    assert _own_setting(rig, f"{DOCS}/blobServices/default") is not None

    undone = remediator.rollback(record.id)
    assert undone.status == RecordStatus.ROLLED_BACK
    assert _own_setting(rig, VAULT) is None
    assert rig.writes() == {"PUT": 2, "DELETE": 1}
    assert undone.verification == {"keyvault_vault_audit_logs_enabled": "FAIL"}


def test_a_vault_in_another_region_than_the_archive_gets_the_workspace_only(rig: Rig) -> None:
    """Regression: the setting named the archive account whatever the vault's region, and
    Azure refuses a storage destination outside the monitored resource's region (Learn,
    "Diagnostic settings in Azure Monitor", Destinations), so no setting was created at all."""
    vault = dict(rig.doc(VAULT))
    far = VAULT.rsplit("/", 1)[0] + "/kv-chs-phi-west"
    vault.update(id=far, name="kv-chs-phi-west", location="westus2")
    vault.pop("etag", None)
    rig.sim.admin("POST", "load", {"documents": [vault]})
    remediator = rig.remediator()
    (record,) = remediator.act(far, cause=rig.user_cause())
    assert record.status == RecordStatus.VERIFIED, record.reason
    setting = _own_setting(rig, far)
    assert setting is not None
    assert setting["properties"]["workspaceId"] == WORKSPACE
    assert "storageAccountId" not in setting["properties"]
    assert rig.writes() == {"PUT": 1}
    # The vault in the archive's region still gets both destinations.
    (same,) = remediator.act(VAULT, cause=rig.user_cause())
    assert same.status == RecordStatus.VERIFIED, same.reason
    own = _own_setting(rig, VAULT)
    assert own is not None and own["properties"]["storageAccountId"] == AUDIT


def test_storage_transport_is_patched_verified_and_rolled_back(rig: Rig) -> None:
    rig.weaken_storage(RECORDS)
    remediator = rig.remediator()
    (record,) = remediator.act(RECORDS, cause=rig.user_cause())
    assert record.status == RecordStatus.VERIFIED, record.reason
    props = rig.doc(RECORDS)["properties"]
    assert props["minimumTlsVersion"] == "TLS1_2" and props["allowBlobPublicAccess"] is False
    assert rig.writes() == {"PATCH": 1}
    undone = remediator.rollback(record.id)
    props = rig.doc(RECORDS)["properties"]
    assert props["minimumTlsVersion"] == "TLS1_0" and props["allowBlobPublicAccess"] is True
    assert undone.verification["storage_account_min_tls_1_2"] == "FAIL"
    assert rig.writes() == {"PATCH": 2}


def test_nsg_restrict_strategy_narrows_the_source_and_rolls_back(rig: Rig) -> None:
    remediator = rig.remediator(
        remediation_nsg_strategy="restrict", remediation_admin_cidrs=("198.51.100.0/24",)
    )
    (record,) = remediator.act(NSG, cause=rig.user_cause())
    assert record.status == RecordStatus.VERIFIED, record.reason
    props = rig.doc(RDP)["properties"]
    assert props["sourceAddressPrefix"] == "198.51.100.0/24" and props["access"] == "Allow"
    assert props["description"] == "Temporary vendor access to the ETL host."  # untouched
    remediator.rollback(record.id)
    assert rig.doc(RDP)["properties"]["sourceAddressPrefix"] == "Internet"
    assert rig.writes() == {"PUT": 2}


def test_rollback_refuses_when_the_same_paths_changed_since(rig: Rig) -> None:
    remediator = rig.remediator()
    (record,) = remediator.act(NSG, cause=rig.user_cause())
    assert record.status == RecordStatus.VERIFIED
    rig.reopen_rdp()
    rig.sim.reset_counters()
    with pytest.raises(RollbackRefused, match="changed since"):
        remediator.rollback(record.id)
    assert rig.writes() == {}


# --- modes and gates ---------------------------------------------------------------------------


def test_dry_run_and_not_allow_listed_perform_zero_writes(rig: Rig) -> None:
    rig.weaken_storage(RECORDS)
    rig.sim.reset_counters()
    dry = rig.remediator(remediation_mode="dry-run")
    records = [r for rid in (NSG, VAULT, RECORDS) for r in dry.act(rid, cause=rig.user_cause())]
    assert [r.status for r in records] == [RecordStatus.PLANNED] * 3
    assert all(r.mode == "dry-run" and r.writes and r.after for r in records)
    assert "Dry-run" in records[0].reason
    not_allowed = rig.remediator(remediation_allow=())
    (record,) = not_allowed.act(NSG, cause=rig.user_cause())
    assert record.status == RecordStatus.PLANNED and "ALLOW" in record.reason
    off = rig.remediator(remediation_mode="off")
    assert off.act(NSG, cause=rig.user_cause()) == []
    default = rig.remediator(remediation_modes=())  # storage's default mode is dry-run
    (storage,) = default.act(RECORDS, cause=rig.user_cause())
    assert storage.status == RecordStatus.PLANNED and storage.mode == "dry-run"
    assert rig.writes() == {}
    assert _rule_access(rig) == "Allow"


def test_a_fix_that_cannot_be_planned_is_recorded_failed(rig: Rig) -> None:
    remediator = rig.remediator(remediation_workspace_id=None, remediation_archive_storage_id=None)
    (record,) = remediator.act(VAULT, cause=rig.user_cause())
    assert record.status == RecordStatus.FAILED and "no destination" in record.reason
    assert rig.writes() == {}


def test_out_of_scope_resources_are_left_alone(rig: Rig) -> None:
    dev = (
        "/subscriptions/f4ba082c-8b17-50ee-8571-133b02641a36/resourceGroups/rg-chs-shop-dev/"
        "providers/Microsoft.Storage/storageAccounts/stchsdevassets"
    )
    assert rig.remediator().act(dev, cause=rig.user_cause()) == []  # TLS1_0, but not PHI
    assert rig.writes() == {}


# --- concurrency --------------------------------------------------------------------------------


def test_concurrent_user_change_takes_the_412_path_and_is_not_lost(rig: Rig) -> None:
    remediator = rig.remediator()
    stale = remediator.reader.snapshot(NSG, remediator.engine)
    assert stale is not None
    office = {
        "properties": {
            "protocol": "Tcp",
            "sourcePortRange": "*",
            "destinationPortRange": "8443",
            "sourceAddressPrefix": "203.0.113.0/24",
            "destinationAddressPrefix": "*",
            "access": "Allow",
            "priority": 310,
            "direction": "Inbound",
        }
    }
    rig.sim.change_as_user("PUT", f"{NSG}/securityRules/AllowOffice", office, api_version=NET_API)
    (record,) = remediator.act(stale, cause=rig.user_cause())
    assert record.status == RecordStatus.VERIFIED, record.reason
    assert "412" in record.reason
    counters = rig.sim.counters()
    assert counters["by_status"].get("412") == 1
    assert rig.writes() == {"PUT": 2}
    rules = {r["name"]: r for r in rig.doc(NSG)["properties"]["securityRules"]}
    assert rules["AllowOffice"]["properties"]["priority"] == 310  # the user's change survived
    assert rules["AllowRdpInbound"]["properties"]["access"] == "Deny"


def test_a_second_concurrent_change_makes_it_give_up_and_report(rig: Rig) -> None:
    class RacingWriter(ArmWriter):
        """A user edits the rule's description just before each of phiguard's writes."""

        def put(self, target_id: str, *args: Any, **kwargs: Any) -> WriteResult:
            rule = rig.doc(RDP)
            props = dict(rule["properties"], description=f"edited {uuid.uuid4().hex[:6]}")
            props.pop("provisioningState", None)
            rig.sim.change_as_user("PUT", RDP, {"properties": props}, api_version=NET_API)
            return super().put(target_id, *args, **kwargs)

    writer = RacingWriter(rig.sim.arm_url, rig.sim.credential, ca_cert=rig.sim.ca_cert)
    remediator = rig.remediator(writer=writer)
    (record,) = remediator.act(NSG, cause=rig.user_cause())
    assert record.status == RecordStatus.FAILED and "Gave up" in record.reason
    assert record.writes_applied == 0
    assert rig.sim.counters()["by_status"].get("412") == 2
    assert _rule_access(rig) == "Allow"  # nothing landed
    assert rig.doc(RDP)["properties"]["description"].startswith("edited")  # no lost update


# --- blast radius -------------------------------------------------------------------------------


def test_a_flapping_resource_is_escalated_after_k_fixes(rig: Rig) -> None:
    remediator = rig.remediator(remediation_flap_limit=2)
    statuses = []
    for _ in range(3):
        (record,) = remediator.act(NSG, cause=rig.user_cause())
        statuses.append(record.status)
        rig.reopen_rdp()  # someone's pipeline keeps re-opening the rule
        rig.clock.advance(minutes=1)
    assert statuses == [RecordStatus.VERIFIED, RecordStatus.VERIFIED, RecordStatus.ESCALATED]
    assert "Flapping" in record.reason and "2 times" in record.reason
    assert rig.writes() == {"PUT": 2}
    rig.clock.advance(hours=2)  # the window passed: fixing resumes
    (record,) = remediator.act(NSG, cause=rig.user_cause())
    assert record.status == RecordStatus.VERIFIED


def test_the_hourly_cap_holds_per_subscription(rig: Rig) -> None:
    for account in (RECORDS, DOCS, AUDIT):
        rig.weaken_storage(account)
    modes = (
        ("storage_account_secure_transport", "enforce"),
        ("monitoring_diagnostic_settings_audit", "off"),  # DOCS also lacks blob logs
    )
    remediator = rig.remediator(remediation_hourly_cap=2, remediation_modes=modes)
    records = [r for a in (RECORDS, DOCS, AUDIT) for r in remediator.act(a, cause=rig.user_cause())]
    assert [r.status for r in records] == [
        RecordStatus.VERIFIED,
        RecordStatus.VERIFIED,
        RecordStatus.ESCALATED,
    ]
    assert "Hourly cap" in records[2].reason and records[2].writes
    assert rig.doc(AUDIT)["properties"]["minimumTlsVersion"] == "TLS1_0"
    assert rig.writes() == {"PATCH": 2}
    rig.clock.advance(minutes=61)
    (record,) = remediator.act(AUDIT, cause=rig.user_cause())
    assert record.status == RecordStatus.VERIFIED


# --- exemptions ---------------------------------------------------------------------------------


def test_an_exemption_tag_suppresses_and_its_expiry_reenables(rig: Rig) -> None:
    until = (rig.clock() + timedelta(days=1)).date().isoformat()
    tags = dict(rig.doc(NSG).get("tags") or {})
    tags["phiguard-exempt"] = (
        f"network_nsg_management_ports_internet_closed;until={until};"
        "approver=ciso@contosohealth.example;reason=vendor migration"
    )
    rig.sim.change_as_user("PATCH", NSG, {"tags": tags}, api_version=NET_API)
    rig.sim.reset_counters()
    remediator = rig.remediator()
    (record,) = remediator.act(NSG, cause=rig.user_cause())
    assert record.status == RecordStatus.EXEMPT, record.reason
    assert record.exemption is not None and record.exemption["approver"].startswith("ciso")
    assert rig.writes() == {}
    rig.clock.advance(days=3)
    (record,) = remediator.act(NSG, cause=rig.user_cause())
    assert record.status == RecordStatus.VERIFIED
    assert "expired" in record.reason
    assert rig.writes() == {"PUT": 1}


def test_a_table_exemption_suppresses_and_a_malformed_tag_is_reported(rig: Rig) -> None:
    remediator = rig.remediator()
    remediator.log.add_exemption(
        Exemption(
            resource_id=VAULT,
            target="monitoring_diagnostic_settings_audit",
            justification="logs go to the SIEM through an agent",
            approver="compliance@contosohealth.example",
            expires_at=rig.clock() + timedelta(days=30),
            source="table",
        )
    )
    (record,) = remediator.act(VAULT, cause=rig.user_cause())
    assert record.status == RecordStatus.EXEMPT and "SIEM" in record.reason
    tags = dict(rig.doc(NSG).get("tags") or {})
    tags["phiguard-exempt"] = "network_nsg_restrict_internet_inbound;reason=forever"
    rig.sim.change_as_user("PATCH", NSG, {"tags": tags}, api_version=NET_API)
    (record,) = remediator.act(NSG, cause=rig.user_cause())
    assert record.status == RecordStatus.VERIFIED
    assert "tag is not honoured: missing until, approver" in record.reason
    assert rig.writes() == {"PUT": 1}


# --- loops ---------------------------------------------------------------------------------------


def _drain(rig: Rig) -> list[dict[str, Any]]:
    rig.sim.wait_for_events(10)
    text = rig.events_file.read_text() if rig.events_file.exists() else ""
    rig.events_file.write_text("")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("identity", [DEFAULT_APP_ID, None], ids=["appid", "correlation"])
def test_our_own_write_event_does_not_trigger_another_remediation(
    rig: Rig, identity: str | None
) -> None:
    remediator = rig.remediator(identity_app_id=identity)
    _drain(rig)
    (record,) = remediator.act(NSG, cause=rig.user_cause())
    assert record.status == RecordStatus.VERIFIED
    delivery = parse_delivery(_drain(rig))
    ours = [c for c in delivery.changes if c.correlation_id == record.correlation_id]
    assert ours and all(c.caller_appid == DEFAULT_APP_ID for c in ours)
    rig.reopen_rdp()  # even if the resource fails again, our own event never re-fixes it
    for change in ours:
        cause = Cause(
            kind="event",
            event_id=change.event_id,
            event_time=change.event_time,
            caller_appid=change.caller_appid,
            correlation_id=change.correlation_id,
        )
        assert remediator.act(change.resource_id, cause=cause) == []
    assert rig.writes() == {"PUT": 1}


def test_long_running_writes_are_polled_to_the_end(
    azurite: AzuriteEndpoints, tmp_path: Path
) -> None:
    with running_sim(estate="demo", lro_duration=0.3, lro_retry_after=0.05) as sim:
        rig = Rig(sim, azurite, Clock(), "rem" + uuid.uuid4().hex[:10], tmp_path / "e")
        writer = ArmWriter(sim.arm_url, sim.credential, ca_cert=sim.ca_cert)
        remediator = rig.remediator(writer=writer)
        (record,) = remediator.act(NSG, cause=rig.user_cause())
        assert record.status == RecordStatus.VERIFIED, record.reason
        assert writer.stats.polls >= 2
        assert writer.stats.by_method == {"PUT": 1}


# --- settings and tag parsing (no sim needed) ---------------------------------------------------


def test_remediation_settings_are_read_and_checked() -> None:
    from shared.config import SettingsError

    settings = Settings.from_env(
        {
            "PHIGUARD_REMEDIATION_MODES": "storage_account_secure_transport=enforce",
            "PHIGUARD_REMEDIATION_ALLOW": "network_nsg_restrict_internet_inbound, x_y",
            "PHIGUARD_REMEDIATION_NSG_STRATEGY": "restrict",
            "PHIGUARD_REMEDIATION_ADMIN_CIDRS": "198.51.100.7/24, 2001:db8::/32",
            "PHIGUARD_REMEDIATION_WORKSPACE_ID": WORKSPACE,
            "PHIGUARD_REMEDIATION_HOURLY_CAP": "5",
            "PHIGUARD_MANAGED_IDENTITY_CLIENT_ID": "mi-client",
        }
    )
    assert settings.remediation_modes == (("storage_account_secure_transport", "enforce"),)
    assert settings.remediation_allow == ("network_nsg_restrict_internet_inbound", "x_y")
    assert settings.remediation_admin_cidrs == ("198.51.100.0/24", "2001:db8::/32")
    assert settings.remediation_hourly_cap == 5 and settings.remediation_flap_limit == 3
    assert settings.identity_app_id == "mi-client"  # a user-assigned identity's client id
    bad = [
        ({"PHIGUARD_REMEDIATION_MODES": "a=sometimes"}, "REMEDIATION_MODES"),
        ({"PHIGUARD_REMEDIATION_NSG_STRATEGY": "restrict"}, "needs admin CIDRs"),
        ({"PHIGUARD_REMEDIATION_ADMIN_CIDRS": "0.0.0.0/0"}, "whole Internet"),
        ({"PHIGUARD_REMEDIATION_ADMIN_CIDRS": "office"}, "not an IP"),
        ({"PHIGUARD_REMEDIATION_WORKSPACE_ID": AUDIT}, "expected a microsoft.operationalinsights"),
        ({"PHIGUARD_REMEDIATION_FLAP_LIMIT": "0"}, "outside"),
    ]
    for env, message in bad:
        with pytest.raises(SettingsError, match=message):
            Settings.from_env(env)


def test_unknown_remediation_ids_in_settings_are_refused() -> None:
    from unittest.mock import MagicMock

    from shared.config import SettingsError

    with pytest.raises(SettingsError, match="REMEDIATION_ALLOW: unknown remediation 'x_y'"):
        Remediator(
            Engine(),
            MagicMock(),
            MagicMock(),
            MagicMock(),
            Settings(remediation_allow=("x_y",)),
        )


def test_exempt_tag_format() -> None:
    from shared.remediation import parse_exempt_tag

    (a, b) = parse_exempt_tag(
        "network_nsg_restrict_internet_inbound, storage_account_min_tls_1_2;"
        "until=2030-01-31;approver=ciso;reason=vendor window",
        NSG,
    )
    assert a.target == "network_nsg_restrict_internet_inbound"
    assert b.target == "storage_account_min_tls_1_2"
    assert a.expires_at == datetime(2030, 2, 1, tzinfo=UTC)  # through the whole last day
    assert a.active(datetime(2030, 1, 31, 23, 59, tzinfo=UTC))
    assert not a.active(datetime(2030, 2, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="missing approver"):
        parse_exempt_tag("x;until=2030-01-01;reason=r", NSG)
    with pytest.raises(ValueError, match="not YYYY-MM-DD"):
        parse_exempt_tag("x;until=soon;approver=a;reason=r", NSG)


def test_records_inserted_together_are_all_kept_in_one_transaction_per_day(
    azurite: AzuriteEndpoints,
) -> None:
    from shared.remediation_log import RemediationRecord, new_record_id

    log = TableRemediationLog.from_connection_string(
        azurite.connection_string, prefix="many" + uuid.uuid4().hex[:10]
    )
    log.ensure_tables()
    now = datetime.now(UTC)
    records = [
        RemediationRecord(
            id=new_record_id(now),
            remediation_id="",
            resource_id=NSG,
            check_ids=(check_id,),
            mode="manual",
            status=RecordStatus.ACTION_REQUIRED,
            reason="No safe automatic fix.",
            cause=Cause(kind="event", event_id="e-1", event_time=now),
            created_at=now,
            updated_at=now,
        )
        for check_id in ("a_check", "b_check", "c_check")
    ]
    calls: list[int] = []
    real = log._log.submit_transaction

    def counted(operations: Any, **kwargs: Any) -> Any:
        calls.append(len(list(operations)))
        return real(operations, **kwargs)

    log._log.submit_transaction = counted  # type: ignore[method-assign]
    inserted = log.insert_many(records)
    assert calls == [3]
    assert [r.id for r in inserted] == [r.id for r in records] and all(r.etag for r in inserted)
    kept = log.records(days=1, resource_id=NSG)
    assert sorted(r.check_ids[0] for r in kept) == ["a_check", "b_check", "c_check"]


def _exemptions_log(azurite: AzuriteEndpoints, clock: Clock) -> TableRemediationLog:
    from shared.tables import service_from_connection_string

    log = TableRemediationLog(
        service_from_connection_string(azurite.connection_string),
        "exm" + uuid.uuid4().hex[:10],
        clock=clock,
    )
    log.ensure_tables()
    return log


def _exempt(log: TableRemediationLog, clock: Clock, resource_id: str, target: str) -> None:
    log.add_exemption(
        Exemption(
            resource_id=resource_id,
            target=target,
            justification="accepted risk",
            approver="compliance@contosohealth.example",
            expires_at=clock() + timedelta(days=30),
            source="table",
        )
    )


def test_a_sweep_reads_the_exemptions_table_once_and_sees_a_new_one_after_the_ttl(
    azurite: AzuriteEndpoints, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared import remediation_log as module
    from tests.counting import counted_queries

    clock = Clock()
    log = _exemptions_log(azurite, clock)
    _exempt(log, clock, VAULT, "monitoring_diagnostic_settings_audit")
    queries = counted_queries(log._exemptions)
    assert [e.target for e in log.exemptions_for_sweep(VAULT)] == [
        "monitoring_diagnostic_settings_audit"
    ]
    assert log.exemptions_for_sweep(NSG) == []
    assert log.exemptions_for_sweep(VAULT.upper()) == log.exemptions_for_sweep(VAULT)
    assert len(queries) == 1  # the whole table once, for every resource the sweep meets
    _exempt(log, clock, NSG, "network_nsg_restrict_internet_inbound")
    assert log.exemptions_for_sweep(NSG) == []  # within the TTL: the read it made
    assert [e.target for e in log.exemptions(NSG)] == ["network_nsg_restrict_internet_inbound"]
    clock.advance(seconds=module.SWEEP_EXEMPTIONS_TTL.total_seconds())
    assert [e.target for e in log.exemptions_for_sweep(NSG)] == [
        "network_nsg_restrict_internet_inbound"
    ]

    # A table too large to hold: each resource is queried for itself.
    queries.clear()
    clock.advance(seconds=module.SWEEP_EXEMPTIONS_TTL.total_seconds())
    monkeypatch.setattr(module, "SWEEP_EXEMPTIONS_LIMIT", 1)
    assert [e.target for e in log.exemptions_for_sweep(VAULT)] == [
        "monitoring_diagnostic_settings_audit"
    ]
    assert len(queries) == 2 and "PartitionKey eq" in queries[1]


def test_a_damaged_exemption_row_is_not_honoured_and_stops_no_other(
    azurite: AzuriteEndpoints, caplog: pytest.LogCaptureFixture
) -> None:
    from shared.state.keys import partition_key

    clock = Clock()
    log = _exemptions_log(azurite, clock)
    _exempt(log, clock, VAULT, "monitoring_diagnostic_settings_audit")
    table = log.service.get_table_client(log.exemptions_table)
    # Edited by hand in Storage Explorer: no target; an expiry typed as text.
    table.create_entity({"PartitionKey": partition_key(VAULT), "RowKey": "no-target"})
    table.create_entity(
        {
            "PartitionKey": partition_key(NSG),
            "RowKey": "text-date",
            "resource_id": NSG,
            "target": "network_nsg_restrict_internet_inbound",
            "expires_at": "next year",
        }
    )
    with caplog.at_level("WARNING", logger="phiguard.remediation"):
        assert [e.target for e in log.exemptions(VAULT)] == ["monitoring_diagnostic_settings_audit"]
        assert [e.target for e in log.exemptions_for_sweep(VAULT)] == [
            "monitoring_diagnostic_settings_audit"
        ]
        assert log.exemptions(NSG) == [] and log.exemptions_for_sweep(NSG) == []
    warned = [r.getMessage() for r in caplog.records]
    assert any("no-target" in m and "KeyError" in m for m in warned)
    assert any("text-date" in m and "TypeError" in m for m in warned)


@pytest.mark.parametrize(
    "name",
    ["cosmos-chs-phi-notes", "sqlmi-chs-phi-ehr", "psql-chs-phi-intake"],  # the demo's failing ones
)
def test_a_phi_data_service_gets_its_logs_verified_and_rolled_back(rig: Rig, name: str) -> None:
    from sim.estate import demo_estate

    rid = next(str(d["id"]) for d in demo_estate().documents if d.get("name") == name)
    remediator = rig.remediator()
    records = remediator.act(rid, cause=rig.user_cause())
    (record,) = [r for r in records if r.remediation_id == "monitoring_diagnostic_settings_audit"]
    assert record.status == RecordStatus.VERIFIED, record.reason
    assert record.verification == {"monitoring_resource_audit_logs_enabled": "PASS"}
    setting = _own_setting(rig, rid)
    assert setting is not None
    assert setting["properties"]["logs"] == [{"categoryGroup": "allLogs", "enabled": True}]
    undone = remediator.rollback(record.id)
    assert _own_setting(rig, rid) is None
    assert undone.verification == {"monitoring_resource_audit_logs_enabled": "FAIL"}
