"""Network checks: NSG exposure to the Internet, flow logs, subnet NSGs and private endpoints.

The four NSG exposure checks read the NSG through one model, ``shared.kernel.nsg``, shared with the NSG
remediation: Azure's inbound evaluation (priority order, first match decides, own rules and
``defaultSecurityRules``), exact over protocol, source and destination addresses and ports, and
one definition of "from the Internet" (its module docstring). An Allow is exposure for the
packets it really decides; a Deny removes only the packets it matches in every dimension.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from checks.common import Evidence, as_bool, as_list
from checks.registry import check, register_policy_definitions
from shared.kernel import nsg
from shared.kernel.findings import Result, Severity, failed, not_applicable, not_assessed, passed
from shared.kernel.hipaa import RETENTION_DAYS
from shared.kernel.nsg import MANAGEMENT_PORTS, PORT_PROTOCOLS, Exposure, Nsg
from shared.kernel.resource_id import ResourceIdError, normalize, parent, parse
from shared.kernel.snapshot import MalformedResource, Snapshot

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

_NAMED_IN_REASON = 3

INTERNET_DEFINITION = (
    "A source counts as the Internet when it is '*', 'Any', 'Internet' or an address range "
    "holding at least a /8 of public IPv4 (or a /32 of public IPv6) space; narrower public "
    "ranges are named networks and are not flagged, and service tags and application security "
    "groups are never the Internet (as sources of a Deny they hide no Internet traffic)."
)
_NOT_VISIBLE = (
    "Rules of other NSGs on the same subnet or NIC, Azure Firewall and Virtual Network Manager "
    "admin rules are not visible here."
)


def read_model(snapshot: Snapshot, ev: Evidence) -> Nsg | Result:
    """The NSG model, with the rules that match Internet traffic recorded as evidence; or the
    NOT_ASSESSED result when the document's own rules, or a verdict within bounds, are not to be
    had."""
    if nsg.security_rules_absent(snapshot):
        ev.note("properties.securityRules", {"absent": True, "assumed": None})
        return not_assessed(
            "The NSG document has no properties.securityRules (not even an empty list), so "
            "its own rules could not be seen.",
            ev.values,
        )
    try:
        model = nsg.read_nsg(snapshot)
    except nsg.TooComplex as exc:
        return not_assessed(
            f"The NSG's rules are too fragmented to evaluate exactly ({exc}).", ev.values
        )
    if model.defaults_assumed:
        ev.note(
            "properties.defaultSecurityRules",
            {
                "absent": True,
                "assumed": [r["name"] for r in nsg.AZURE_DEFAULT_INBOUND_RULES],
            },
        )
    relevant = model.internet_rules()
    for rule in relevant:
        ev.note(rule.path, rule.summary())
    if not relevant:
        ev.note("inbound rules matching Internet traffic", [])
    return model


def _note_exposures(ev: Evidence, found: Sequence[Exposure]) -> None:
    ev.note("internet_exposure", [e.evidence() for e in found])


def _describe(found: Sequence[Exposure], ports: bool = True) -> str:
    """``'rule1' (TCP, UDP: 22)`` per offending rule, the first three, then a count."""
    parts = [f"{e.rule.name!r} ({e.describe(ports)}{_where(e)})" for e in found]
    more = f" and {len(parts) - _NAMED_IN_REASON} more" if len(parts) > _NAMED_IN_REASON else ""
    return ", ".join(parts[:_NAMED_IN_REASON]) + more


def _where(exposure: Exposure) -> str:
    destinations = nsg.describe_destinations(exposure.destinations(), exposure.universe)
    return "" if destinations == ["*"] else " to some destinations"


def _ports_exposed_result(
    snapshot: Snapshot, targets: tuple[tuple[int, int], ...], what: str
) -> Result:
    ev = Evidence(snapshot)
    model = read_model(snapshot, ev)
    if isinstance(model, Result):
        return model
    found = model.exposed(PORT_PROTOCOLS, targets)
    _note_exposures(ev, found)
    if found:
        return ev.failed(f"Inbound rules open {what} to the Internet: {_describe(found)}.")
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
        "Remove or narrow the Allow rules whose source is Internet, *, 0.0.0.0/0 or another "
        "Internet-wide range on ports 22, 3389 and 5985-5986; reach machines through Azure "
        "Bastion, a VPN or just-in-time VM access instead."
    ),
    limitations=INTERNET_DEFINITION + " " + _NOT_VISIBLE,
)
def network_nsg_management_ports_internet_closed(snapshot: Snapshot) -> Result:
    """PASS when no inbound Allow rule of the NSG admits Internet traffic (from an Internet-wide
    source: ``*``, ``Any``, ``Internet``, or a range of at least a public /8 or IPv6 /32) to
    TCP/UDP ports 22, 3389 or 5985-5986 of any destination, once every higher-priority rule has
    decided the packets it matches (Azure's first-match evaluation, exact over protocol, source
    and destination addresses and ports: a Deny of one host or of some source ports leaves the
    rest open). FAIL when one does: remote administration exposed to the Internet is
    brute-forced within hours, and a compromised host gives direct access to the ePHI it stores
    or reaches. A document without ``properties.securityRules`` (ARM GET bodies always carry the list, even
    empty) is NOT_ASSESSED; an empty list leaves Azure's default rules, which deny inbound Internet
    traffic, and absent ``defaultSecurityRules`` are taken to be Azure's documented defaults."""
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
        "listening on another port is covered by the broad-range and PHI checks only. "
        + INTERNET_DEFINITION
    ),
)
def network_nsg_database_ports_internet_closed(snapshot: Snapshot) -> Result:
    """PASS when no inbound Allow rule admits Internet traffic to a well-known database port
    (TCP/UDP 1433-1434, 1521, 3306, 5432, 6379-6380, 27017-27019) of any destination after
    higher-priority rules have decided the packets they match; FAIL when one does, because a
    database listener on the Internet is one leaked or guessed password away from a bulk ePHI
    breach. "From the Internet" and the evaluation are those of
    network_nsg_management_ports_internet_closed. A document without ``properties.securityRules`` (ARM GET bodies always carry the list, even
    empty) is NOT_ASSESSED; an empty list leaves Azure's default rules, which deny inbound Internet
    traffic, and absent ``defaultSecurityRules`` are taken to be Azure's documented defaults."""
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
        "ports and are not judged here. " + INTERNET_DEFINITION
    ),
)
def network_nsg_broad_port_range_internet_closed(snapshot: Snapshot) -> Result:
    """PASS when every inbound Allow rule admits Internet traffic to at most 10 TCP (and at most
    10 UDP) destination ports, counting the ports through which the rule really decides some
    Internet packet to some destination once higher-priority rules are applied; FAIL when a rule
    opens more (``*`` is all 65,536), because a wide range exposes whatever happens to listen on
    the hosts, including services never meant for the Internet that may hold or reach ePHI. The
    threshold of 10 is this project's: Internet-facing services need a few well-known ports. A document without ``properties.securityRules`` (ARM GET bodies always carry the list, even
    empty) is NOT_ASSESSED; an empty list leaves Azure's default rules, which deny inbound Internet
    traffic, and absent ``defaultSecurityRules`` are taken to be Azure's documented defaults."""
    ev = Evidence(snapshot)
    model = read_model(snapshot, ev)
    if isinstance(model, Result):
        return model
    found = [
        e
        for e in model.exposed(PORT_PROTOCOLS)
        if any(e.ports(p).size() > BROAD_PORT_THRESHOLD for p in e.protocols())
    ]
    ev.note("threshold_ports_per_rule", BROAD_PORT_THRESHOLD)
    ev.note(
        "ports_per_rule",
        {
            e.rule.name: {p.upper(): e.ports(p).size() for p in e.protocols()}
            for e in model.exposed(PORT_PROTOCOLS)
        },
    )
    _note_exposures(ev, found)
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
        "is accepted; whether that gateway has a WAF is judged by the edge checks. "
        + INTERNET_DEFINITION
    ),
)
def network_nsg_phi_internet_inbound_denied(snapshot: Snapshot) -> Result:
    """Applies to NSGs in PHI scope. PASS when no inbound Allow rule admits Internet traffic
    (from an Internet-wide source, as network_nsg_management_ports_internet_closed defines it)
    on any protocol or port to any destination after higher-priority rules have decided the
    packets they match; FAIL when one does, because a PHI workload reachable straight from the
    Internet bypasses the WAF and gateway controls meant to inspect traffic to ePHI. A document without ``properties.securityRules`` (ARM GET bodies always carry the list, even
    empty) is NOT_ASSESSED; an empty list leaves Azure's default rules, which deny inbound Internet
    traffic, and absent ``defaultSecurityRules`` are taken to be Azure's documented defaults."""
    ev = Evidence(snapshot)
    model = read_model(snapshot, ev)
    if isinstance(model, Result):
        return model
    found = model.exposed()
    _note_exposures(ev, found)
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


