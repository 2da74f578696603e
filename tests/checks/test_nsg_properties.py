"""The NSG model against a brute-force evaluator, on random rule sets (hypothesis).

Random rule sets draw priorities, access, direction, protocol, singular and plural source and
destination prefixes (``*``, ``Internet``, ``Any``, CIDRs public and private, narrow and
Internet-wide, IPv4 and IPv6, service tags, application security groups) and port ranges
(``*``, single ports, ranges, lists), with or without the document's default rules. For each, the
model (``shared.kernel.nsg``) and the brute force (``nsg_bruteforce``: concrete packets over a complete
set of atoms, first match by priority) must agree on which rules expose what, packet by packet
and on the projections the checks use; the four NSG checks must PASS/FAIL as the brute force
says; and the remediation's plan, applied, must leave no Internet exposure of the kind it fixes.

Deterministic: derandomized, no example database.
"""

from __future__ import annotations

import copy
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checks.network import BROAD_PORT_THRESHOLD, DATABASE_PORTS
from remediations import REMEDIATIONS
from remediations.registry import RemediationOptions, apply_writes, parse_path
from shared.engine import Engine
from shared.kernel import nsg
from shared.kernel.findings import Status
from shared.kernel.snapshot import Snapshot
from tests.checks import nsg_bruteforce as brute

REFERENCE_NSG = {
    "name": "testnsg",
    "id": "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/"
    "networkSecurityGroups/testnsg",
    "type": "Microsoft.Network/networkSecurityGroups",
    "location": "westus",
}
DEFAULTS: list[dict[str, Any]] = json.loads(
    (
        Path(__file__).resolve().parents[1]
        / "fixtures"
        / "checks"
        / "network_nsg_management_ports_internet_closed"
        / "pass_reference.json"
    ).read_text()
)["resource"]["properties"]["defaultSecurityRules"]

ASG = (
    "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/applicationSecurityGroups/"
)
SOURCES = [
    "*",
    "Internet",
    "Any",
    "0.0.0.0/0",
    "::/0",
    "0.0.0.0/1",
    "128.0.0.0/1",
    "20.0.0.0/8",
    "20.0.0.0/9",
    "20.128.0.0/9",
    "10.0.0.0/7",
    "198.51.100.0/24",
    "203.0.113.7",
    "10.0.0.0/8",
    "192.168.1.0/24",
    "VirtualNetwork",
    "AzureLoadBalancer",
    "AzureCloud",
    "2001:db8::/32",
    "2001:db8::/33",
    "fd00::/8",
    "0.0.0.0",
]
DESTINATIONS = [
    "*",
    "Any",
    "VirtualNetwork",
    "10.0.0.4",
    "10.0.0.0/24",
    "10.0.1.0/24",
    "10.0.0.0/16",
    "0.0.0.0/0",
    "fd00::5",
    "Storage",
    "Internet",
]
SOURCE_PORTS = ["*", "0-1023", "1024-65535", "443", "50000-60000"]
PORTS = [
    "*",
    "22",
    "3389",
    "5985",
    "5986",
    "5985-5986",
    "20-25",
    "3380-3390",
    "1433",
    "3306",
    "80",
    "443",
    "0-1023",
    "1024-65535",
    "8000-8009",
    "8000-8010",
    "27017-27019",
]
QUESTIONS = [*nsg.MANAGEMENT_PORTS, *DATABASE_PORTS]

MGMT = "network_nsg_management_ports_internet_closed"
DB = "network_nsg_database_ports_internet_closed"
BROAD = "network_nsg_broad_port_range_internet_closed"
PHI_IN = "network_nsg_phi_internet_inbound_denied"
ENGINE = Engine()
PROPERTY = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _field(draw: st.DrawFn, props: dict[str, Any], singular: str, palette: list[str]) -> None:
    """Sets ``singular`` and/or its plural the ways ARM bodies do."""
    plural = singular + ("es" if singular.endswith("x") else "s")
    shape = draw(st.sampled_from(["one", "one+empty", "many"]))
    if shape == "many":
        props[plural] = draw(st.lists(st.sampled_from(palette), min_size=1, max_size=3))
    else:
        props[singular] = draw(st.sampled_from(palette))
        if shape == "one+empty":
            props[plural] = []


