"""NSG rules as the model reads them (:mod:`shared.kernel.nsg` says what they mean): the inbound
rules of an NSG document, own and default, each with its protocols, source entries (what public
addresses each matches and whether it is Internet-wide), ports and destinations. A malformed rule
raises MalformedResource naming its JSON path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from shared.kernel.packet_sets import (
    ALL_PORTS,
    EMPTY,
    PUBLIC,
    V4,
    V6,
    IntervalSet,
    Span,
    address_range,
    format_ports,
    is_address_like,
    parse_address_range,
)
from shared.kernel.snapshot import MISSING, MalformedResource, Snapshot, lookup

PROTOCOLS: tuple[str, ...] = ("tcp", "udp", "icmp", "esp", "ah")
PORT_PROTOCOLS = frozenset({"tcp", "udp"})
ALL_PROTOCOL_NAMES = frozenset({"*", "any"})

INTERNET_TAGS = frozenset({"*", "any", "internet"})
WIDE_V4 = 2**24
WIDE_V6 = 2**96

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


# --- sources ---------------------------------------------------------------------------------


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
    if not is_address_like(key):
        return SourceEntry(text, EMPTY, False)  # VirtualNetwork, AzureLoadBalancer, other tags
    public = address_range(key) & PUBLIC
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
        if is_address_like(text):
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
