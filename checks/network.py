"""Network checks: NSG exposure to the Internet, flow logs, subnet NSGs and private endpoints.

Only an NSG's own ``securityRules`` are judged. Its ``defaultSecurityRules`` are Azure's and end
in ``DenyAllInBound`` for every source that is not the virtual network or the load balancer, so
inbound traffic from the Internet is denied unless an own rule allows it. Rules are evaluated as
Azure does: by priority, the first rule whose source, protocol and port match decides, so an
Allow rule shadowed by a higher-priority Deny of the same Internet traffic exposes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from checks.common import (
    MANAGEMENT_PORTS,
    Evidence,
    as_bool,
    as_list,
    is_internet_source,
    overlaps,
    port_ranges,
    rule_sources,
)
from checks.registry import check, register_policy_definitions
from shared.findings import Result, Severity, not_applicable
from shared.hipaa import RETENTION_DAYS
from shared.resource_id import ResourceIdError, normalize, parent, parse
from shared.snapshot import MalformedResource, Snapshot

register_policy_definitions(
    {
        # Azure/azure-policy built-in-policies/policyDefinitions/Network/
        # NetworkSecurityGroup_FlowLog_Audit.json
        "c251913d-7d24-4958-af87-478ed3b9ba41": (
            "Flow logs should be configured for every network security group"
        ),
        # Azure/azure-policy built-in-policies/policyDefinitions/Network/
        # NetworkWatcherFlowLog_Enabled_Audit.json
        "27960feb-a23c-4577-8d36-ef8b5f35e0be": (
            "Flow logs should be enabled for every network security group"
        ),
    }
)

NSG = ("microsoft.network/networksecuritygroups",)
VNET = ("microsoft.network/virtualnetworks",)
PRIVATE_ENDPOINT = ("microsoft.network/privateendpoints",)

# Database listeners that must never face the Internet: SQL Server (1433) and its browser
# (1434), Oracle (1521), MySQL/MariaDB (3306), PostgreSQL (5432), Redis (6379-6380, TLS on
# 6380) and MongoDB (27017-27019).
DATABASE_PORTS: tuple[tuple[int, int], ...] = (
    (1433, 1434),
    (1521, 1521),
    (3306, 3306),
    (5432, 5432),
    (6379, 6380),
    (27017, 27019),
)

# A single rule that opens more than this many destination ports to the Internet is "broad":
# Internet-facing services need a handful of well-known ports (80/443, a VPN or mail port), so
# more than ten in one rule means a range was opened instead of the service's ports.
BROAD_PORT_THRESHOLD = 10

_ALL_PROTOCOLS = frozenset({"tcp", "udp", "icmp", "esp", "ah"})
_PORT_PROTOCOLS = frozenset({"tcp", "udp"})


@dataclass(frozen=True)
class _Rule:
    index: int
    name: str
    allow: bool
    priority: int
    protocols: frozenset[str]
    ranges: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class _Exposure:
    """Ports of one Allow rule that Internet traffic of one protocol really reaches."""

    rule: _Rule
    protocol: str
    ranges: tuple[tuple[int, int], ...]

    @property
    def port_count(self) -> int:
        return sum(hi - lo + 1 for lo, hi in self.ranges)


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise MalformedResource(f"{where} is {value!r}, expected a non-empty string")
    return value.strip().lower()


def _inbound_internet_rules(snapshot: Snapshot, ev: Evidence) -> list[_Rule]:
    """The NSG's own inbound rules whose source is the whole Internet, recorded as evidence."""
    rules = as_list(snapshot.prop("securityRules"), "properties.securityRules")
    out: list[_Rule] = []
    for index, rule in enumerate(rules):
        where = f"properties.securityRules[{index}]"
        if not isinstance(rule, Mapping):
            raise MalformedResource(f"{where} is not an object")
        props = rule.get("properties")
        if not isinstance(props, Mapping):
            raise MalformedResource(f"{where}.properties is not an object")
        direction = _text(props.get("direction"), f"{where}.properties.direction")
        if direction not in ("inbound", "outbound"):
            raise MalformedResource(f"{where}.properties.direction is {direction!r}")
        if direction != "inbound" or not any(is_internet_source(s) for s in rule_sources(props)):
            continue
        access = _text(props.get("access"), f"{where}.properties.access")
        if access not in ("allow", "deny"):
            raise MalformedResource(f"{where}.properties.access is {access!r}")
        priority = props.get("priority")
        if not isinstance(priority, int) or isinstance(priority, bool):
            raise MalformedResource(
                f"{where}.properties.priority is {priority!r}, expected a number"
            )
        protocol = _text(props.get("protocol"), f"{where}.properties.protocol")
        ranges = port_ranges(props)
        if not ranges:
            raise MalformedResource(f"{where}.properties has no destination port range")
        name = rule.get("name")
        parsed = _Rule(
            index=index,
            name=name if isinstance(name, str) and name else f"#{index}",
            allow=access == "allow",
            priority=priority,
            protocols=_ALL_PROTOCOLS if protocol in ("*", "any") else frozenset({protocol}),
            ranges=tuple(ranges),
        )
        out.append(parsed)
        ev.note(
            where,
            {
                "name": parsed.name,
                "access": props.get("access"),
                "priority": priority,
                "protocol": props.get("protocol"),
                "sources": rule_sources(props),
                "ports": _format_ranges(parsed.ranges),
            },
        )
    if not out:
        ev.note("properties.securityRules (inbound from the Internet)", [])
    return out


