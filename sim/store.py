"""The simulated tenant's documents, indexed the ways ARM lists them.

Stored documents are never mutated in place: a write stores a new dict, so a reader may
serialize a document it got without holding the lock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sim.ids import Target


@dataclass(slots=True)
class Entry:
    doc: dict[str, Any]
    target: Target
    etag: str
    _body: bytes | None = None

    @property
    def body(self) -> bytes:
        if self._body is None:
            self._body = json.dumps(self.doc, ensure_ascii=False).encode("utf-8")
        return self._body


def _sub_key(target: Target) -> str:
    return (target.subscription or "").lower()


def _rg_key(target: Target) -> str:
    return (target.resource_group or "").lower()


class Store:
    """Documents by case-insensitive id, with list indexes by parent, subscription, group, type."""

    def __init__(self) -> None:
        self.docs: dict[str, Entry] = {}
        self.by_parent: dict[tuple[str, str], dict[str, None]] = {}
        self.by_sub: dict[tuple[str, str], dict[str, None]] = {}
        self.by_rg: dict[tuple[str, str, str], dict[str, None]] = {}
        self.by_type: dict[str, dict[str, None]] = {}
        self.generic_rg: dict[tuple[str, str], dict[str, None]] = {}
        self.generic_sub: dict[str, dict[str, None]] = {}
        self.all_in_sub: dict[str, dict[str, None]] = {}

    def __len__(self) -> int:
        return len(self.docs)

    def get(self, doc_key: str) -> Entry | None:
        return self.docs.get(doc_key)

    def _indexes(self, target: Target, tracked: bool = False) -> list[dict[str, None]]:
        """The indexes a document belongs to. ``tracked``: it has a location, so a nested one
        (a SQL database, a FHIR service) is listed by ``/resources`` as ARM lists it."""
        t = target.type_key
        sub = _sub_key(target)
        parent = target.parent_key
        out = [
            self.by_parent.setdefault((parent, t), {}),
            self.by_type.setdefault(t, {}),
        ]
        if sub:
            out.append(self.by_sub.setdefault((sub, t), {}))
            out.append(self.all_in_sub.setdefault(sub, {}))
            if target.resource_group and target.kind == "resource":
                out.append(self.by_rg.setdefault((sub, _rg_key(target), t), {}))
        if target.generic_member or (tracked and target.generic_nested):
            out.append(self.generic_rg.setdefault((sub, _rg_key(target)), {}))
            out.append(self.generic_sub.setdefault(sub, {}))
        return out

    def put(self, doc: dict[str, Any], target: Target, etag: str) -> Entry:
        k = target.key
        entry = Entry(doc, target, etag)
        if k not in self.docs:
            for index in self._indexes(target, tracked=bool(doc.get("location"))):
                index[k] = None
        else:
            entry.target = self.docs[k].target
        self.docs[k] = entry
        return entry

    def delete(self, doc_key: str) -> Entry | None:
        entry = self.docs.pop(doc_key, None)
        if entry is not None:
            for index in self._indexes(entry.target, tracked=True):
                index.pop(doc_key, None)
        return entry

    def descendants(self, doc_key: str, subscription: str | None) -> list[str]:
        """Keys of documents under ``doc_key`` (children, extensions, resources of a group)."""
        prefix = doc_key + "/"
        pool = self.all_in_sub.get((subscription or "").lower(), {}) if subscription else self.docs
        return [k for k in pool if k.startswith(prefix)]

    def keys(self, index: dict[Any, dict[str, None]], at: Any) -> list[str]:
        return list(index.get(at, {}))
