"""What a remediation produces: the ARM writes of a fix, the plan (before → after per path, as a
readable diff) and its inverse, and what writes do to a snapshot when applied in memory.

A decide function says which paths must take which values (a :class:`Change`); :func:`make_plan`
keeps the paths that do not hold their value yet and asks the remediation's *writes_for* function
for the writes that give them (and, against the fixed document, for the inverse writes that put
the old values back). Pure: the only code that writes is :mod:`shared.remediation` through
:mod:`shared.arm.writer`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from remediations.paths import named_index, value_at, with_values
from shared.kernel.errors import PhiguardError
from shared.kernel.related import related_key_for
from shared.kernel.resource_id import ResourceIdError, normalize, parent, parse
from shared.kernel.snapshot import Snapshot

Method = Literal["PUT", "PATCH", "DELETE"]


class PlanError(PhiguardError, ValueError):
    """A remediation cannot be planned for this resource (configuration or resource shape); the
    message says why. The resource is left untouched and the reason is recorded."""


@dataclass(frozen=True)
class Write:
    """One ARM write. ``paths`` are the snapshot paths it realizes.

    Concurrency: ``if_match`` is the ETag the plan was made from (ARM answers 412 when the
    document changed since); ``if_none_match`` creates only (412 when it exists); ``expect`` maps
    paths *in the target document* to the values the plan saw, for documents that carry no ETag
    in their body: the writer re-reads the target, compares, and writes with the ETag it got.
    """

    method: Method
    target_id: str
    api_version: str
    body: Mapping[str, Any] | None
    paths: tuple[str, ...]
    if_match: str | None = None
    if_none_match: bool = False
    expect: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "target_id": self.target_id,
            "api_version": self.api_version,
            "body": self.body,
            "paths": list(self.paths),
            "if_match": self.if_match,
            "if_none_match": self.if_none_match,
            "expect": dict(self.expect),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Write:
        method = str(data["method"]).upper()
        if method not in ("PUT", "PATCH", "DELETE"):
            raise ValueError(f"bad write method {method!r}")
        return cls(
            method=method,  # type: ignore[arg-type]
            target_id=str(data["target_id"]),
            api_version=str(data["api_version"]),
            body=data.get("body"),
            paths=tuple(data.get("paths") or ()),
            if_match=data.get("if_match"),
            if_none_match=bool(data.get("if_none_match", False)),
            expect=dict(data.get("expect") or {}),
        )


@dataclass(frozen=True)
class Change:
    """What a decide function returns: a one-line summary and the values the paths must take."""

    summary: str
    after: Mapping[str, Any]


@dataclass(frozen=True)
class Plan:
    """The fix of one resource: the writes, what they change (before → after per path) and the
    inverse writes that restore the old values."""

    remediation_id: str
    resource_id: str
    summary: str
    writes: tuple[Write, ...]
    inverse: tuple[Write, ...]
    before: Mapping[str, Any]
    after: Mapping[str, Any]

    def diff_lines(self) -> list[str]:
        """A readable diff: ``- path: old`` / ``+ path: new`` per changed path."""
        lines: list[str] = []
        for path in self.after:
            lines.append(f"- {path}: {_show(self.before.get(path))}")
            lines.append(f"+ {path}: {_show(self.after[path])}")
        return lines

    def to_json(self) -> dict[str, Any]:
        return {
            "remediation_id": self.remediation_id,
            "resource_id": self.resource_id,
            "summary": self.summary,
            "writes": [w.to_json() for w in self.writes],
            "inverse": [w.to_json() for w in self.inverse],
            "before": dict(self.before),
            "after": dict(self.after),
        }


def _show(value: Any) -> str:
    if value is None:
        return "(absent)"
    return json.dumps(value, sort_keys=True, separators=(", ", ": "))


def same(current: Any, expected: Any) -> bool:
    """Whether ``current`` holds ``expected``: every key of an expected object is equal in the
    current one (extra keys ARM adds, like ``retentionPolicy`` or ``systemData``, are ignored);
    None expects absent or null; resource ids compare case-insensitively."""
    if expected is None:
        return current is None
    if isinstance(expected, Mapping):
        if not isinstance(current, Mapping):
            return False
        return all(same(current.get(k), v) for k, v in expected.items())
    if isinstance(expected, list):
        if not isinstance(current, list) or len(current) != len(expected):
            return False
        return all(same(c, e) for c, e in zip(current, expected, strict=True))
    if isinstance(expected, str) and isinstance(current, str) and expected.startswith("/"):
        return normalize(expected) == normalize(current)
    if isinstance(expected, bool) or isinstance(current, bool):
        return current is expected
    return bool(current == expected)


WritesFunc = Callable[[Snapshot, Mapping[str, Any]], list[Write]]


def make_plan(
    remediation_id: str,
    snapshot: Snapshot,
    change: Change,
    writes_for: WritesFunc,
    *,
    reversible: bool,
) -> Plan | None:
    """The plan that gives ``change.after``'s values to their paths on ``snapshot``, or None when
    every path already holds its value (:func:`same`). The inverse writes restore the old values
    against the document as the plan leaves it (none for an irreversible remediation)."""
    before = {p: value_at(snapshot, p) for p in change.after}
    after = {p: copy.deepcopy(v) for p, v in change.after.items() if not same(before[p], v)}
    if not after:
        return None
    before = {p: before[p] for p in after}
    writes = tuple(writes_for(snapshot, after))
    inverse = tuple(writes_for(with_values(snapshot, after), before))
    return Plan(
        remediation_id=remediation_id,
        resource_id=snapshot.id,
        summary=change.summary,
        writes=writes,
        inverse=inverse if reversible else (),
        before=before,
        after=after,
    )


# --- writes applied in memory (lint, previews) ------------------------------------------------

_READ_ONLY = frozenset({"provisioningState"})
EMBEDDED: dict[str, tuple[str, str]] = {
    # parent type → (child segment, embedded list property)
    "microsoft.network/networksecuritygroups": ("securityrules", "securityRules"),
}


def apply_writes(snapshot: Snapshot, writes: Iterable[Write]) -> Snapshot:
    """What ARM would hold after ``writes``, computed in memory from ``snapshot``: a PATCH
    merges (RFC 7386), a PUT replaces (keeping read-only properties), a DELETE removes. Targets
    may be the resource, an embedded child (an NSG rule) or a diagnostic setting of the resource
    or of its blob service; anything else raises ValueError."""
    resource: dict[str, Any] = copy.deepcopy(dict(snapshot.resource))
    related: dict[str, Any] = {
        k: list(v["value"]) if isinstance(v, Mapping) and "value" in v else copy.deepcopy(v)
        for k, v in snapshot.related.items()
    }
    own = normalize(snapshot.id)
    for write in writes:
        target = normalize(write.target_id)
        if target == own:
            _apply_to_document(resource, write)
            continue
        up = parent(write.target_id)
        try:
            target_type = parse(write.target_id).type
        except ResourceIdError:
            raise ValueError(f"write target is not a resource id: {write.target_id}") from None
        if up is not None and normalize(up) == own and snapshot.type in EMBEDDED:
            segment, prop = EMBEDDED[snapshot.type]
            if target_type.rsplit("/", 1)[-1] == segment:
                name = write.target_id.rstrip("/").rsplit("/", 1)[-1]
                props = resource.setdefault("properties", {})
                items = props.setdefault(prop, [])
                _write_named(items, name, write, {"name": name})
                continue
        if target_type == "microsoft.insights/diagnosticsettings" and up is not None:
            scope_type = parse(up).type if normalize(up) != own else snapshot.type
            key = related_key_for("microsoft.insights/diagnosticsettings", scope_type)
            scope_ok = normalize(up) == own or normalize(up) == own + "/blobservices/default"
            if key is None or not scope_ok:
                raise ValueError(f"diagnostic setting outside the snapshot: {write.target_id}")
            items = related.setdefault(key, [])
            name = write.target_id.rstrip("/").rsplit("/", 1)[-1]
            blank = {
                "id": write.target_id,
                "name": name,
                "type": "Microsoft.Insights/diagnosticSettings",
            }
            _write_named(items, name, write, blank)
            continue
        raise ValueError(f"write target outside the snapshot: {write.target_id}")
    return replace(snapshot, resource=resource, related=related)


def _write_named(items: list[Any], name: str, write: Write, blank: dict[str, Any]) -> None:
    """``write`` to the item called ``name`` of a list (an NSG's rules, the diagnostic settings):
    a DELETE removes it; any other write applies to a copy of it, or to ``blank`` (then added)."""
    at = named_index(items, name)
    if write.method == "DELETE":
        if at is not None:
            del items[at]
        return
    doc = copy.deepcopy(items[at]) if at is not None else blank
    _apply_to_document(doc, write)
    if at is None:
        items.append(doc)
    else:
        items[at] = doc


def _apply_to_document(doc: dict[str, Any], write: Write) -> None:
    body = copy.deepcopy(dict(write.body or {}))
    if write.method == "PATCH":
        for key, value in body.items():
            doc[key] = _merge(doc.get(key), value)
        return
    if write.method == "PUT":
        old_props = doc.get("properties")
        kept = {k: v for k, v in doc.items() if k in ("id", "name", "type", "etag")}
        doc.clear()
        doc.update(kept)
        for key, value in body.items():
            if key not in ("id", "name", "type", "etag"):
                doc[key] = value
        if isinstance(old_props, Mapping):
            props = doc.setdefault("properties", {})
            for key in _READ_ONLY:
                if key in old_props and key not in props:
                    props[key] = old_props[key]
        return
    raise ValueError("DELETE of the resource itself is never a remediation")


def _merge(base: Any, patch: Any) -> Any:
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    out = dict(base) if isinstance(base, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge(out.get(key), value)
    return out