def _fresh_rule(draw: st.DrawFn) -> dict[str, Any]:
    props: dict[str, Any] = {
        "protocol": draw(st.sampled_from(["*", "Tcp", "Udp", "Icmp", "Esp", "Ah", "tcp", "Any"])),
        "access": draw(st.sampled_from(["Allow", "Allow", "Deny", "allow", "Deny"])),
        "direction": draw(st.sampled_from(["Inbound"] * 9 + ["Outbound"])),
    }
    if draw(st.integers(0, 9)) == 0:
        props["sourceApplicationSecurityGroups"] = [{"id": ASG + "asg-web"}]
    else:
        _field(draw, props, "sourceAddressPrefix", SOURCES)
    _field(draw, props, "sourcePortRange", SOURCE_PORTS)
    if draw(st.integers(0, 6)) == 0:
        names = draw(st.lists(st.sampled_from(["asg-web", "asg-db"]), min_size=1, max_size=2))
        props["destinationApplicationSecurityGroups"] = [{"id": ASG + n} for n in names]
    else:
        _field(draw, props, "destinationAddressPrefix", DESTINATIONS)
    _field(draw, props, "destinationPortRange", PORTS)
    return props


_FIELDS = {
    "protocol": None,
    "sourceAddressPrefix": SOURCES,
    "sourcePortRange": SOURCE_PORTS,
    "destinationAddressPrefix": DESTINATIONS,
    "destinationPortRange": PORTS,
}


def _near_copy(draw: st.DrawFn, earlier: dict[str, Any]) -> dict[str, Any]:
    """An earlier rule with the other access and one or two match fields redrawn: the way
    shadows and partial shadows arise."""
    props = copy.deepcopy(earlier)
    props["access"] = "Deny" if str(props["access"]).lower() == "allow" else "Allow"
    for name in draw(st.lists(st.sampled_from(sorted(_FIELDS)), max_size=2, unique=True)):
        if name == "protocol":
            props["protocol"] = draw(st.sampled_from(["*", "Tcp", "Udp", "Icmp"]))
            continue
        plural = name + ("es" if name.endswith("x") else "s")
        for key in (name, plural):
            props.pop(key, None)
        props.pop(name.replace("AddressPrefix", "ApplicationSecurityGroups"), None)
        _field(draw, props, name, _FIELDS[name] or [])
    return props


@st.composite
def rule_sets(draw: st.DrawFn, max_rules: int = 6) -> dict[str, Any]:
    count = draw(st.integers(0, max_rules))
    priorities = draw(st.lists(st.integers(100, 4096), min_size=count, max_size=count, unique=True))
    drawn: list[dict[str, Any]] = []
    for _ in priorities:
        if drawn and draw(st.integers(0, 9)) < 4:
            drawn.append(_near_copy(draw, draw(st.sampled_from(drawn))))
        else:
            drawn.append(_fresh_rule(draw))
    rules = []
    for index, (props, priority) in enumerate(zip(drawn, priorities, strict=True)):
        props["priority"] = priority
        rules.append({"name": f"rule{index}", "etag": 'W/"1"', "properties": props})
    resource: dict[str, Any] = {**REFERENCE_NSG, "properties": {"securityRules": rules}}
    for rule in rules:
        rule["id"] = f"{REFERENCE_NSG['id']}/securityRules/{rule['name']}"
    if draw(st.booleans()):
        resource["properties"]["defaultSecurityRules"] = copy.deepcopy(DEFAULTS)
    return resource


def _brute(resource: dict[str, Any]) -> brute.Result:
    props = resource["properties"]
    return brute.evaluate(props["securityRules"], props.get("defaultSecurityRules"), QUESTIONS)


def _host_point(universe: nsg.Universe, host: brute.Host) -> int | None:
    """The model's point for a brute-force host in at most one group (the model's witnesses)."""
    if len(host.groups) > 1:
        return None
    group = next(iter(host.groups), None)
    return universe.host_point(nsg.address_point(str(host.address)), group)


def _model_packets(exposure: nsg.Exposure, truth: brute.Result) -> set[tuple[int, ...]]:
    """The brute-force packets (atom indices) that the model's exposure contains, found piece by
    piece: the atoms whose representative lies in each dimension of a piece."""
    universe = exposure.universe
    protocols = [universe.protocols.index(p) for p in truth.protocols]
    sources = [nsg.address_point(str(a)) for a in truth.sources]
    hosts = [_host_point(universe, h) for h in truth.hosts]
    out: set[tuple[int, ...]] = set()
    for piece in exposure.pieces:
        dims = (
            [i for i, v in enumerate(protocols) if v in piece[nsg.PROTOCOL]],
            [i for i, v in enumerate(sources) if v in piece[nsg.SOURCE]],
            [i for i, (lo, _) in enumerate(truth.source_ports) if lo in piece[nsg.SOURCE_PORT]],
            [i for i, v in enumerate(hosts) if v is not None and v in piece[nsg.DESTINATION]],
            [i for i, (lo, _) in enumerate(truth.ports) if lo in piece[nsg.DESTINATION_PORT]],
        )
        out.update(itertools.product(*dims))
    return out


