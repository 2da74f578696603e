"""The network security group model: Azure's inbound rule evaluation, and what it admits from the
Internet. The NSG checks (``checks.network``) and the NSG remediation (``remediations.network``)
share it, so what is reported open is exactly what the fix closes.

Evaluation (Microsoft Learn, "Network security groups" overview, "Security rules"): inbound rules
are processed in priority order, lower numbers first (custom rules 100-4096, Azure's default
rules 65000 AllowVnetInBound, 65001 AllowAzureLoadBalancerInBound, 65500 DenyAllInBound); the
first rule whose protocol, source addresses, source ports, destination addresses and destination
ports all match a packet decides it (Allow or Deny) and processing stops. Priorities are unique
per direction (the ARM API rejects duplicates; a document that has them is malformed). Protocol
``*`` matches TCP, UDP, ICMP, ESP and AH; ``Tcp`` matches only TCP, and so on. NSGs see the
private address of a virtual machine for inbound traffic (Azure translates a public IP address to
the private one first). Both ``securityRules`` and ``defaultSecurityRules`` are read; when the
document has no ``defaultSecurityRules`` (a hand-written body) Azure's three documented inbound
defaults are assumed, and a packet no rule matches is denied, as DenyAllInBound, which nobody can
remove, would.

The model is exact set reasoning over the five packet dimensions, not a text match: every rule is
a box (protocols x source addresses x source ports x destination addresses x destination ports),
and what an Allow rule admits is its box minus the boxes of every higher-priority rule, Allow or
Deny. A Deny removes only the packets it matches in every dimension: a Deny of one destination
host, of some source ports or of one protocol leaves the rest of an Allow open.

What "from the Internet" means here (phiguard's decisions):

* An Internet packet is one whose source is a public address: any IPv4 or IPv6 address outside
  the ranges a packet from the Internet cannot carry as its source (RFC 1918 private ranges,
  100.64.0.0/10 shared, 0.0.0.0/8, loopback, link-local, multicast, 240.0.0.0/4; IPv6 ::/128,
  ::1, fc00::/7, fe80::/10, ff00::/8). Documentation ranges (192.0.2.0/24, 198.51.100.0/24,
  203.0.113.0/24) count as public, so examples behave like real addresses.
* A source entry of a rule is *Internet-wide* when it is ``*``, ``Any`` or ``Internet``, or an
  address range holding at least 2**24 public IPv4 addresses (a /8, e.g. 0.0.0.0/0, 0.0.0.0/1,
  20.0.0.0/8) or at least 2**96 public IPv6 addresses (a /32, e.g. ::/0, 2000::/3). A narrower
  public range is a named network (an office, a partner, an admin range) and is not "the
  Internet"; no organisation's own network is as large as a /8. The /8 and /32 thresholds are
  phiguard's. A rule admits traffic *from the Internet* when it decides, as Allow, a packet with a
  public source that one of its Internet-wide entries matches: Internet exposure is that set of
  packets, over every protocol, port and destination, after all higher-priority rules.
  Consequences: ``Allow *`` minus a Deny of 198.51.100.0/24 still exposes the rest of the
  Internet; an Allow from 203.0.113.0/24 exposes nothing, however many such rules there are.
* ``VirtualNetwork``, ``AzureLoadBalancer``, every other service tag (``AzureCloud``,
  ``AzureFrontDoor.Backend``, ...) and application security groups are not Internet-wide. As
  sources they are treated conservatively as matching no public address, so a Deny from a service
  tag never hides Internet exposure (phiguard cannot list a tag's addresses offline).
* Destinations are the hosts the NSG protects. ``*``, ``Any`` and ``VirtualNetwork`` are all of
  them (every protected interface's private address is in the virtual network's space); an
  address range is the hosts whose address is in it; every other service tag and every
  application security group is an opaque group of hosts that may or may not hold any given
  address and may or may not overlap another group. So a Deny to an application security group
  closes an Allow to that same group, but never an Allow to ``*`` or to an address range.
* ICMP, ESP and AH carry no ports; the model still gives their packets both port dimensions, so
  a rule's port ranges restrict them like TCP and UDP (a Deny of some ports never hides a
  portless protocol entirely). How Azure applies port ranges to portless protocols is not
  documented.
"""

from __future__ import annotations

import bisect
import ipaddress
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from shared.kernel.snapshot import MISSING, MalformedResource, Snapshot, lookup

