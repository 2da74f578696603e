"""Sets of packets, for the NSG model (:mod:`shared.kernel.nsg`): integer interval sets, the
address line (every IPv4 address, then every IPv6 address, as one line of integers), the public
addresses on it, and boxes: products of five interval sets (protocol, source address, destination,
destination port, source port) with their intersection and difference as disjoint boxes. Also how
ports and address sets are printed (CIDRs).
"""

from __future__ import annotations

import bisect
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from shared.kernel.snapshot import MalformedResource

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

# --- ports -----------------------------------------------------------------------------------

ALL_PORTS = (0, 65535)


def format_ports(ports: IntervalSet) -> list[str]:
    return [
        "*" if (lo, hi) == ALL_PORTS else str(lo) if lo == hi else f"{lo}-{hi}"
        for lo, hi in ports.spans
    ]


# --- addresses -------------------------------------------------------------------------------

V4_SIZE = 2**32
V6_SIZE = 2**128
ADDRESS_SPAN = V4_SIZE + V6_SIZE  # IPv4 at [0, 2**32), IPv6 after it
V4 = IntervalSet(((0, V4_SIZE - 1),))
V6 = IntervalSet(((V4_SIZE, ADDRESS_SPAN - 1),))

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


def is_address_like(text: str) -> bool:
    return (
        bool(_ADDRESS_LIKE.match(text))
        and any(c.isdigit() for c in text)
        and ("." in text or ":" in text)
    )


def parse_address_range(text: str, where: str) -> IntervalSet:
    """``10.0.0.0/24``, ``10.0.0.4``, ``2001:db8::/32`` or ``10.0.0.1-10.0.0.9`` as a span of the
    combined address line; anything address-like that does not parse is malformed."""
    try:
        return address_range(text.strip().lower())
    except ValueError:
        raise MalformedResource(f"{where} is {text!r}, not an address, range or tag") from None


@lru_cache(maxsize=4096)
def address_range(text: str) -> IntervalSet:
    if "-" in text:
        first, _, last = text.partition("-")
        lo = ipaddress.ip_address(first.strip())
        hi = ipaddress.ip_address(last.strip())
        if lo.version != hi.version:
            raise ValueError("mixed address families")
        a, b = sorted((_address_point(lo), _address_point(hi)))
        return IntervalSet(((a, b),))
    return IntervalSet((_network_span(ipaddress.ip_network(text, strict=False)),))


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


def listed_cidrs(addresses: IntervalSet, limit: int = _LISTED) -> list[str]:
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


# --- boxes -----------------------------------------------------------------------------------

# A box's dimensions, in the order pieces are split along.
Box = tuple[IntervalSet, IntervalSet, IntervalSet, IntervalSet, IntervalSet]
PROTOCOL, SOURCE, DESTINATION, DESTINATION_PORT, SOURCE_PORT = range(5)


def as_box(dims: Sequence[IntervalSet]) -> Box:
    return (dims[0], dims[1], dims[2], dims[3], dims[4])


def intersect(a: Box, b: Box) -> Box | None:
    out = [x & y for x, y in zip(a, b, strict=True)]
    return None if any(not d for d in out) else as_box(out)


Bounds = tuple[Span, ...]


def box_bounds(box: Box) -> Bounds:
    """The smallest and largest value of each dimension (empty dimension: an empty span)."""
    return tuple((d.spans[0][0], d.spans[-1][1]) if d.spans else (1, 0) for d in box)


def overlap(a: Bounds, b: Bounds) -> bool:
    return all(x[0] <= y[1] and y[0] <= x[1] for x, y in zip(a, b, strict=True))


def subtract(a: Box, b: Box) -> list[Box]:
    """``a`` minus ``b`` as disjoint boxes."""
    common = intersect(a, b)
    if common is None:
        return [a]
    out: list[Box] = []
    for dim in range(5):
        rest = a[dim] - b[dim]
        if rest:
            out.append(as_box([*common[:dim], rest, *a[dim + 1 :]]))
    return out