def _subtract(
    ranges: Iterable[tuple[int, int]], holes: Iterable[tuple[int, int]]
) -> list[tuple[int, int]]:
    left = list(ranges)
    for h_lo, h_hi in holes:
        kept: list[tuple[int, int]] = []
        for lo, hi in left:
            if h_hi < lo or h_lo > hi:
                kept.append((lo, hi))
                continue
            if lo < h_lo:
                kept.append((lo, h_lo - 1))
            if hi > h_hi:
                kept.append((h_hi + 1, hi))
        left = kept
    return left


def _exposures(rules: list[_Rule]) -> list[_Exposure]:
    """What each Internet Allow rule opens once higher-priority Internet Deny rules are applied."""
    denies = [r for r in rules if not r.allow]
    out: list[_Exposure] = []
    for rule in rules:
        if not rule.allow:
            continue
        for protocol in sorted(rule.protocols):
            holes = [
                rng
                for d in denies
                if d.priority < rule.priority and protocol in d.protocols
                for rng in d.ranges
            ]
            left = _subtract(rule.ranges, holes)
            if left:
                out.append(_Exposure(rule, protocol, tuple(left)))
    return out


def _format_ranges(ranges: Iterable[tuple[int, int]]) -> list[str]:
    return [
        "*" if (lo, hi) == (0, 65535) else str(lo) if lo == hi else f"{lo}-{hi}"
        for lo, hi in ranges
    ]


def _intersect(
    ranges: Iterable[tuple[int, int]], targets: Iterable[tuple[int, int]]
) -> list[tuple[int, int]]:
    return [
        (max(lo, t_lo), min(hi, t_hi))
        for lo, hi in ranges
        for t_lo, t_hi in targets
        if lo <= t_hi and t_lo <= hi
    ]


