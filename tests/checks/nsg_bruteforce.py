"""A brute-force NSG evaluator for the tests: concrete packets, first match by priority.

Written from the rules of evaluation, independently of ``shared.kernel.nsg``: it enumerates concrete
packets (protocol, source address, source port, destination host, destination port), finds for
each the highest-priority inbound rule that matches it in every dimension, and records the packets
an Allow rule decides for a public source that one of its Internet-wide entries matches.

The packet domain is chosen per rule set so that it is complete: one packet per combination of
*atoms*. An atom of a dimension is a maximal set of values every rule (and every question the
tests ask) treats alike, so one representative per atom stands for all of it, and what is true of
the representatives is true of the whole space. Port atoms are intervals between the rules'
boundaries, with their lengths kept so ports can be counted. Address atoms are found by testing
every boundary address of every prefix in use (first, last, one before, one after) and keeping one
address per distinct membership signature. Destination hosts are every address atom combined
with every subset of the opaque groups in use (application security groups, service tags): a host
may belong to any combination of groups, whatever its address.

Decisions it shares with the model (they are the specification, in ``shared.kernel.nsg``): public
addresses exclude the listed non-public ranges; an Internet-wide source entry is ``*``, ``Any``,
``Internet`` or a range with at least 2**24 public IPv4 or 2**96 public IPv6 addresses; service
tags and groups match no public source; ``*``, ``Any`` and ``VirtualNetwork`` destinations are all
hosts; a packet no rule matches is denied.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

PROTOCOLS = ("tcp", "udp", "icmp", "esp", "ah")
NON_PUBLIC = [
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    )
]
ANY = frozenset({"*", "any"})
ALL_HOSTS = frozenset({"*", "any", "virtualnetwork"})

DEFAULT_INBOUND = [
    {
        "name": name,
        "properties": {
            "protocol": "*",
            "sourcePortRange": "*",
            "destinationPortRange": "*",
            "sourceAddressPrefix": source,
            "destinationAddressPrefix": destination,
            "access": access,
            "priority": priority,
            "direction": "Inbound",
        },
    }
    for name, source, destination, access, priority in (
        ("AllowVnetInBound", "VirtualNetwork", "VirtualNetwork", "Allow", 65000),
        ("AllowAzureLoadBalancerInBound", "AzureLoadBalancer", "*", "Allow", 65001),
        ("DenyAllInBound", "*", "*", "Deny", 65500),
    )
]


def _network(text: str) -> Network | None:
    """The network an address-like entry names; None for tags."""
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def is_public(address: Address) -> bool:
    return not any(address in n for n in NON_PUBLIC)


def public_count(network: Network) -> int:
    """Public addresses in ``network``: its size minus its overlap with the non-public ranges
    (which are disjoint, and each either contains, is inside or misses a CIDR)."""
    count = network.num_addresses
    for blocked in NON_PUBLIC:
        if blocked.version != network.version:
            continue
        if network.subnet_of(blocked):  # type: ignore[arg-type]
            return 0
        if blocked.subnet_of(network):  # type: ignore[arg-type]
            count -= blocked.num_addresses
    return count


def internet_wide(entry: str) -> bool:
    key = entry.strip().lower()
    if key in ANY or key == "internet":
        return True
    network = _network(key)
    if network is None:
        return False
    return public_count(network) >= (2**24 if network.version == 4 else 2**96)


def _items(props: Mapping[str, Any], singular: str, plural: str) -> list[Any]:
    items = [props[singular]] if props.get(singular) not in (None, "") else []
    return items + list(props.get(plural) or [])


def _port_spans(values: Iterable[Any]) -> list[tuple[int, int]]:
    spans = []
    for value in values:
        text = str(value).strip()
        if text == "*":
            spans.append((0, 65535))
        else:
            lo, _, hi = text.partition("-")
            spans.append((int(lo), int(hi or lo)))
    return spans


@dataclass
class Rule:
    name: str
    own: bool  # in securityRules (not a default rule)
    allow: bool
    priority: int
    protocol: str
    sources: list[str]
    source_groups: list[str]
    source_ports: list[tuple[int, int]]
    destinations: list[str]
    destination_groups: list[str]
    destination_ports: list[tuple[int, int]]

    @staticmethod
    def of(raw: Mapping[str, Any], own: bool) -> Rule | None:
        props = raw["properties"]
        if str(props["direction"]).lower() != "inbound":
            return None
        return Rule(
            name=str(raw.get("name")),
            own=own,
            allow=str(props["access"]).lower() == "allow",
            priority=int(props["priority"]),
            protocol=str(props["protocol"]).lower(),
            sources=[
                s.strip() for s in _items(props, "sourceAddressPrefix", "sourceAddressPrefixes")
            ],
            source_groups=[
                g["id"].lower() for g in props.get("sourceApplicationSecurityGroups") or []
            ],
            source_ports=_port_spans(_items(props, "sourcePortRange", "sourcePortRanges")),
            destinations=[
                d.strip().lower()
                for d in _items(props, "destinationAddressPrefix", "destinationAddressPrefixes")
            ],
            destination_groups=[
                "asg:" + g["id"].lower()
                for g in props.get("destinationApplicationSecurityGroups") or []
            ],
            destination_ports=_port_spans(
                _items(props, "destinationPortRange", "destinationPortRanges")
            ),
        )

    def matches_protocol(self, protocol: str) -> bool:
        return self.protocol in ANY or self.protocol == protocol

    def matches_source(self, address: Address) -> bool:
        """Whether a *public* source address matches (tags and groups match none)."""
        return any(_source_entry_matches(s, address) for s in self.sources)

    def wide_match(self, address: Address) -> bool:
        return any(internet_wide(s) and _source_entry_matches(s, address) for s in self.sources)

    def matches_destination(self, host: Host) -> bool:
        for entry in self.destinations:
            if entry in ALL_HOSTS:
                return True
            network = _network(entry)
            if network is not None:
                if host.address.version == network.version and host.address in network:
                    return True
            elif entry in host.groups:
                return True
        return any(g in host.groups for g in self.destination_groups)


def _source_entry_matches(entry: str, address: Address) -> bool:
    key = entry.strip().lower()
    if key in ANY or key == "internet":
        return True
    network = _network(key)
    return network is not None and address.version == network.version and address in network


@dataclass(frozen=True)
class Host:
    address: Address
    groups: frozenset[str]


def _boundary_addresses(networks: Iterable[Network]) -> list[Address]:
    out: list[Address] = [
        ipaddress.IPv4Address(0),
        ipaddress.IPv4Address(2**32 - 1),
        ipaddress.IPv6Address(0),
        ipaddress.IPv6Address(2**128 - 1),
    ]
    for network in networks:
        top = 2**32 - 1 if network.version == 4 else 2**128 - 1
        first, last = int(network.network_address), int(network.broadcast_address)
        for value in (first - 1, first, last, last + 1):
            if 0 <= value <= top:
                out.append(
                    ipaddress.ip_address(value)
                    if network.version == 4
                    else ipaddress.IPv6Address(value)
                )
    return out


def _address_atoms(networks: Sequence[Network], extra: Sequence[Network] = ()) -> list[Address]:
    """One address per distinct signature (family, public, membership of each network)."""
    seen: dict[tuple[bool, ...], Address] = {}
    for address in _boundary_addresses([*networks, *extra]):
        signature = (
            address.version == 4,
            is_public(address),
            *(address.version == n.version and address in n for n in networks),
        )
        seen.setdefault(signature, address)
    return list(seen.values())


def port_atoms(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """The partition of 0-65535 by the boundaries of ``spans``."""
    cuts = {0, 65536}
    for lo, hi in spans:
        cuts.update((lo, hi + 1))
    points = sorted(c for c in cuts if 0 <= c <= 65536)
    return [(a, b - 1) for a, b in itertools.pairwise(points)]


@dataclass
class Result:
    """Exposure found by brute force: per rule name, the packets (as atom indices)."""

    protocols: tuple[str, ...]
    sources: list[Address]
    source_ports: list[tuple[int, int]]
    hosts: list[Host]
    ports: list[tuple[int, int]]
    rules: list[Rule]
    # rule name -> set of (protocol, source, source port, host, port) atom indices
    exposed: dict[str, set[tuple[int, int, int, int, int]]] = field(default_factory=dict)

    def rule_port_spans(self, name: str, protocol: str) -> list[tuple[int, int]]:
        """The ports the rule exposes on ``protocol``, as merged inclusive spans."""
        atoms = sorted(
            {
                dp
                for p, _s, _sp, _d, dp in self.exposed.get(name, ())
                if self.protocols[p] == protocol
            }
        )
        spans: list[tuple[int, int]] = []
        for lo, hi in (self.ports[a] for a in atoms):
            if spans and spans[-1][1] + 1 == lo:
                spans[-1] = (spans[-1][0], hi)
            else:
                spans.append((lo, hi))
        return spans

    def rule_port_count(self, name: str, protocol: str) -> int:
        atoms = {
            dp for p, _s, _sp, _d, dp in self.exposed.get(name, ()) if self.protocols[p] == protocol
        }
        return sum(self.ports[a][1] - self.ports[a][0] + 1 for a in atoms)

    def exposing(
        self, protocols: Iterable[str] | None = None, ports: Iterable[tuple[int, int]] | None = None
    ) -> set[str]:
        """Names of the rules that expose some packet on ``protocols`` and ``ports``."""
        wanted_protocols = set(protocols) if protocols is not None else set(self.protocols)
        wanted_ports = list(ports) if ports is not None else [(0, 65535)]
        out = set()
        for name, packets in self.exposed.items():
            for p, _s, _sp, _d, dp in packets:
                lo, hi = self.ports[dp]
                if self.protocols[p] in wanted_protocols and any(
                    lo <= t_hi and t_lo <= hi for t_lo, t_hi in wanted_ports
                ):
                    out.add(name)
                    break
        return out


def evaluate(
    own: Sequence[Mapping[str, Any]],
    defaults: Sequence[Mapping[str, Any]] | None = None,
    questions: Iterable[tuple[int, int]] = (),
) -> Result:
    """Brute-force Internet exposure of an NSG's rules. ``questions`` are port ranges the caller
    will ask about, so the port atoms are split at their boundaries too."""
    rules = [r for raw in own if (r := Rule.of(raw, True)) is not None]
    rules += [
        r
        for raw in (DEFAULT_INBOUND if defaults is None else defaults)
        if (r := Rule.of(raw, False)) is not None
    ]
    rules.sort(key=lambda r: r.priority)
    source_networks = [n for r in rules for s in r.sources if (n := _network(s.lower()))]
    sources = [a for a in _address_atoms(source_networks, NON_PUBLIC) if is_public(a)]
    destination_networks = [n for r in rules for d in r.destinations if (n := _network(d))]
    groups = sorted(
        {d for r in rules for d in r.destinations if d not in ALL_HOSTS and _network(d) is None}
        | {g for r in rules for g in r.destination_groups}
    )
    subsets = [
        frozenset(g for i, g in enumerate(groups) if mask >> i & 1)
        for mask in range(2 ** len(groups))
    ]
    hosts = [Host(a, s) for a in _address_atoms(destination_networks) for s in subsets]
    source_ports = port_atoms(span for r in rules for span in r.source_ports)
    ports = port_atoms([*(span for r in rules for span in r.destination_ports), *questions])
    result = Result(PROTOCOLS, sources, source_ports, hosts, ports, rules)

    # Bit-parallel over (source port, destination port): bit sp * len(ports) + dp.
    width = len(ports)
    full = (1 << (len(source_ports) * width)) - 1

    def mask(rule: Rule) -> int:
        dmask = sum(
            1 << i
            for i, (lo, _hi) in enumerate(ports)
            if any(a <= lo <= b for a, b in rule.destination_ports)
        )
        return sum(
            dmask << (i * width)
            for i, (lo, _hi) in enumerate(source_ports)
            if any(a <= lo <= b for a, b in rule.source_ports)
        )

    masks = [mask(r) for r in rules]
    for pi, protocol in enumerate(PROTOCOLS):
        live = [(r, m) for r, m in zip(rules, masks, strict=True) if r.matches_protocol(protocol)]
        for si, source in enumerate(sources):
            by_source = [(r, m, r.wide_match(source)) for r, m in live if r.matches_source(source)]
            for hi, host in enumerate(hosts):
                undecided = full
                for rule, bits, wide in by_source:
                    if not rule.matches_destination(host):
                        continue
                    hit = undecided & bits
                    if not hit:
                        continue
                    undecided &= ~hit
                    if rule.allow and wide:
                        packets = result.exposed.setdefault(rule.name, set())
                        rest = hit
                        while rest:
                            low = rest & -rest
                            bit = low.bit_length() - 1
                            packets.add((pi, si, bit // width, hi, bit % width))
                            rest ^= low
                    if not undecided:
                        break
    return result
