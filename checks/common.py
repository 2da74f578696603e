"""Helpers shared by check modules. Pure: they read a Snapshot and never do I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, overload

from shared.kernel.findings import Result, failed, passed
from shared.kernel.nsg_rules import is_internet_wide
from shared.kernel.snapshot import MISSING, MalformedResource, Snapshot, lookup


class Evidence:
    """Records every value a check looked at, keyed by its JSON path.

    ARM JSON has one rule for a property it does not set: an explicit ``null`` and an absent
    key mean the same thing, the service default. Both are read as ``default`` and recorded as
    ``{"absent": true, "assumed": <default>}`` (plus ``"null": true`` when the key was there with
    null), so an auditor can see which verdicts rest on Azure's documented defaults.
    """

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.values: dict[str, Any] = {}

    def read_in(self, document: Any, path: str, default: Any, where: str) -> Any:
        """The value at ``path`` in ``document`` (a related document, say), recorded under
        ``where``; null and absent both give ``default``."""
        value = lookup(document, path, MISSING)
        if value is MISSING or value is None:
            entry: dict[str, Any] = {"absent": True, "assumed": default}
            if value is None:
                entry["null"] = True
            self.values[where] = entry
            return default
        self.values[where] = value
        return value

    def read(self, path: str, default: Any = None) -> Any:
        """The value at ``path`` in the resource body; null and absent both give ``default``."""
        return self.read_in(self.snapshot.resource, path, default, path)

    def prop(self, path: str, default: Any = None) -> Any:
        return self.read(f"properties.{path}", default)

    def flag(
        self, path: str, default: bool, *, document: Any = MISSING, where: str | None = None
    ) -> bool:
        """A boolean at ``path`` (null or absent: ``default``); anything else is malformed."""
        where = where or path
        value = self.read_in(self._doc(document), path, default, where)
        return as_bool(value, where)

    @overload
    def text(
        self,
        path: str,
        default: str,
        *,
        empty_is_default: bool = ...,
        document: Any = ...,
        where: str | None = ...,
    ) -> str: ...

    @overload
    def text(
        self,
        path: str,
        default: None = ...,
        *,
        empty_is_default: bool = ...,
        document: Any = ...,
        where: str | None = ...,
    ) -> str | None: ...

    def text(
        self,
        path: str,
        default: str | None = None,
        *,
        empty_is_default: bool = False,
        document: Any = MISSING,
        where: str | None = None,
    ) -> str | None:
        """A string at ``path``, stripped (null or absent: ``default``; with
        ``empty_is_default`` an empty string too, recorded with ``"empty": true``); anything but
        a string is malformed."""
        where = where or path
        value: object = self.read_in(self._doc(document), path, default, where)
        if value is default:
            return default
        if not isinstance(value, str):
            raise MalformedResource(f"{where} is {value!r}, expected a string")
        if empty_is_default and not value.strip():
            self.values[where] = {"absent": True, "empty": True, "assumed": default}
            return default
        return value.strip()

    def number(
        self, path: str, default: int | None, *, document: Any = MISSING, where: str | None = None
    ) -> int | None:
        """An integer at ``path`` (null or absent: ``default``); anything else is malformed."""
        where = where or path
        value: object = self.read_in(self._doc(document), path, default, where)
        if value is default:
            return default
        if not isinstance(value, int) or isinstance(value, bool):
            raise MalformedResource(f"{where} is {value!r}, expected a whole number")
        return value

    def _doc(self, document: Any) -> Any:
        return self.snapshot.resource if document is MISSING else document

    def note(self, path: str, value: Any) -> Any:
        self.values[path] = value
        return value

    def passed(self, reason: str) -> Result:
        return passed(reason, self.values)

    def failed(self, reason: str) -> Result:
        return failed(reason, self.values)


def as_list(value: Any, where: str) -> list[Any]:
    """``value`` as a list (None → []); anything else that is not a list is malformed."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedResource(f"{where} is {type(value).__name__}, expected a list")
    return value


def as_bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    raise MalformedResource(f"{where} is {value!r}, expected true or false")


# --- network ---------------------------------------------------------------------------------

# Firewall values that mean "any address" (Key Vault network rules). NSG rules are read by
# shared.kernel.nsg, which also counts broad public ranges as the Internet.
INTERNET_SOURCES = frozenset({"*", "internet", "any", "0.0.0.0/0", "0.0.0.0", "::/0"})


def is_internet_source(prefix: Any) -> bool:
    """True for firewall values that mean "anyone on the Internet": the words and catch-alls
    above, or a range the NSG model counts as Internet-wide (at least a /8 of public IPv4, a
    /32 of IPv6: ``0.0.0.0/1`` admits half the Internet)."""
    if not isinstance(prefix, str):
        return False
    return prefix.strip().lower() in INTERNET_SOURCES or is_internet_wide(prefix.strip())


# --- diagnostic settings ---------------------------------------------------------------------