# --- issue 14, area 6: Network Watcher per region ---------------------------------------------------


def _region(value: Any) -> str:
    return str(value or "").replace(" ", "").lower()


@check(
    id="network_vnet_region_network_watcher",
    title="Every region with a virtual network has a Network Watcher",
    severity=Severity.LOW,
    resource_types=VNET,
    hipaa=("164.312(b)", "164.308(a)(1)(ii)(D)"),
    needs=("network_watchers",),
    guidance="Enable Network Watcher in the region (Network Watcher > Regions), so that flow "
    "logs, connection troubleshooting and packet capture are available there.",
    limitations="Only the watchers of the VNet's own subscription are read (one per subscription "
    "and region is what Azure creates). The built-in policy 'Network Watcher should be enabled' "
    "is not cited: it was not verified here.",
)
def network_vnet_region_network_watcher(snapshot: Snapshot) -> Result:
    """PASS when the subscription has a Network Watcher whose ``location`` is the VNet's
    region; FAIL when it has none there, because flow logs (the record of network access to
    PHI systems) cannot be collected in that region. Region names are compared without spaces
    and case (``East US 2`` = ``eastus2``). An absent watcher list entry for the region means
    none: Azure creates watchers per region only when enabled."""
    region = _region(snapshot.get("location"))
    watchers = snapshot.docs("network_watchers")
    regions = sorted({_region(w.get("location")) for w in watchers})
    evidence = {"location": region, "related.network_watchers.regions": regions}
    if region in regions:
        return passed(f"A Network Watcher covers {region}.", evidence)
    return failed(f"No Network Watcher is enabled in {region}.", evidence)


