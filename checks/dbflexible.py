"""Shared by the PostgreSQL and MySQL flexible-server checks (same ARM shapes)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from checks.common import Evidence
from shared.kernel.findings import Result, not_applicable
from shared.kernel.snapshot import MalformedResource, Snapshot


def public_access(snapshot: Snapshot, what: str) -> Result:
    """``properties.network.publicNetworkAccess``: Disabled passes; Enabled (or absent, the
    default of servers created with public access) fails."""
    ev = Evidence(snapshot)
    value = ev.text("properties.network.publicNetworkAccess", "Enabled", empty_is_default=True)
    if value.lower() == "disabled":
        delegated = ev.text("properties.network.delegatedSubnetResourceId", None)
        how = " (VNet-integrated)" if delegated else ""
        return ev.passed(f"Public network access to the {what} is disabled{how}.")
    if value.lower() == "enabled":
        return ev.failed(f"The {what} accepts connections from public networks.")
    raise MalformedResource(f"properties.network.publicNetworkAccess is {value!r}")


def customer_managed_key(snapshot: Snapshot, what: str) -> Result:
    """``properties.dataEncryption.type``: AzureKeyVault passes; SystemManaged (or absent, the
    default) fails."""
    ev = Evidence(snapshot)
    kind = ev.text("properties.dataEncryption.type", "SystemManaged", empty_is_default=True)
    if kind.lower() == "azurekeyvault":
        return ev.passed(f"The {what}'s data is encrypted with a customer-managed Key Vault key.")
    return ev.failed(f"The {what}'s data is encrypted only with Microsoft-managed keys ({kind}).")


def geo_redundant_backup(snapshot: Snapshot, what: str) -> Result:
    """``properties.backup.geoRedundantBackup``: Enabled passes; Disabled (or absent, the
    default) fails."""
    ev = Evidence(snapshot)
    value = ev.text("properties.backup.geoRedundantBackup", "Disabled", empty_is_default=True)
    days = ev.read("properties.backup.backupRetentionDays", 7)
    if value.lower() == "enabled":
        return ev.passed(f"Backups of the {what} are geo-redundant (kept {days} days).")
    return ev.failed(
        f"Backups of the {what} stay in one region: a regional outage loses the way back."
    )


def parameter_value(snapshot: Snapshot, key: str) -> tuple[Evidence, str | None]:
    """The ``properties.value`` of a server-parameter document (``configurations/x``)."""
    ev = Evidence(snapshot)
    doc = snapshot.doc(key)
    if doc is None:
        return ev, None
    if not isinstance(doc, Mapping):
        raise MalformedResource(f"related.{key} is {type(doc).__name__}, expected an object")
    props: Any = doc.get("properties")
    if not isinstance(props, Mapping):
        raise MalformedResource(f"related.{key}.properties is missing or not an object")
    value = ev.text("value", None, document=props, where=f"related.{key}.properties.value")
    return ev, value


def secure_transport(snapshot: Snapshot, key: str, what: str) -> Result:
    """The ``require_secure_transport`` server parameter: ON passes, OFF fails."""
    ev, value = parameter_value(snapshot, key)
    if value is None:
        return not_applicable("The server reports no require_secure_transport parameter.")
    if value.upper() == "ON":
        return ev.passed(f"The {what} refuses connections that are not encrypted with TLS.")
    if value.upper() == "OFF":
        return ev.failed(f"The {what} accepts unencrypted connections.")
    raise MalformedResource(f"related.{key}.properties.value is {value!r}, not ON or OFF")
