"""Snapshot: one resource exactly as ARM returned it, plus the related documents its checks need."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from shared.kernel.errors import PhiguardError
from shared.kernel.resource_id import normalize, resource_type_of


class MalformedResource(PhiguardError, ValueError):
    """A document does not have the shape ARM gives it; the message names the JSON path."""


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()

_PATH_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@lru_cache(maxsize=4096)
def _tokens(path: str) -> tuple[str | int, ...]:
    return tuple(int(index) if index else name for name, index in _PATH_TOKEN.findall(path))


def lookup(document: Any, path: str, default: Any = None) -> Any:
    """Value at a dotted path (``properties.networkAcls.defaultAction``, ``rules[0].name``).

    A missing key gives ``default``. A key under something that is not an object (or an index
    into something that is not a list) raises :class:`MalformedResource` naming the path, so a
    check meeting a malformed document yields an ERROR finding instead of a wrong PASS.
    """
    current = document
    walked = "$"
    for token in _tokens(path):
        if current is None:
            return default
        if isinstance(token, int):
            if not isinstance(current, list):
                raise MalformedResource(f"{walked} is {type(current).__name__}, expected a list")
            if token >= len(current):
                return default
            current = current[token]
            walked += f"[{token}]"
        else:
            if type(current) is not dict and not isinstance(current, Mapping):
                raise MalformedResource(f"{walked} is {type(current).__name__}, expected an object")
            if token not in current:
                return default
            current = current[token]
            walked += f".{token}"
    return current


@dataclass(frozen=True)
class Snapshot:
    """What the checks see: no I/O happens behind any of these accessors.

    ``related`` maps keys of :data:`shared.kernel.related.RELATED` to documents; a key that is absent
    means "not fetched" (the check is not assessed), a key present with ``[]`` means "fetched,
    there are none". ``phi`` forces the PHI scope decision when the caller already knows it.
    """

    resource: Mapping[str, Any]
    related: Mapping[str, Any] = field(default_factory=dict)
    resource_group: Mapping[str, Any] | None = None
    phi: bool | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.resource, Mapping):
            raise MalformedResource(f"$ is {type(self.resource).__name__}, expected an object")
        if not isinstance(self.resource.get("id"), str):
            raise MalformedResource("$.id is missing or not a string")

    @property
    def id(self) -> str:
        return str(self.resource["id"])

    @property
    def key(self) -> str:
        return normalize(self.id)

    @property
    def type(self) -> str:
        return resource_type_of(dict(self.resource))

    @property
    def name(self) -> str:
        return str(self.resource.get("name") or self.id.rstrip("/").rsplit("/", 1)[-1])

    @property
    def kind(self) -> str:
        value = self.resource.get("kind")
        return value.lower() if isinstance(value, str) else ""

    @property
    def properties(self) -> Mapping[str, Any]:
        props = self.resource.get("properties")
        if props is None:
            return {}
        if not isinstance(props, Mapping):
            raise MalformedResource(f"$.properties is {type(props).__name__}, expected an object")
        return props

    @property
    def tags(self) -> Mapping[str, Any]:
        tags = self.resource.get("tags")
        return tags if isinstance(tags, Mapping) else {}

    def get(self, path: str, default: Any = None) -> Any:
        """Value at a dotted path in the resource body."""
        return lookup(self.resource, path, default)

    def prop(self, path: str, default: Any = None) -> Any:
        """Value at a dotted path under ``properties``."""
        return lookup(self.resource, f"properties.{path}", default)

    def has(self, key: str) -> bool:
        return key in self.related

    def doc(self, key: str) -> Any:
        """A related document; raises KeyError naming it when it was not fetched."""
        if key not in self.related:
            raise KeyError(f"related document {key!r} is not in the snapshot of {self.id}")
        return self.related[key]

    def docs(self, key: str) -> list[Mapping[str, Any]]:
        """A related document that ARM returns as a list, normalized from ``{"value": [...]}``."""
        value = self.doc(key)
        if isinstance(value, Mapping) and "value" in value:
            value = value["value"]
        if not isinstance(value, list):
            raise MalformedResource(f"related.{key} is {type(value).__name__}, expected a list")
        for index, item in enumerate(value):
            if not isinstance(item, Mapping):
                raise MalformedResource(f"related.{key}[{index}] is not an object")
        return value