# --- constants -------------------------------------------------------------------------------

PROTOCOLS: tuple[str, ...] = ("tcp", "udp", "icmp", "esp", "ah")
PORT_PROTOCOLS = frozenset({"tcp", "udp"})
ALL_PROTOCOL_NAMES = frozenset({"*", "any"})
MANAGEMENT_PORTS: tuple[tuple[int, int], ...] = ((22, 22), (3389, 3389), (5985, 5986))
ALL_PORTS = (0, 65535)

INTERNET_TAGS = frozenset({"*", "any", "internet"})
ALL_HOSTS_TAGS = frozenset({"*", "any", "virtualnetwork"})

# Azure's inbound default rules (Microsoft Learn, "Network security groups", "Default security
# rules"), used when a document does not carry ``defaultSecurityRules``.
AZURE_DEFAULT_INBOUND_RULES: tuple[Mapping[str, Any], ...] = tuple(
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
)

# At most this many pieces in one rule's exposure: past it the NSG is reported as not assessed
# rather than evaluated for an unbounded time (real NSGs stay far below; a hostile one may not).
MAX_PIECES = 20_000
# At most this many box subtractions for one NSG (a few seconds at worst): Azure's largest NSG
# (1,000 rules) of plain rules needs a small fraction of it.
MAX_WORK = 400_000

# --- interval sets ---------------------------------------------------------------------------

Span = tuple[int, int]
_INFINITY = float("inf")


@dataclass(frozen=True)
class IntervalSet:
    """A set of integers as sorted, disjoint, non-adjacent inclusive spans."""

    spans: tuple[Span, ...] = ()

    @staticmethod
    def of(spans: Iterable[Span]) -> IntervalSet:
        if isinstance(spans, tuple | list) and len(spans) == 1 and spans[0][0] <= spans[0][1]:
            return IntervalSet((spans[0],))
        merged: list[Span] = []
        for lo, hi in sorted(spans):
            if lo > hi:
                continue
            if merged and lo <= merged[-1][1] + 1:
                if hi > merged[-1][1]:
                    merged[-1] = (merged[-1][0], hi)
            else:
                merged.append((lo, hi))
        return IntervalSet(tuple(merged))

    def __bool__(self) -> bool:
        return bool(self.spans)

    def __and__(self, other: IntervalSet) -> IntervalSet:
        a, b = self.spans, other.spans
        if len(b) == 1 and a and b[0][0] <= a[0][0] and a[-1][1] <= b[0][1]:
            return self  # other covers self
        if len(a) == 1 and b and a[0][0] <= b[0][0] and b[-1][1] <= a[0][1]:
            return other
        out: list[Span] = []
        i = j = 0
        while i < len(a) and j < len(b):
            lo = max(a[i][0], b[j][0])
            hi = min(a[i][1], b[j][1])
            if lo <= hi:
                out.append((lo, hi))
            if a[i][1] < b[j][1]:
                i += 1
            else:
                j += 1
        return IntervalSet(tuple(out))

    def __or__(self, other: IntervalSet) -> IntervalSet:
        if not other.spans or other.spans == self.spans:
            return self
        if not self.spans:
            return other
        return IntervalSet.of(self.spans + other.spans)

    def __sub__(self, other: IntervalSet) -> IntervalSet:
        out: list[Span] = []
        holes = other.spans
        j = 0
        for lo, hi in self.spans:
            while j < len(holes) and holes[j][1] < lo:
                j += 1
            k = j
            start = lo
            while k < len(holes) and holes[k][0] <= hi:
                if holes[k][0] > start:
                    out.append((start, holes[k][0] - 1))
                start = max(start, holes[k][1] + 1)
                k += 1
            if start <= hi:
                out.append((start, hi))
        return IntervalSet(tuple(out))

    def size(self) -> int:
        return sum(hi - lo + 1 for lo, hi in self.spans)

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, int):
            return False
        at = bisect.bisect_right(self.spans, (value, _INFINITY)) - 1
        return at >= 0 and self.spans[at][0] <= value <= self.spans[at][1]


EMPTY = IntervalSet()

# --- addresses -------------------------------------------------------------------------------