@pytest.mark.slow
@settings(PROPERTY, max_examples=900)
@given(resource=rule_sets())
def test_model_agrees_with_brute_force(resource: dict[str, Any]) -> None:
    model = nsg.read_nsg(Snapshot(resource))
    truth = _brute(resource)
    exposures = {e.rule.name: e for e in model.exposures}
    assert set(exposures) == set(truth.exposed)
    for name, exposure in exposures.items():
        # The projections the checks use: protocols and, per protocol, the ports reached.
        for protocol in nsg.PROTOCOLS:
            spans = list(exposure.ports(protocol).spans) if protocol in exposure.protocols() else []
            assert spans == truth.rule_port_spans(name, protocol), (name, protocol)
        # Packet by packet, on every brute-force packet to a host in at most one group.
        assert _model_packets(exposure, truth) == {
            packet for packet in truth.exposed[name] if len(truth.hosts[packet[3]].groups) <= 1
        }, name
    # "Is this management port reachable from the Internet, to some destination?"
    for lo, hi in nsg.MANAGEMENT_PORTS:
        for port in range(lo, hi + 1):
            by_model = bool(model.exposed(nsg.PORT_PROTOCOLS, [(port, port)]))
            assert by_model == bool(truth.exposing(nsg.PORT_PROTOCOLS, [(port, port)])), port


@pytest.mark.slow
@settings(PROPERTY, max_examples=700)
@given(resource=rule_sets())
def test_checks_pass_and_fail_as_the_brute_force_says(resource: dict[str, Any]) -> None:
    truth = _brute(resource)
    expected = {
        MGMT: bool(truth.exposing(nsg.PORT_PROTOCOLS, nsg.MANAGEMENT_PORTS)),
        DB: bool(truth.exposing(nsg.PORT_PROTOCOLS, DATABASE_PORTS)),
        BROAD: any(
            truth.rule_port_count(name, protocol) > BROAD_PORT_THRESHOLD
            for name in truth.exposed
            for protocol in nsg.PORT_PROTOCOLS
        ),
        PHI_IN: bool(truth.exposing()),
    }
    findings = {f.check_id: f for f in ENGINE.evaluate(Snapshot(resource, phi=True)).findings}
    for check_id, fails in expected.items():
        finding = findings[check_id]
        assert finding.status == (Status.FAIL if fails else Status.PASS), (
            check_id,
            finding.reason,
        )
        if fails:
            # Every rule the brute force finds at fault is named (up to the three shown).
            assert "Inbound rules" in finding.reason or "Rules open" in finding.reason


OPTIONS = {
    "deny": RemediationOptions(),
    "restrict": RemediationOptions(nsg_strategy="restrict", admin_cidrs=("198.51.100.0/24",)),
}


@pytest.mark.slow
@settings(PROPERTY, max_examples=600)
@given(
    resource=rule_sets(),
    strategy=st.sampled_from(sorted(OPTIONS)),
    phi=st.booleans(),
)
def test_remediation_leaves_no_exposure_of_the_kind_it_fixes(
    resource: dict[str, Any], strategy: str, phi: bool
) -> None:
    item = REMEDIATIONS["network_nsg_restrict_internet_inbound"]
    protocols = None if phi else nsg.PORT_PROTOCOLS
    ports = None if phi else nsg.MANAGEMENT_PORTS
    snapshot = Snapshot(resource, phi=phi)
    before = _brute(resource).exposing(protocols, ports)
    plan = item.plan(snapshot, OPTIONS[strategy])
    if not before:
        assert plan is None
        return
    assert plan is not None
    fixed = apply_writes(snapshot, plan.writes)
    after = _brute(dict(fixed.resource))
    assert not after.exposing(protocols, ports), plan.summary
    changed = {str(parse_path(p)[2][1]) for p in plan.after}
    if strategy == "deny":
        # Turning a rule to Deny lets nothing fall through: exactly the exposing rules change.
        assert changed == before
    else:
        assert before <= changed