AUDIT_GROUPS = frozenset({"audit", "alllogs"})


def _enabled_log_names(setting: Mapping[str, Any], index: int, key: str) -> set[str]:
    props = setting.get("properties", {})
    if not isinstance(props, Mapping):
        raise MalformedResource(f"related.{key}[{index}].properties is not an object")
    names: set[str] = set()
    for log in as_list(props.get("logs"), f"related.{key}[{index}].properties.logs"):
        if not isinstance(log, Mapping) or not log.get("enabled"):
            continue
        for field in ("categoryGroup", "category"):
            value = log.get(field)
            if isinstance(value, str) and value:
                names.add(value.lower())
    return names


def _destinations(setting: Mapping[str, Any]) -> dict[str, str]:
    props = setting.get("properties", {})
    out: dict[str, str] = {}
    for field in ("workspaceId", "storageAccountId", "eventHubAuthorizationRuleId"):
        value = props.get(field) if isinstance(props, Mapping) else None
        if isinstance(value, str) and value.strip():
            out[field] = value
    return out


def audit_logs_result(
    snapshot: Snapshot,
    categories: Iterable[str],
    what: str,
    key: str = "diagnostic_settings",
    retained_destinations: Iterable[str] = ("workspaceId", "storageAccountId"),
) -> Result:
    """PASS when a diagnostic setting sends audit logs to a retained destination.

    Audit logs are the ``audit`` or ``allLogs`` category group, or any of ``categories``. A
    retained destination is a Log Analytics workspace or a storage account: an Event Hub alone
    streams logs away but keeps nothing for the six years §164.316(b)(2) asks.
    """
    wanted = AUDIT_GROUPS | {c.lower() for c in categories}
    retained = set(retained_destinations)
    evidence: dict[str, Any] = {}
    settings = snapshot.docs(key)
    for index, setting in enumerate(settings):
        logs = _enabled_log_names(setting, index, key)
        dests = _destinations(setting)
        evidence[f"related.{key}[{index}]"] = {
            "name": setting.get("name"),
            "enabled_logs": sorted(logs),
            "destinations": sorted(dests),
        }
        if logs & wanted and retained & dests.keys():
            return passed(
                f"Diagnostic setting {setting.get('name')!r} sends {what} to "
                f"{', '.join(sorted(retained & dests.keys()))}.",
                evidence,
            )
    if not settings:
        evidence[f"related.{key}"] = []
        return failed(f"No diagnostic setting exists, so {what} are not collected.", evidence)
    return failed(
        f"No diagnostic setting sends {what} to a Log Analytics workspace or storage account.",
        evidence,
    )


# --- private endpoints -----------------------------------------------------------------------


def private_endpoint_states(snapshot: Snapshot) -> list[tuple[str, str]]:
    """(connection name, status) of a resource's ``properties.privateEndpointConnections``.

    Absent or null means no connections: ARM lists them, read-only, in the resource body.
    """
    where = "properties.privateEndpointConnections"
    out: list[tuple[str, str]] = []
    for index, conn in enumerate(as_list(snapshot.prop("privateEndpointConnections"), where)):
        if not isinstance(conn, Mapping):
            raise MalformedResource(f"{where}[{index}] is not an object")
        status = lookup(conn, "properties.privateLinkServiceConnectionState.status")
        out.append((str(conn.get("name", f"#{index}")), str(status)))
    return out


# --- PHI data services (issue 14) ------------------------------------------------------------


def public_network_result(
    snapshot: Snapshot, path: str, what: str, default: str = "Enabled"
) -> Result:
    """PASS when ``path`` (a ``publicNetworkAccess``-style Enabled/Disabled property) is
    Disabled; FAIL when Enabled (or absent, read as ``default``), and when SecuredByPerimeter:
    the perimeter's rules are not visible through the resource, so it is not shown closed."""
    ev = Evidence(snapshot)
    value = ev.text(path, default, empty_is_default=True)
    state = value.lower()
    if state == "disabled":
        return ev.passed(f"Public network access to the {what} is disabled.")
    if state == "securedbyperimeter":
        return ev.failed(
            f"Public network access to the {what} is governed by a network security perimeter "
            "whose rules are not visible here, so it is not shown closed."
        )
    if state == "enabled":
        return ev.failed(f"The {what} accepts connections from public networks.")
    raise MalformedResource(f"{path} is {value!r}, not Enabled or Disabled")


def local_auth_result(snapshot: Snapshot, path: str, what: str, keys: str) -> Result:
    """PASS when the boolean ``path`` (``disableLocalAuth``-style) is true; FAIL when it is
    false or absent (local authentication stays on until disabled)."""
    ev = Evidence(snapshot)
    if ev.flag(path, False):
        return ev.passed(f"The {what} accepts only Microsoft Entra ID authentication.")
    return ev.failed(f"The {what} still accepts {keys}, which identify no individual user.")