V4_SIZE = 2**32
V6_SIZE = 2**128
ADDRESS_SPAN = V4_SIZE + V6_SIZE  # IPv4 at [0, 2**32), IPv6 after it
V4 = IntervalSet(((0, V4_SIZE - 1),))
V6 = IntervalSet(((V4_SIZE, ADDRESS_SPAN - 1),))
WIDE_V4 = 2**24
WIDE_V6 = 2**96

_NON_PUBLIC = (
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


def _network_span(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> Span:
    base = 0 if network.version == 4 else V4_SIZE
    return base + int(network.network_address), base + int(network.broadcast_address)


def _address_point(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> int:
    return (0 if address.version == 4 else V4_SIZE) + int(address)


PUBLIC = IntervalSet(((0, ADDRESS_SPAN - 1),)) - IntervalSet.of(
    _network_span(ipaddress.ip_network(n)) for n in _NON_PUBLIC
)

_ADDRESS_LIKE = re.compile(r"^[0-9a-f:./-]+$")


def address_point(text: str) -> int:
    """An IP address as a point of the combined address line (IPv4 first, then IPv6)."""
    return _address_point(ipaddress.ip_address(text))


def _is_address_like(text: str) -> bool:
    return (
        bool(_ADDRESS_LIKE.match(text))
        and any(c.isdigit() for c in text)
        and ("." in text or ":" in text)
    )


def parse_address_range(text: str, where: str) -> IntervalSet:
    """``10.0.0.0/24``, ``10.0.0.4``, ``2001:db8::/32`` or ``10.0.0.1-10.0.0.9`` as a span of the
    combined address line; anything address-like that does not parse is malformed."""
    try:
        return _address_range(text.strip().lower())
    except ValueError:
        raise MalformedResource(f"{where} is {text!r}, not an address, range or tag") from None


@lru_cache(maxsize=4096)
def _address_range(text: str) -> IntervalSet:
    if "-" in text:
        first, _, last = text.partition("-")
        lo = ipaddress.ip_address(first.strip())
        hi = ipaddress.ip_address(last.strip())
        if lo.version != hi.version:
            raise ValueError("mixed address families")
        a, b = sorted((_address_point(lo), _address_point(hi)))
        return IntervalSet(((a, b),))
    return IntervalSet((_network_span(ipaddress.ip_network(text, strict=False)),))


@dataclass(frozen=True)
class SourceEntry:
    """One source address entry of a rule, as the model reads it."""

    text: str
    public: IntervalSet  # the public addresses it matches (tags and groups: none)
    internet_wide: bool


def source_entry(value: Any, where: str) -> SourceEntry:
    if not isinstance(value, str) or not value.strip():
        raise MalformedResource(f"{where} is {value!r}, expected an address prefix or tag")
    try:
        return _source_entry(value.strip())
    except ValueError:
        raise MalformedResource(f"{where} is {value!r}, not an address, range or tag") from None


@lru_cache(maxsize=4096)
def _source_entry(text: str) -> SourceEntry:
    key = text.lower()
    if key in INTERNET_TAGS:
        return SourceEntry(text, PUBLIC, True)
    if not _is_address_like(key):
        return SourceEntry(text, EMPTY, False)  # VirtualNetwork, AzureLoadBalancer, other tags
    public = _address_range(key) & PUBLIC
    wide = (public & V4).size() >= WIDE_V4 or (public & V6).size() >= WIDE_V6
    return SourceEntry(text, public, wide)


def is_internet_wide(prefix: Any) -> bool:
    """True for a source prefix the model counts as "the Internet" (see the module docstring);
    False for anything else, including values that are not valid prefixes."""
    try:
        return source_entry(prefix, "prefix").internet_wide
    except MalformedResource:
        return False


# --- rules -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One inbound rule, parsed. ``path`` is its JSON path in the NSG document."""

    path: str
    index: int
    default: bool
    name: str
    allow: bool
    priority: int
    protocols: frozenset[str]
    sources: tuple[SourceEntry, ...]
    source_groups: tuple[str, ...]
    source_ports: IntervalSet
    destinations: tuple[str, ...]  # lowercase prefixes and tags
    destination_groups: tuple[str, ...]  # lowercase application security group ids
    destination_ports: IntervalSet
    public_sources: IntervalSet  # the public addresses any source entry matches
    wide_sources: IntervalSet  # the public addresses its Internet-wide entries match
    raw: Mapping[str, Any]  # the rule's properties, as read

    def summary(self) -> dict[str, Any]:
        """The rule as evidence records it."""
        return dict(self._summary)

    @cached_property
    def _summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "access": "Allow" if self.allow else "Deny",
            "priority": self.priority,
            "protocol": self.raw.get("protocol"),
            "sources": [e.text for e in self.sources] + list(self.source_groups),
            "internet_wide_sources": [e.text for e in self.sources if e.internet_wide],
            "source_ports": format_ports(self.source_ports),
            "destinations": list(self.destinations) + list(self.destination_groups),
            "ports": format_ports(self.destination_ports),
        }


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise MalformedResource(f"{where} is {value!r}, expected a non-empty string")
    return value.strip().lower()


def _items(props: Mapping[str, Any], singular: str, plural: str, where: str) -> list[Any]:
    """The singular field and the plural list together (ARM returns one, the other or both)."""
    items: list[Any] = []
    one = props.get(singular)
    if one is not None and one != "":
        items.append(one)
    many = props.get(plural)
    if many is not None:
        if not isinstance(many, list):
            raise MalformedResource(f"{where}.{plural} is {type(many).__name__}, expected a list")
        items.extend(many)
    return items


def parse_ports(props: Mapping[str, Any], singular: str, plural: str, where: str) -> IntervalSet:
    spans: list[Span] = []
    for item in _items(props, singular, plural, where):
        if isinstance(item, bool) or not isinstance(item, str | int):
            raise MalformedResource(f"{where}.{singular} {item!r} is not a port or range")
        text = str(item).strip()
        if text == "*":
            spans.append(ALL_PORTS)
            continue
        low, dash, high = text.partition("-")
        try:
            lo, hi = int(low), int(high if dash else low)
        except ValueError:
            raise MalformedResource(f"{where}.{singular} {item!r} is not a port or range") from None
        lo, hi = min(lo, hi), max(lo, hi)
        if lo < ALL_PORTS[0] or hi > ALL_PORTS[1]:
            raise MalformedResource(f"{where}.{singular} {item!r} is outside 0-65535")
        spans.append((lo, hi))
    if not spans:
        raise MalformedResource(f"{where} has no {singular}")
    return IntervalSet.of(spans)


def _groups(props: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    out: list[str] = []
    raw = props.get(key)
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise MalformedResource(f"{where}.{key} is {type(raw).__name__}, expected a list")
    for index, group in enumerate(raw):
        gid = group.get("id") if isinstance(group, Mapping) else None
        if not isinstance(gid, str) or not gid.strip():
            raise MalformedResource(f"{where}.{key}[{index}].id is missing or not a string")
        out.append("asg:" + gid.strip().rstrip("/").lower())
    return tuple(out)


def parse_rule(rule: Any, path: str, index: int, *, default: bool = False) -> Rule | None:
    """The inbound rule at ``path``; None for an outbound rule. Malformed rules raise."""
    if not isinstance(rule, Mapping):
        raise MalformedResource(f"{path} is not an object")
    props = rule.get("properties")
    if not isinstance(props, Mapping):
        raise MalformedResource(f"{path}.properties is not an object")
    where = f"{path}.properties"
    direction = _text(props.get("direction"), f"{where}.direction")
    if direction not in ("inbound", "outbound"):
        raise MalformedResource(f"{where}.direction is {direction!r}")
    if direction == "outbound":
        return None
    access = _text(props.get("access"), f"{where}.access")
    if access not in ("allow", "deny"):
        raise MalformedResource(f"{where}.access is {access!r}")
    priority = props.get("priority")
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise MalformedResource(f"{where}.priority is {priority!r}, expected a number")
    protocol = _text(props.get("protocol"), f"{where}.protocol")
    protocols = frozenset(PROTOCOLS) if protocol in ALL_PROTOCOL_NAMES else frozenset({protocol})
    sources = tuple(
        source_entry(item, f"{where}.sourceAddressPrefix")
        for item in _items(props, "sourceAddressPrefix", "sourceAddressPrefixes", where)
    )
    source_groups = _groups(props, "sourceApplicationSecurityGroups", where)
    if not sources and not source_groups:
        raise MalformedResource(f"{where} has no source address prefix or group")
    destinations: list[str] = []
    for item in _items(props, "destinationAddressPrefix", "destinationAddressPrefixes", where):
        text = _text(item, f"{where}.destinationAddressPrefix")
        if _is_address_like(text):
            parse_address_range(text, f"{where}.destinationAddressPrefix")
        destinations.append(text)
    destination_groups = _groups(props, "destinationApplicationSecurityGroups", where)
    if not destinations and not destination_groups:
        raise MalformedResource(f"{where} has no destination address prefix or group")
    name = rule.get("name")
    public = wide = EMPTY
    for entry in sources:
        public = public | entry.public
        if entry.internet_wide:
            wide = wide | entry.public
    return Rule(
        path=path,
        index=index,
        default=default,
        name=name if isinstance(name, str) and name else f"#{index}",
        allow=access == "allow",
        priority=priority,
        protocols=protocols,
        sources=sources,
        source_groups=source_groups,
        source_ports=parse_ports(props, "sourcePortRange", "sourcePortRanges", where),
        destinations=tuple(destinations),
        destination_groups=destination_groups,
        destination_ports=parse_ports(
            props, "destinationPortRange", "destinationPortRanges", where
        ),
        public_sources=public,
        wide_sources=wide,
        raw=props,
    )


# --- evaluation ------------------------------------------------------------------------------

# A box's dimensions, in the order pieces are split along.
Box = tuple[IntervalSet, IntervalSet, IntervalSet, IntervalSet, IntervalSet]
PROTOCOL, SOURCE, DESTINATION, DESTINATION_PORT, SOURCE_PORT = range(5)


class TooComplex(ValueError):
    """The rule set fragments into more pieces than :data:`MAX_PIECES`."""


@dataclass(frozen=True)
class Universe:
    """How protocols and destinations of one rule set map onto integers.

    Destinations: one copy of the address line per *witness*: the first for hosts in no opaque
    group, then one per opaque group (application security group or service tag other than
    ``*``/``Any``/``VirtualNetwork``) for hosts in that group. Checking those witnesses is enough
    to decide whether some host is reached, because opaque groups are independent of addresses
    and of each other.
    """

    protocols: tuple[str, ...]
    groups: tuple[str, ...]

    @property
    def all_destinations(self) -> IntervalSet:
        return IntervalSet(((0, (len(self.groups) + 1) * ADDRESS_SPAN - 1),))

    def host_point(self, address: int, group: str | None = None) -> int:
        """A destination host: an address point, in no group or in one (lowercase) group."""
        witness = 0 if group is None else self.groups.index(group) + 1
        return witness * ADDRESS_SPAN + address

    def protocol_set(self, names: Iterable[str]) -> IntervalSet:
        return _protocol_set(self.protocols, frozenset(names))

    def destination_set(self, rule: Rule) -> IntervalSet:
        spans: list[Span] = []
        witnesses = len(self.groups) + 1
        for text in rule.destinations:
            if text in ALL_HOSTS_TAGS:
                return self.all_destinations
            if _is_address_like(text):
                for lo, hi in parse_address_range(text, rule.path).spans:
                    spans += [
                        (w * ADDRESS_SPAN + lo, w * ADDRESS_SPAN + hi) for w in range(witnesses)
                    ]
            else:
                w = self.groups.index(text) + 1
                spans.append((w * ADDRESS_SPAN, (w + 1) * ADDRESS_SPAN - 1))
        for group in rule.destination_groups:
            w = self.groups.index(group) + 1
            spans.append((w * ADDRESS_SPAN, (w + 1) * ADDRESS_SPAN - 1))
        return IntervalSet.of(spans)

    def box(self, rule: Rule, sources: IntervalSet) -> Box:
        return (
            self.protocol_set(rule.protocols),
            sources,
            self.destination_set(rule),
            rule.destination_ports,
            rule.source_ports,
        )


@lru_cache(maxsize=256)
def _protocol_set(protocols: tuple[str, ...], wanted: frozenset[str]) -> IntervalSet:
    return IntervalSet.of((i, i) for i, p in enumerate(protocols) if p in wanted)


def _universe(rules: Sequence[Rule]) -> Universe:
    extra = sorted({p for r in rules for p in r.protocols} - set(PROTOCOLS))
    groups = sorted(
        {
            d
            for r in rules
            for d in (*r.destinations, *r.destination_groups)
            if d not in ALL_HOSTS_TAGS and not _is_address_like(d)
        }
    )
    return Universe(PROTOCOLS + tuple(extra), tuple(groups))


def _box(dims: Sequence[IntervalSet]) -> Box:
    return (dims[0], dims[1], dims[2], dims[3], dims[4])


def _intersect(a: Box, b: Box) -> Box | None:
    out = [x & y for x, y in zip(a, b, strict=True)]
    return None if any(not d for d in out) else _box(out)


Bounds = tuple[Span, ...]


def _bounds(box: Box) -> Bounds:
    """The smallest and largest value of each dimension (empty dimension: an empty span)."""
    return tuple((d.spans[0][0], d.spans[-1][1]) if d.spans else (1, 0) for d in box)


def _overlap(a: Bounds, b: Bounds) -> bool:
    return all(x[0] <= y[1] and y[0] <= x[1] for x, y in zip(a, b, strict=True))


def _subtract(a: Box, b: Box) -> list[Box]:
    """``a`` minus ``b`` as disjoint boxes."""
    common = _intersect(a, b)
    if common is None:
        return [a]
    out: list[Box] = []
    for dim in range(5):
        rest = a[dim] - b[dim]
        if rest:
            out.append(_box([*common[:dim], rest, *a[dim + 1 :]]))
    return out


@dataclass(frozen=True)
class Exposure:
    """The packets from the Internet one Allow rule decides: disjoint boxes of the universe."""

    rule: Rule
    pieces: tuple[Box, ...]
    universe: Universe

    def restrict(
        self,
        protocols: Iterable[str] | None = None,
        ports: Iterable[Span] | None = None,
    ) -> Exposure | None:
        """The part of this exposure on the given protocols and destination ports."""
        protocol_mask = None if protocols is None else self.universe.protocol_set(protocols)
        port_mask = None if ports is None else IntervalSet.of(ports)
        kept: list[Box] = []
        for piece in self.pieces:
            protocol_part = (
                piece[PROTOCOL] if protocol_mask is None else piece[PROTOCOL] & protocol_mask
            )
            port_part = (
                piece[DESTINATION_PORT]
                if port_mask is None
                else piece[DESTINATION_PORT] & port_mask
            )
            if protocol_part and port_part:
                kept.append(
                    (
                        protocol_part,
                        piece[SOURCE],
                        piece[DESTINATION],
                        port_part,
                        piece[SOURCE_PORT],
                    )
                )
        return Exposure(self.rule, tuple(kept), self.universe) if kept else None

    def protocols(self) -> list[str]:
        found: set[int] = set()
        for piece in self.pieces:
            for lo, hi in piece[PROTOCOL].spans:
                found.update(range(lo, hi + 1))
        return [p for i, p in enumerate(self.universe.protocols) if i in found]

    def ports(self, protocol: str | None = None) -> IntervalSet:
        """Destination ports reached (on ``protocol``, or any protocol)."""
        out = EMPTY
        index = self.universe.protocols.index(protocol) if protocol is not None else None
        for piece in self.pieces:
            if index is None or index in piece[PROTOCOL]:
                out = out | piece[DESTINATION_PORT]
        return out

    def sources(self) -> IntervalSet:
        out = EMPTY
        for piece in self.pieces:
            out = out | piece[SOURCE]
        return out

    def destinations(self) -> IntervalSet:
        out = EMPTY
        for piece in self.pieces:
            out = out | piece[DESTINATION]
        return out

    def reaches(self, protocol: str, port: int, source: int | None = None) -> bool:
        """Whether some packet of ``protocol`` to ``port`` (from ``source``, a point of the
        address line, if given) is in this exposure."""
        if protocol not in self.universe.protocols:
            return False
        index = self.universe.protocols.index(protocol)
        return any(
            index in p[PROTOCOL]
            and port in p[DESTINATION_PORT]
            and (source is None or source in p[SOURCE])
            for p in self.pieces
        )

    def contains(
        self, protocol: str, source: int, source_port: int, destination: int, port: int
    ) -> bool:
        """Whether one packet is in this exposure (``destination`` from
        :meth:`Universe.host_point`)."""
        if protocol not in self.universe.protocols:
            return False
        point = (self.universe.protocols.index(protocol), source, destination, port, source_port)
        return any(all(v in d for v, d in zip(point, p, strict=True)) for p in self.pieces)

    def describe(self, ports: bool = True) -> str:
        """``TCP, UDP: 22, 3389`` or ``any protocol`` (ports of TCP/UDP only)."""
        protocols = self.protocols()
        shown = (
            "any protocol"
            if set(PROTOCOLS) <= set(protocols)
            else ", ".join(p.upper() for p in protocols)
        )
        port_set = EMPTY
        for protocol in protocols:
            if protocol in PORT_PROTOCOLS:
                port_set = port_set | self.ports(protocol)
        if ports and port_set:
            shown += ": " + ", ".join(format_ports(port_set))
        return shown

    def evidence(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rule": self.rule.name,
            "path": self.rule.path,
            "protocols": [p.upper() for p in self.protocols()],
            "sources": describe_sources(self.sources()),
            "destinations": describe_destinations(self.destinations(), self.universe),
        }
        for protocol in self.protocols():
            if protocol in PORT_PROTOCOLS:
                out[f"{protocol}_ports"] = format_ports(self.ports(protocol))
        return out


def evaluate(rules: Sequence[Rule]) -> tuple[Exposure, ...]:
    """The Internet exposure of each inbound Allow rule (rules in any order; none empty)."""
    ordered = sorted(rules, key=lambda r: r.priority)
    for first, second in itertools.pairwise(ordered):
        if first.priority == second.priority:
            raise MalformedResource(
                f"{first.path} and {second.path} share priority {first.priority}; "
                "inbound priorities are unique"
            )
    universe = _universe(ordered)
    boxes = [universe.box(r, r.public_sources) for r in ordered]
    bounds = [_bounds(b) for b in boxes]
    out: list[Exposure] = []
    work = 0
    for position, rule in enumerate(ordered):
        if not rule.allow or not rule.wide_sources:
            continue
        start = universe.box(rule, rule.wide_sources)
        if any(not d for d in start):
            continue
        pieces: list[Box] = [start]
        reach = _bounds(start)
        for earlier, limits in zip(boxes[:position], bounds, strict=False):
            if not _overlap(reach, limits) or _intersect(start, earlier) is None:
                continue
            nxt: list[Box] = []
            for piece in pieces:
                nxt.extend(_subtract(piece, earlier))
            work += len(pieces)
            pieces = nxt
            if not pieces:
                break
            if len(pieces) > MAX_PIECES or work > MAX_WORK:
                raise TooComplex(
                    f"evaluating {rule.path} needs more than {MAX_PIECES} pieces or "
                    f"{MAX_WORK} box subtractions"
                )
        if pieces:
            out.append(Exposure(rule, tuple(pieces), universe))
    return tuple(out)


# --- reading an NSG document -----------------------------------------------------------------


@dataclass(frozen=True)
class Nsg:
    """The inbound rules of one NSG document and what they admit from the Internet."""

    rules: tuple[Rule, ...]  # inbound, by priority
    defaults_assumed: bool  # the document had no defaultSecurityRules
    exposures: tuple[Exposure, ...]

    def exposed(
        self, protocols: Iterable[str] | None = None, ports: Iterable[Span] | None = None
    ) -> list[Exposure]:
        """Exposures narrowed to ``protocols`` and destination ``ports`` (None: all)."""
        wanted_protocols = None if protocols is None else tuple(protocols)
        wanted_ports = None if ports is None else tuple(ports)
        out = []
        for exposure in self.exposures:
            narrowed = exposure.restrict(wanted_protocols, wanted_ports)
            if narrowed is not None:
                out.append(narrowed)
        return out

    def internet_rules(self) -> list[Rule]:
        """The rules that match some packet from the Internet (the ones that matter here)."""
        return [r for r in self.rules if r.public_sources]


def security_rules_absent(snapshot: Snapshot) -> bool:
    """True when the document has no ``properties.securityRules`` at all (or null): ARM GET
    bodies always carry the list, even empty, so its own rules could not be seen."""
    return lookup(snapshot.resource, "properties.securityRules", MISSING) in (MISSING, None)


def parse_rules(snapshot: Snapshot) -> tuple[list[Rule], bool]:
    """The inbound rules of the NSG (own and default) and whether the defaults were assumed."""
    rules: list[Rule] = []
    own = snapshot.prop("securityRules")
    if not isinstance(own, list):
        raise MalformedResource(
            f"properties.securityRules is {type(own).__name__}, expected a list"
        )
    for index, raw in enumerate(own):
        parsed = parse_rule(raw, f"properties.securityRules[{index}]", index)
        if parsed is not None:
            rules.append(parsed)
    defaults = snapshot.prop("defaultSecurityRules")
    assumed = defaults is None
    if assumed:
        defaults = list(AZURE_DEFAULT_INBOUND_RULES)
    if not isinstance(defaults, list):
        raise MalformedResource(
            f"properties.defaultSecurityRules is {type(defaults).__name__}, expected a list"
        )
    for index, raw in enumerate(defaults):
        path = f"properties.defaultSecurityRules[{index}]"
        parsed = parse_rule(raw, path, index, default=True)
        if parsed is not None:
            rules.append(parsed)
    return sorted(rules, key=lambda r: r.priority), assumed


_last: tuple[Snapshot, Nsg] | None = None


def read_nsg(snapshot: Snapshot) -> Nsg:
    """The model of an NSG document. Raises MalformedResource for malformed rules and
    :class:`TooComplex` past :data:`MAX_PIECES`; call :func:`security_rules_absent` first.

    The last model is kept for the same Snapshot object, since the four NSG checks of one
    evaluation read the same snapshot (snapshots are treated as immutable, as everywhere)."""
    global _last
    last = _last
    if last is not None and last[0] is snapshot:
        return last[1]
    rules, assumed = parse_rules(snapshot)
    model = Nsg(tuple(rules), assumed, evaluate(rules))
    _last = (snapshot, model)
    return model


# --- formatting ------------------------------------------------------------------------------


def format_ports(ports: IntervalSet) -> list[str]:
    return [
        "*" if (lo, hi) == ALL_PORTS else str(lo) if lo == hi else f"{lo}-{hi}"
        for lo, hi in ports.spans
    ]


_LISTED = 6


def _family_cidrs(lo: int, hi: int) -> list[str]:
    if hi < V4_SIZE:
        return [
            str(n)
            for n in ipaddress.summarize_address_range(
                ipaddress.IPv4Address(lo), ipaddress.IPv4Address(hi)
            )
        ]
    return [
        str(n)
        for n in ipaddress.summarize_address_range(
            ipaddress.IPv6Address(lo - V4_SIZE), ipaddress.IPv6Address(hi - V4_SIZE)
        )
    ]


def _cidrs(addresses: IntervalSet, limit: int = _LISTED) -> list[str]:
    """Up to ``limit`` CIDRs of a set of the address line, then how many more there are."""
    out: list[str] = []
    total = 0
    for lo, hi in addresses.spans:
        parts = [(lo, min(hi, V4_SIZE - 1)), (max(lo, V4_SIZE), hi)]
        for part_lo, part_hi in parts:
            if part_lo > part_hi:
                continue
            cidrs = _family_cidrs(part_lo, part_hi)
            total += len(cidrs)
            out += cidrs[: max(0, limit - len(out))]
    if total > len(out):
        out.append(f"and {total - len(out)} more ranges")
    return out


def describe_sources(sources: IntervalSet) -> list[str]:
    """Public source addresses: ``["Internet"]``, ``["Internet except", ...]`` or ranges."""
    if sources == PUBLIC:
        return ["Internet"]
    missing = PUBLIC - sources
    if len(missing.spans) <= len(sources.spans):
        return ["Internet except", *_cidrs(missing)]
    return _cidrs(sources)


def describe_destinations(destinations: IntervalSet, universe: Universe) -> list[str]:
    """``["*"]``; or ``any address`` / address ranges for hosts in no group, then each group
    reached (``asg:...`` or a service tag, with its ranges when only part of it), and ``not X``
    for a group that is not reached while every address is."""
    if destinations == universe.all_destinations:
        return ["*"]
    out: list[str] = []
    every_address = False
    for witness, name in enumerate(("", *universe.groups)):
        start = witness * ADDRESS_SPAN
        part = destinations & IntervalSet(((start, start + ADDRESS_SPAN - 1),))
        shifted = IntervalSet(tuple((lo - start, hi - start) for lo, hi in part.spans))
        full = shifted.size() == ADDRESS_SPAN
        if witness == 0:
            every_address = full
            out += ["any address"] if full else _cidrs(shifted)
        elif full:
            out.append(name)
        elif part:
            out.append(f"{name} at " + ", ".join(_cidrs(shifted, 3)))
        elif every_address:
            out.append(f"not {name}")
    return out
