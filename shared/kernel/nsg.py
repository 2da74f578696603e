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

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from shared.kernel.errors import PhiguardError
from shared.kernel.nsg_rules import (
    AZURE_DEFAULT_INBOUND_RULES,
    PORT_PROTOCOLS,
    PROTOCOLS,
    Rule,
    is_internet_wide,
    parse_rule,
    parse_rules,
    security_rules_absent,
)
from shared.kernel.packet_sets import (
    ADDRESS_SPAN,
    DESTINATION,
    DESTINATION_PORT,
    EMPTY,
    PROTOCOL,
    PUBLIC,
    SOURCE,
    SOURCE_PORT,
    Box,
    IntervalSet,
    Span,
    address_point,
    box_bounds,
    format_ports,
    intersect,
    is_address_like,
    listed_cidrs,
    overlap,
    parse_address_range,
    subtract,
)
from shared.kernel.snapshot import MalformedResource, Snapshot

# What the NSG's users (the checks, the fix, the tests) read from here; the rules and the packet
# sets live in shared.kernel.nsg_rules and shared.kernel.packet_sets.
__all__ = [
    "AZURE_DEFAULT_INBOUND_RULES",
    "DESTINATION",
    "DESTINATION_PORT",
    "MANAGEMENT_PORTS",
    "MAX_PIECES",
    "MAX_WORK",
    "PORT_PROTOCOLS",
    "PROTOCOL",
    "PROTOCOLS",
    "SOURCE",
    "SOURCE_PORT",
    "Exposure",
    "Nsg",
    "Rule",
    "TooComplex",
    "Universe",
    "address_point",
    "describe_destinations",
    "describe_sources",
    "evaluate",
    "format_ports",
    "is_internet_wide",
    "parse_address_range",
    "parse_rule",
    "parse_rules",
    "read_nsg",
    "security_rules_absent",
]

MANAGEMENT_PORTS: tuple[tuple[int, int], ...] = ((22, 22), (3389, 3389), (5985, 5986))
ALL_HOSTS_TAGS = frozenset({"*", "any", "virtualnetwork"})

# At most this many pieces in one rule's exposure: past it the NSG is reported as not assessed
# rather than evaluated for an unbounded time (real NSGs stay far below; a hostile one may not).
MAX_PIECES = 20_000
# At most this many box subtractions for one NSG (a few seconds at worst): Azure's largest NSG
# (1,000 rules) of plain rules needs a small fraction of it.
MAX_WORK = 400_000

# --- evaluation ------------------------------------------------------------------------------


class TooComplex(PhiguardError, ValueError):
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
            if is_address_like(text):
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
            if d not in ALL_HOSTS_TAGS and not is_address_like(d)
        }
    )
    return Universe(PROTOCOLS + tuple(extra), tuple(groups))


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
    bounds = [box_bounds(b) for b in boxes]
    out: list[Exposure] = []
    work = 0
    for position, rule in enumerate(ordered):
        if not rule.allow or not rule.wide_sources:
            continue
        start = universe.box(rule, rule.wide_sources)
        if any(not d for d in start):
            continue
        pieces: list[Box] = [start]
        reach = box_bounds(start)
        for earlier, limits in zip(boxes[:position], bounds, strict=False):
            if not overlap(reach, limits) or intersect(start, earlier) is None:
                continue
            nxt: list[Box] = []
            for piece in pieces:
                nxt.extend(subtract(piece, earlier))
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


# --- describing an exposure ------------------------------------------------------------------


def describe_sources(sources: IntervalSet) -> list[str]:
    """Public source addresses: ``["Internet"]``, ``["Internet except", ...]`` or ranges."""
    if sources == PUBLIC:
        return ["Internet"]
    missing = PUBLIC - sources
    if len(missing.spans) <= len(sources.spans):
        return ["Internet except", *listed_cidrs(missing)]
    return listed_cidrs(sources)


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
            out += ["any address"] if full else listed_cidrs(shifted)
        elif full:
            out.append(name)
        elif part:
            out.append(f"{name} at " + ", ".join(listed_cidrs(shifted, 3)))
        elif every_address:
            out.append(f"not {name}")
    return out