def _merge(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


_PROTOCOL_ORDER = ("tcp", "udp", "icmp", "esp", "ah")


def _describe(
    found: list[_Exposure], targets: tuple[tuple[int, int], ...] | None = None, limit: int = 3
) -> str:
    """``'rule1' (TCP, UDP: 22)`` per offending rule; ports narrowed to ``targets`` if given."""
    by_rule: dict[int, list[_Exposure]] = {}
    for item in found:
        by_rule.setdefault(item.rule.index, []).append(item)
    parts: list[str] = []
    for items in by_rule.values():
        rule = items[0].rule
        protocols = {e.protocol for e in items}
        shown = (
            "any protocol"
            if protocols == _ALL_PROTOCOLS
            else ", ".join(p.upper() for p in _PROTOCOL_ORDER if p in protocols)
        )
        ranges = _merge(r for e in items for r in e.ranges)
        if targets is not None:
            ranges = _merge(_intersect(ranges, targets))
        if protocols & _PORT_PROTOCOLS:
            shown += ": " + ", ".join(_format_ranges(ranges))
        parts.append(f"{rule.name!r} ({shown})")
    more = f" and {len(parts) - limit} more" if len(parts) > limit else ""
    return ", ".join(parts[:limit]) + more


def _ports_exposed_result(
    snapshot: Snapshot, targets: tuple[tuple[int, int], ...], what: str
) -> Result:
    ev = Evidence(snapshot)
    found = [
        e
        for e in _exposures(_inbound_internet_rules(snapshot, ev))
        if e.protocol in _PORT_PROTOCOLS and overlaps(e.ranges, targets)
    ]
    if found:
        return ev.failed(f"Inbound rules open {what} to the Internet: {_describe(found, targets)}.")
    return ev.passed(f"No rule of this NSG lets Internet traffic reach {what}.")


@check(
    id="network_nsg_management_ports_internet_closed",
    remediation="network_nsg_restrict_internet_inbound",
    title=(
        "NSGs do not allow inbound traffic from the Internet to SSH (22), RDP (3389) or "
        "WinRM (5985-5986)"
    ),
    severity=Severity.CRITICAL,
    resource_types=NSG,
    hipaa=("164.312(a)(1)", "164.308(a)(4)(ii)(B)", "164.312(e)(1)"),
    azure_policy=("22730e10-96f6-4aac-ad84-9383d35b5917",),
    guidance=(
        "Remove or narrow the Allow rules whose source is Internet, * or 0.0.0.0/0 on ports "
        "22, 3389 and 5985-5986; reach machines through Azure Bastion, a VPN or "
        "just-in-time VM access instead."
    ),
    limitations=(
        "Sources are judged by the rule text: 'Internet', '*', 'Any', '0.0.0.0/0' and "
        "'::/0' count as the Internet; a rule opening a very wide but explicit public "
        "CIDR is not flagged. Rules of other NSGs on the same subnet or NIC, Azure "
        "Firewall and Virtual Network Manager admin rules are not visible here."
    ),
)
def network_nsg_management_ports_internet_closed(snapshot: Snapshot) -> Result:
    """PASS when no own inbound Allow rule of the NSG lets traffic from the Internet (source
    ``Internet``, ``*``, ``Any``, ``0.0.0.0/0`` or ``::/0``, in ``sourceAddressPrefix`` or
    ``sourceAddressPrefixes``) reach TCP/UDP ports 22, 3389 or 5985-5986, after higher-priority
    Deny rules for the same traffic are applied. FAIL when one does: remote administration
    exposed to the Internet is brute-forced within hours, and a compromised host gives direct
    access to the ePHI it stores or reaches. Absent ``securityRules`` means none: the NSG then
    has only Azure's default rules, which deny inbound Internet traffic."""
    return _ports_exposed_result(snapshot, MANAGEMENT_PORTS, "management ports")


@check(
    id="network_nsg_database_ports_internet_closed",
    title=(
        "NSGs do not allow inbound traffic from the Internet to database ports (1433, 1521, "
        "3306, 5432, 6379, 27017)"
    ),
    severity=Severity.HIGH,
    resource_types=NSG,
    hipaa=("164.312(a)(1)", "164.312(e)(1)"),
    guidance=(
        "Remove the Allow rules that open database ports to Internet sources; let "
        "applications reach databases over the virtual network or private endpoints."
    ),
    limitations=(
        "Only the well-known ports are checked (SQL Server 1433-1434, Oracle 1521, "
        "MySQL 3306, PostgreSQL 5432, Redis 6379-6380, MongoDB 27017-27019); a database "
        "listening on another port is covered by the broad-range and PHI checks only."
    ),
)
def network_nsg_database_ports_internet_closed(snapshot: Snapshot) -> Result:
    """PASS when no own inbound Allow rule lets Internet traffic reach a well-known database port
    (1433-1434, 1521, 3306, 5432, 6379-6380, 27017-27019) after higher-priority Deny rules are
    applied; FAIL when one does, because a database listener on the Internet is one leaked or
    guessed password away from a bulk ePHI breach. Absent ``securityRules`` means none: only
    Azure's default rules apply, and they deny inbound Internet traffic."""
    return _ports_exposed_result(snapshot, DATABASE_PORTS, "database ports")


@check(
    id="network_nsg_broad_port_range_internet_closed",
    title="NSG rules open at most 10 destination ports to the Internet each",
    severity=Severity.HIGH,
    resource_types=NSG,
    hipaa=("164.312(a)(1)", "164.312(e)(1)"),
    azure_policy=("9daedab3-fb2d-461e-b861-71790eead4f6",),
    guidance=(
        "Replace rules that open '*' or wide port ranges to the Internet with rules for the "
        "exact service ports (for example 443), or put the service behind Application "
        "Gateway or Front Door."
    ),
    limitations=(
        "The threshold (more than 10 TCP/UDP ports reachable through one rule) is a "
        "project choice, not an Azure or HIPAA number. ICMP, ESP and AH rules carry no "
        "ports and are not judged here."
    ),
)
def network_nsg_broad_port_range_internet_closed(snapshot: Snapshot) -> Result:
    """PASS when every own inbound Allow rule from the Internet opens at most 10 TCP/UDP
    destination ports once higher-priority Deny rules are applied; FAIL when a rule opens more
    (``*`` is all 65,536), because a wide range exposes whatever happens to listen on the hosts,
    including services never meant for the Internet that may hold or reach ePHI. The threshold
    of 10 is this project's: Internet-facing services need a few well-known ports. Absent
    ``securityRules`` means none: only Azure's default rules apply, which deny Internet inbound."""
    ev = Evidence(snapshot)
    found = [
        e
        for e in _exposures(_inbound_internet_rules(snapshot, ev))
        if e.protocol in _PORT_PROTOCOLS and e.port_count > BROAD_PORT_THRESHOLD
    ]
    ev.note("threshold_ports_per_rule", BROAD_PORT_THRESHOLD)
    if found:
        return ev.failed(
            f"Rules open more than {BROAD_PORT_THRESHOLD} ports to the Internet: "
            f"{_describe(found)}."
        )
    return ev.passed(f"No rule opens more than {BROAD_PORT_THRESHOLD} ports to the Internet.")


@check(
    id="network_nsg_phi_internet_inbound_denied",
    remediation="network_nsg_restrict_internet_inbound",
    title="NSGs of PHI workloads allow no inbound traffic from the Internet",
    severity=Severity.HIGH,
    resource_types=NSG,
    hipaa=("164.312(a)(1)", "164.312(e)(1)", "164.308(a)(4)(ii)(B)"),
    phi_only=True,
    guidance=(
        "Remove Allow rules whose source is Internet, * or 0.0.0.0/0 from NSGs protecting "
        "PHI workloads; publish web front ends through Application Gateway or Front Door "
        "with a WAF in prevention mode and restrict the NSG to the gateway's subnet or the "
        "AzureFrontDoor.Backend service tag."
    ),
    limitations=(
        "A rule whose source is a gateway subnet or service tag is not Internet-wide and "
        "is accepted; whether that gateway has a WAF is judged by the edge checks."
    ),
)
def network_nsg_phi_internet_inbound_denied(snapshot: Snapshot) -> Result:
    """Applies to NSGs in PHI scope. PASS when no own inbound Allow rule lets traffic from the
    Internet (``Internet``, ``*``, ``Any``, ``0.0.0.0/0``, ``::/0``) in on any port or protocol
    after higher-priority Deny rules are applied; FAIL when one does, because a PHI workload
    reachable straight from the Internet bypasses the WAF and gateway controls meant to inspect
    traffic to ePHI. Absent ``securityRules`` means none: only Azure's default rules apply, and
    they deny inbound Internet traffic."""
    ev = Evidence(snapshot)
    found = _exposures(_inbound_internet_rules(snapshot, ev))
    if found:
        return ev.failed(
            f"Inbound rules admit Internet traffic to this PHI NSG: {_describe(found)}."
        )
    return ev.passed("No rule of this PHI NSG admits traffic from the Internet.")


# --- flow logs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _FlowLog:
    index: int
    name: str
    target: str  # normalized id
    enabled: bool
    retained: bool  # keeps records at least RETENTION_DAYS days (or without limit)


def _retained(props: Mapping[str, Any], where: str) -> bool:
    """True when the flow log keeps records six years or indefinitely.

    ``retentionPolicy.enabled`` false, or ``days`` 0, means no automatic deletion (records stay
    until someone deletes them). An absent retention policy has no default we can cite, so it
    does not count as retained.
    """
    policy = props.get("retentionPolicy")
    if policy is None:
        return False
    if not isinstance(policy, Mapping):
        raise MalformedResource(f"{where}.retentionPolicy is not an object")
    if policy.get("enabled") is None:
        return False
    if not as_bool(policy.get("enabled"), f"{where}.retentionPolicy.enabled"):
        return True
    days = policy.get("days")
    if days is None:
        return False
    if not isinstance(days, int) or isinstance(days, bool) or days < 0:
        raise MalformedResource(f"{where}.retentionPolicy.days is {days!r}")
    return days == 0 or days >= RETENTION_DAYS


def _flow_logs(snapshot: Snapshot, ev: Evidence) -> list[_FlowLog]:
    out: list[_FlowLog] = []
    for index, doc in enumerate(snapshot.docs("flow_logs")):
        where = f"related.flow_logs[{index}].properties"
        props = doc.get("properties")
        if not isinstance(props, Mapping):
            raise MalformedResource(f"{where} is not an object")
        target = props.get("targetResourceId")
        if not isinstance(target, str) or not target.strip():
            raise MalformedResource(f"{where}.targetResourceId is {target!r}")
        enabled = as_bool(props.get("enabled"), f"{where}.enabled")
        name = doc.get("name")
        item = _FlowLog(
            index=index,
            name=name if isinstance(name, str) and name else f"#{index}",
            target=normalize(target),
            enabled=enabled,
            retained=_retained(props, where),
        )
        out.append(item)
        ev.note(
            f"related.flow_logs[{index}]",
            {
                "name": item.name,
                "targetResourceId": target,
                "enabled": enabled,
                "retentionPolicy": props.get("retentionPolicy"),
            },
        )
    if not out:
        ev.note("related.flow_logs", [])
    return out


def _attachments(snapshot: Snapshot, key: str, ev: Evidence) -> list[str]:
    ids: list[str] = []
    for index, item in enumerate(as_list(snapshot.prop(key), f"properties.{key}")):
        rid = item.get("id") if isinstance(item, Mapping) else None
        if not isinstance(rid, str) or not rid.strip():
            raise MalformedResource(f"properties.{key}[{index}].id is missing or not a string")
        ids.append(normalize(rid))
    ev.note(f"properties.{key}", ids)
    return ids


def _target_type(target: str) -> str:
    try:
        return parse(target).type
    except ResourceIdError as exc:
        raise MalformedResource(f"flow log targetResourceId: {exc}") from None


def _covered(nsg: str, subnets: list[str], nics: list[str], logs: Iterable[_FlowLog]) -> bool:
    """Whether the given flow logs record the traffic this NSG filters.

    An NSG flow log on the NSG covers it. Otherwise every subnet the NSG is attached to needs a
    virtual network flow log on that subnet or its virtual network, and every network interface
    one on the interface or on a virtual network (the NSG body does not say which virtual network
    an interface is in; the reader supplies only the flow logs relevant to this NSG).
    """
    targets = {log.target for log in logs}
    if nsg in targets:
        return True
    if not subnets and not nics:
        return False
    vnet_logged = any(_target_type(t) == "microsoft.network/virtualnetworks" for t in targets)
    subnets_ok = all(s in targets or normalize(parent(s) or s) in targets for s in subnets)
    nics_ok = all(n in targets or vnet_logged for n in nics)
    return subnets_ok and nics_ok


_FLOW_LOG_RETIREMENT = (
    "NSG flow logs are being retired in favour of virtual network flow logs: no new NSG flow log "
    "can be created after 30 June 2025 and they retire on 30 September 2027 (Microsoft Learn, "
    "'Manage NSG flow logs using the REST API', retirement notice)."
)


@check(
    id="network_nsg_flow_logs_enabled",
    title="Traffic through PHI network security groups is recorded by enabled flow logs",
    severity=Severity.MEDIUM,
    resource_types=NSG,
    hipaa=("164.312(b)", "164.308(a)(1)(ii)(D)"),
    azure_policy=("c251913d-7d24-4958-af87-478ed3b9ba41", "27960feb-a23c-4577-8d36-ef8b5f35e0be"),
    phi_only=True,
    needs=("flow_logs",),
    guidance=(
        "Enable a virtual network flow log (Network Watcher > Flow logs) on the virtual "
        "network or subnets this NSG protects, writing to a storage account; NSG flow logs "
        "can no longer be created."
    ),
    limitations=(
        "Coverage is judged from the flow logs in the snapshot whose target is this NSG, "
        "one of its subnets or network interfaces, or a virtual network; a network "
        "interface counts as covered by any virtual network flow log supplied, because "
        "the NSG body does not name the interface's virtual network. " + _FLOW_LOG_RETIREMENT
    ),
)
def network_nsg_flow_logs_enabled(snapshot: Snapshot) -> Result:
    """Applies to NSGs in PHI scope. PASS when an enabled Network Watcher flow log targets the
    NSG, or enabled virtual network flow logs cover every subnet (via the subnet or its virtual
    network) and network interface the NSG is attached to; FAIL otherwise, because without flow
    records nobody can review who connected to the systems holding ePHI. NOT_APPLICABLE when the
    NSG is attached to no subnet or network interface and no flow log targets it: it filters no
    traffic. ``properties.enabled`` is required on a flow log (missing or non-boolean is an
    ERROR); absent ``subnets``/``networkInterfaces`` mean the NSG is not attached. NSG flow logs
    are being retired (no new ones after 30 June 2025, retirement 30 September 2027, per the
    Microsoft Learn retirement notice), so virtual network flow logs count too."""
    ev = Evidence(snapshot)
    logs = _flow_logs(snapshot, ev)
    subnets = _attachments(snapshot, "subnets", ev)
    nics = _attachments(snapshot, "networkInterfaces", ev)
    enabled = [log for log in logs if log.enabled]
    if _covered(snapshot.key, subnets, nics, enabled):
        names = ", ".join(repr(log.name) for log in enabled[:3])
        return ev.passed(f"Enabled flow logs record this NSG's traffic: {names}.")
    if not subnets and not nics and not any(log.target == snapshot.key for log in logs):
        return not_applicable(
            "The NSG is attached to no subnet or network interface, so it filters no traffic.",
            ev.values,
        )
    if any(log.target == snapshot.key for log in logs):
        return ev.failed(
            "The flow log on this NSG is disabled and no enabled virtual network "
            "flow log covers its subnets and interfaces."
        )
    return ev.failed(
        "No enabled flow log covers this NSG or every subnet and network interface "
        "it is attached to."
    )


@check(
    id="network_nsg_flow_logs_retained",
    title="Flow logs of PHI network security groups are kept for six years or without expiry",
    severity=Severity.MEDIUM,
    resource_types=NSG,
    hipaa=("164.316(b)(2)(i)", "164.312(b)"),
    phi_only=True,
    needs=("flow_logs",),
    guidance=(
        "Set the flow log's retention to 0 days (keep indefinitely) or at least 2192 days, "
        "and protect the storage account with an immutability policy or lifecycle rules "
        "that keep flow log blobs six years."
    ),
    limitations=(
        "Only the flow log's own retention policy is read; a lifecycle management rule "
        "or manual deletion on the storage account can still remove records earlier. "
        + _FLOW_LOG_RETIREMENT
    ),
)
def network_nsg_flow_logs_retained(snapshot: Snapshot) -> Result:
    """Applies to NSGs in PHI scope. PASS when the enabled flow logs that keep records for at
    least 2,192 days (six years, §164.316(b)(2)(i)) or without expiry still cover the NSG as
    ``network_nsg_flow_logs_enabled`` defines it; FAIL when covering flow logs delete records
    sooner, because network activity records of ePHI systems are then gone before the HIPAA
    retention period ends. ``retentionPolicy.enabled`` false or ``days`` 0 means records are
    never deleted by Network Watcher (the portal's "0 = retain forever"); an absent
    ``retentionPolicy`` has no default we can cite, so it does not count as retained.
    NOT_APPLICABLE when no enabled flow log covers the NSG (that is reported by
    ``network_nsg_flow_logs_enabled``)."""
    ev = Evidence(snapshot)
    logs = _flow_logs(snapshot, ev)
    subnets = _attachments(snapshot, "subnets", ev)
    nics = _attachments(snapshot, "networkInterfaces", ev)
    ev.note("required_retention_days", RETENTION_DAYS)
    enabled = [log for log in logs if log.enabled]
    if not _covered(snapshot.key, subnets, nics, enabled):
        return not_applicable(
            "No enabled flow log covers this NSG, so there is no retention to judge.", ev.values
        )
    if _covered(snapshot.key, subnets, nics, [log for log in enabled if log.retained]):
        return ev.passed(
            f"Covering flow logs keep records at least {RETENTION_DAYS} days or without expiry."
        )
    short = ", ".join(repr(log.name) for log in enabled if not log.retained)
    return ev.failed(
        f"Flow logs {short} delete records before {RETENTION_DAYS} days or do not "
        "report a retention policy."
    )


# --- virtual networks --------------------------------------------------------------------------

# Subnets where Azure does not support (or breaks with) an NSG: VPN/ExpressRoute gateways
# (built-in policy 35f9c03a "Gateway subnets should not be configured with a network security
# group"), Azure Firewall and its management subnet, and Route Server; plus subnets delegated to
# Dedicated HSM. Source: PSRule for Azure rule Azure.VNET.UseNSGs (azure.github.io/PSRule.Rules.
# Azure). AzureBastionSubnet supports an NSG (with Bastion's required rules), so it is checked.
NSG_EXEMPT_SUBNETS = frozenset(
    {"gatewaysubnet", "azurefirewallsubnet", "azurefirewallmanagementsubnet", "routeserversubnet"}
)
NSG_EXEMPT_DELEGATIONS = frozenset({"microsoft.hardwaresecuritymodules/dedicatedhsms"})


def _subnet_exempt(props: Mapping[str, Any], name: str, where: str) -> bool:
    if name.lower() in NSG_EXEMPT_SUBNETS:
        return True
    for index, delegation in enumerate(as_list(props.get("delegations"), f"{where}.delegations")):
        d_props = delegation.get("properties") if isinstance(delegation, Mapping) else None
        service = d_props.get("serviceName") if isinstance(d_props, Mapping) else None
        if not isinstance(service, str):
            raise MalformedResource(f"{where}.delegations[{index}].properties.serviceName missing")
        if service.lower() in NSG_EXEMPT_DELEGATIONS:
            return True
    return False


@check(
    id="network_vnet_subnets_nsg_associated",
    title="Every subnet that supports one has a network security group",
    severity=Severity.MEDIUM,
    resource_types=VNET,
    hipaa=("164.312(a)(1)", "164.308(a)(4)(ii)(B)"),
    azure_policy=("e71308d3-144b-4262-b144-efdc3cc90517",),
    guidance=(
        "Associate an NSG with each subnet (Virtual network > Subnets > Network security "
        "group). GatewaySubnet, AzureFirewallSubnet, AzureFirewallManagementSubnet, "
        "RouteServerSubnet and Dedicated HSM subnets are exempt because Azure does not "
        "support an NSG there."
    ),
    limitations=(
        "Only the subnets embedded in the virtual network's GET body are read. An NSG on "
        "each network interface also filters traffic but is not visible here."
    ),
)
def network_vnet_subnets_nsg_associated(snapshot: Snapshot) -> Result:
    """PASS when every subnet of the virtual network has
    ``properties.networkSecurityGroup.id``, except the subnets where Azure does not support an
    NSG (GatewaySubnet, AzureFirewallSubnet, AzureFirewallManagementSubnet, RouteServerSubnet,
    and subnets delegated to Microsoft.HardwareSecurityModules/dedicatedHSMs; source: built-in
    policy 35f9c03a and PSRule for Azure rule Azure.VNET.UseNSGs); FAIL when a subnet has none,
    because nothing then restricts which hosts reach the workloads in it. AzureBastionSubnet
    supports an NSG and is checked. Absent ``networkSecurityGroup`` means no NSG (Azure creates
    subnets without one). NOT_APPLICABLE when the virtual network has no subnets."""
    ev = Evidence(snapshot)
    subnets = as_list(snapshot.prop("subnets"), "properties.subnets")
    missing: list[str] = []
    exempt: list[str] = []
    checked = 0
    for index, subnet in enumerate(subnets):
        where = f"properties.subnets[{index}]"
        if not isinstance(subnet, Mapping):
            raise MalformedResource(f"{where} is not an object")
        name = subnet.get("name")
        if not isinstance(name, str) or not name:
            raise MalformedResource(f"{where}.name is missing or not a string")
        props = subnet.get("properties", {})
        if not isinstance(props, Mapping):
            raise MalformedResource(f"{where}.properties is not an object")
        if _subnet_exempt(props, name, f"{where}.properties"):
            exempt.append(name)
            continue
        nsg = props.get("networkSecurityGroup")
        if nsg is not None and not isinstance(nsg, Mapping):
            raise MalformedResource(f"{where}.properties.networkSecurityGroup is not an object")
        nsg_id = nsg.get("id") if nsg else None
        ev.note(f"{where}.properties.networkSecurityGroup.id", nsg_id)
        checked += 1
        if not (isinstance(nsg_id, str) and nsg_id.strip()):
            missing.append(name)
    ev.note("exempt_subnets", exempt)
    if not subnets:
        return not_applicable("The virtual network has no subnets.", ev.values)
    if missing:
        shown = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        return ev.failed(f"Subnets without a network security group: {shown}.")
    if not checked:
        return not_applicable("Every subnet is one where Azure does not support an NSG.", ev.values)
    return ev.passed("Every subnet that supports a network security group has one.")


# --- private endpoints -------------------------------------------------------------------------


@check(
    id="network_private_endpoint_connection_approved",
    title="Private endpoint connections are approved",
    severity=Severity.MEDIUM,
    resource_types=PRIVATE_ENDPOINT,
    hipaa=("164.312(e)(1)", "164.312(a)(1)"),
    guidance=(
        "Approve the connection on the target resource (Networking > Private endpoint "
        "connections) or delete the private endpoint; a rejected or disconnected endpoint "
        "leaves clients resolving a private address that carries no traffic."
    ),
    limitations=(
        "The state is the one the private endpoint reports; the target resource's own "
        "public network access setting is judged by that service's checks."
    ),
)
def network_private_endpoint_connection_approved(snapshot: Snapshot) -> Result:
    """PASS when every connection in ``privateLinkServiceConnections`` and
    ``manualPrivateLinkServiceConnections`` has ``privateLinkServiceConnectionState.status``
    Approved (case-insensitive); FAIL when one is Pending, Rejected or Disconnected, when a status
    is missing, or when there is no connection at all, because clients then cannot reach the
    service privately and tend to be switched back to its public endpoint, taking ePHI off the
    private network path. An absent status is reported, not assumed to be Approved."""
    ev = Evidence(snapshot)
    not_approved: list[str] = []
    count = 0
    for key in ("privateLinkServiceConnections", "manualPrivateLinkServiceConnections"):
        for index, conn in enumerate(as_list(snapshot.prop(key), f"properties.{key}")):
            where = f"properties.{key}[{index}]"
            if not isinstance(conn, Mapping):
                raise MalformedResource(f"{where} is not an object")
            count += 1
            status = ev.read(f"{where}.properties.privateLinkServiceConnectionState.status")
            if status is not None and not isinstance(status, str):
                raise MalformedResource(f"{where} status is {status!r}, expected a string")
            name = conn.get("name")
            if not isinstance(name, str) or not name:
                rid = conn.get("id")
                name = rid.rstrip("/").rsplit("/", 1)[-1] if isinstance(rid, str) else f"#{index}"
            if (status or "").strip().lower() != "approved":
                not_approved.append(f"{name!r} ({status or 'no status'})")
    if count == 0:
        ev.note("properties.privateLinkServiceConnections", [])
        return ev.failed("The private endpoint has no private link service connection.")
    if not_approved:
        return ev.failed(f"Connections not approved: {', '.join(not_approved[:5])}.")
    return ev.passed("Every private link service connection is approved.")