NICS = ("microsoft.network/networkinterfaces",)


@check(
    id="network_nic_internet_facing_has_nsg",
    title="An Internet-facing network interface of a PHI system is filtered by an NSG",
    severity=Severity.HIGH,
    resource_types=NICS,
    hipaa=("164.312(e)(1)", "164.312(a)(1)"),
    phi_only=True,
    needs=("virtual_networks",),
    guidance="Associate a network security group with the NIC or with its subnet (Networking > "
    "Network security group), denying inbound traffic from the Internet except what the "
    "workload must serve; or remove the public IP and reach the VM through Bastion.",
    limitations="Only the NIC's own public IPs are seen: a VM reached through a load balancer's "
    "or NAT rule's public IP is not judged here. A VNet in another subscription is not read.",
)
def network_nic_internet_facing_has_nsg(snapshot: Snapshot) -> Result:
    """NOT_APPLICABLE when no IP configuration has a public IP. Otherwise PASS when the NIC has
    a network security group, or every subnet its IP configurations sit in has one; FAIL when
    one does not, because every port the VM listens on is then open to the Internet. A subnet
    the subscription's VNet list does not hold is NOT_ASSESSED (it may sit in another
    subscription), never PASS. An absent ``networkSecurityGroup`` (on the NIC or the subnet)
    means none; an absent ``publicIPAddress`` means a private configuration."""
    ev = Evidence(snapshot)
    configs = as_list(ev.prop("ipConfigurations", []), "properties.ipConfigurations")
    subnets: list[str] = []
    public = 0
    for index, config in enumerate(configs):
        props = config.get("properties") if isinstance(config, Mapping) else None
        if not isinstance(props, Mapping):
            raise MalformedResource(f"properties.ipConfigurations[{index}] has no properties")
        if isinstance(props.get("publicIPAddress"), Mapping):
            public += 1
            subnet = props.get("subnet")
            if isinstance(subnet, Mapping) and isinstance(subnet.get("id"), str):
                subnets.append(normalize(subnet["id"]))
    evidence: dict[str, Any] = {"public_ip_configurations": public}
    if not public:
        return not_applicable("The network interface has no public IP.")
    own = ev.prop("networkSecurityGroup", None)
    if isinstance(own, Mapping) and own.get("id"):
        evidence["nsg"] = "on the network interface"
        return passed("An NSG filters the network interface itself.", evidence)
    by_id: dict[str, Any] = {}
    for vnet in snapshot.docs("virtual_networks"):
        for subnet in as_list((vnet.get("properties") or {}).get("subnets"), "subnets"):
            if isinstance(subnet, Mapping) and isinstance(subnet.get("id"), str):
                by_id[normalize(subnet["id"])] = subnet
    unfiltered = []
    for subnet_id in subnets:
        subnet = by_id.get(subnet_id)
        if subnet is None:
            evidence["unread_subnet"] = subnet_id
            return not_assessed(
                "The subnet of the public IP configuration is not in the subscription's "
                "virtual networks (another subscription?), so its NSG could not be read.",
                evidence,
            )
        nsg = (subnet.get("properties") or {}).get("networkSecurityGroup")
        if not (isinstance(nsg, Mapping) and nsg.get("id")):
            unfiltered.append(subnet_id.rsplit("/", 1)[-1])
    evidence["subnets_without_nsg"] = unfiltered
    if unfiltered:
        return failed(
            f"Neither the network interface nor its subnet ({', '.join(unfiltered)}) has an "
            "NSG: the public IP exposes every listening port.",
            evidence,
        )
    return passed("The subnets of its public IP configurations are filtered by NSGs.", evidence)
