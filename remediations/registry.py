"""The remediation decorator, its registry (validated at import) and the plan it produces.

A remediation is the safe, automatic fix of one or more checks. It is declared with
:func:`remediation` on a pure *decide* function ``(Snapshot, RemediationOptions) -> Change | None``
that says which JSON paths must take which values (or None when the resource already complies),
plus a pure *writes_for* function that turns "these paths must hold these values" into ARM writes
against the snapshot's current documents. :meth:`Remediation.plan` combines both: the writes, the
old values, and the inverse writes that put the old values back. Nothing here does I/O; the only
code that writes is :mod:`shared.remediation` through :mod:`shared.arm_writer`.

JSON paths name values in a Snapshot: ``properties.minimumTlsVersion`` is in the resource body,
``related.diagnostic_settings[name=phiguard-audit]`` is an item of a related document. A
``[name=X]`` selector picks the list item whose ``name`` is X (case-insensitive, as ARM names
are); declared paths may use ``[*]`` for "any item". A declared path covers everything under it.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from checks.registry import RegistryError
from shared.kernel.findings import Status
from shared.kernel.related import related_key_for
from shared.kernel.resource_id import ResourceIdError, normalize, parent, parse
from shared.kernel.snapshot import MISSING, Snapshot

if TYPE_CHECKING:
    from checks.registry import Check

Mode = Literal["off", "dry-run", "enforce"]
MODES: tuple[Mode, ...] = ("off", "dry-run", "enforce")
Method = Literal["PUT", "PATCH", "DELETE"]
NsgStrategy = Literal["deny", "restrict"]

SERVICES = ("network", "monitoring", "storage")

_ID_RE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$")
_TYPE_RE = re.compile(r"^[a-z0-9.]+/[a-z0-9./]+$")
_ACTION_RE = re.compile(r"^Microsoft\.[A-Za-z]+(/[A-Za-z]+)+/(write|delete|action)$")


class PlanError(ValueError):
    """A remediation cannot be planned for this resource (configuration or resource shape); the
    message says why. The resource is left untouched and the reason is recorded."""


# --- JSON paths -------------------------------------------------------------------------------

Token = tuple[str, Any]  # ("key", name) | ("index", n) | ("any", None) | ("name", value)


def parse_path(path: str) -> tuple[Token, ...]:
    """``a.b[name=x].c[0]`` → tokens; raises ValueError on anything else."""
    tokens: list[Token] = []
    i, n = 0, len(path)
    expect_key = True
    while i < n:
        ch = path[i]
        if ch == "[":
            if path.startswith("[name=", i):
                value, end = _selector_value(path, i + len("[name="))
                if not value:
                    raise ValueError(f"bad selector [name=] in {path!r}")
                tokens.append(("name", value))
                i = end + 1
                expect_key = False
                continue
            end = path.find("]", i)
            if end < 0:
                raise ValueError(f"unclosed '[' in {path!r}")
            inner = path[i + 1 : end]
            if inner == "*":
                tokens.append(("any", None))
            elif inner.isdigit():
                tokens.append(("index", int(inner)))
            elif inner.startswith("name=") and len(inner) > 5:
                tokens.append(("name", inner[5:]))
            else:
                raise ValueError(f"bad selector [{inner}] in {path!r}")
            i = end + 1
            expect_key = False
        elif ch == ".":
            if expect_key:
                raise ValueError(f"empty name in {path!r}")
            i += 1
            expect_key = True
        else:
            match = re.compile(r"[^.\[\]]+").match(path, i)
            if match is None or not expect_key:
                raise ValueError(f"bad path {path!r} at {i}")
            tokens.append(("key", match.group(0)))
            i = match.end()
            expect_key = False
    if not tokens or expect_key:
        raise ValueError(f"bad path {path!r}")
    return tuple(tokens)


def _selector_value(path: str, start: int) -> tuple[str, int]:
    """The name of a ``[name=...]`` selector from ``start``, and the index of its closing
    ``]``. Inside it, a backslash escapes the next character (a bracket, or itself): ARM names may
    hold brackets, and a name chosen by whoever created the resource must not end a selector."""
    out: list[str] = []
    i = start
    while i < len(path):
        ch = path[i]
        if ch == "\\" and i + 1 < len(path):
            out.append(path[i + 1])
            i += 2
            continue
        if ch == "]":
            return "".join(out), i
        out.append(ch)
        i += 1
    raise ValueError(f"unclosed '[' in {path!r}")


def name_selector(name: str) -> str:
    """``[name=<name>]`` with the name escaped for :func:`parse_path`."""
    return "[name=" + name.replace("\\", "\\\\").replace("]", "\\]") + "]"


def format_path(tokens: Iterable[Token]) -> str:
    out = ""
    for kind, value in tokens:
        if kind == "key":
            out += ("." if out else "") + str(value)
        elif kind == "index":
            out += f"[{value}]"
        elif kind == "name":
            out += name_selector(str(value))
        else:
            out += "[*]"
    return out


def _named(items: list[Any], name: str) -> int | None:
    wanted = name.lower()
    for index, item in enumerate(items):
        if isinstance(item, Mapping) and str(item.get("name", "")).lower() == wanted:
            return index
    return None


def _get(document: Any, tokens: tuple[Token, ...]) -> Any:
    current = document
    for kind, value in tokens:
        if kind == "key":
            if not isinstance(current, Mapping) or value not in current:
                return MISSING
            current = current[value]
        elif kind == "index":
            if not isinstance(current, list) or value >= len(current):
                return MISSING
            current = current[value]
        elif kind == "name":
            if not isinstance(current, list):
                return MISSING
            index = _named(current, value)
            if index is None:
                return MISSING
            current = current[index]
        else:
            raise ValueError("a concrete path has no [*]")
    return current


def _set(document: Any, tokens: tuple[Token, ...], value: Any) -> None:
    """Sets (``value`` not None) or removes (None) the value at a concrete path, in place."""
    *head, (kind, last) = tokens
    current = document
    for index, (k, v) in enumerate(head):
        nxt = tokens[index + 1][0]
        if k == "key":
            if not isinstance(current.get(v), dict | list):
                if value is None:
                    return
                current[v] = [] if nxt in ("index", "name") else {}
            current = current[v]
        elif k == "name":
            at = _named(current, v)
            if at is None:
                if value is None:
                    return
                current.append({"name": v})
                at = len(current) - 1
            current = current[at]
        elif k == "index":
            if v >= len(current):
                raise ValueError(f"index {v} out of range in {format_path(tokens)}")
            current = current[v]
        else:
            raise ValueError("a concrete path has no [*]")
    if kind == "key":
        if value is None:
            current.pop(last, None)
        else:
            current[last] = copy.deepcopy(value)
    elif kind == "name":
        at = _named(current, last)
        if value is None:
            if at is not None:
                del current[at]
        elif at is None:
            current.append(copy.deepcopy(value))
        else:
            current[at] = copy.deepcopy(value)
    elif kind == "index":
        if value is None:
            del current[last]
        else:
            current[last] = copy.deepcopy(value)
    else:
        raise ValueError("a concrete path has no [*]")


def _split_root(path: str) -> tuple[str, tuple[Token, ...]]:
    tokens = parse_path(path)
    if tokens[0] == ("key", "related"):
        if len(tokens) < 2 or tokens[1][0] != "key":
            raise ValueError(f"{path!r}: 'related' must be followed by a document key")
        return "related", tokens[1:]
    return "resource", tokens


def value_at(snapshot: Snapshot, path: str) -> Any:
    """The value at a concrete path of a snapshot; None when absent."""
    root, tokens = _split_root(path)
    document: Any = snapshot.related if root == "related" else snapshot.resource
    if root == "related" and tokens[0][1] in snapshot.related:
        value = snapshot.related[tokens[0][1]]
        if isinstance(value, Mapping) and "value" in value and len(tokens) > 1:
            document = {tokens[0][1]: value["value"]}
    found = _get(document, tokens)
    return None if found is MISSING else copy.deepcopy(found)


def document_value(document: Any, path: str) -> Any:
    """The value at a concrete path of any JSON document; None when absent."""
    found = _get(document, parse_path(path))
    return None if found is MISSING else found


def with_values(snapshot: Snapshot, values: Mapping[str, Any]) -> Snapshot:
    """A copy of ``snapshot`` with each path set to its value (None removes it)."""
    resource = copy.deepcopy(dict(snapshot.resource))
    related = copy.deepcopy(dict(snapshot.related))
    for key, value in list(related.items()):
        if isinstance(value, Mapping) and "value" in value:
            related[key] = list(value["value"])
    for path, value in values.items():
        root, tokens = _split_root(path)
        _set(related if root == "related" else resource, tokens, value)
    return replace(snapshot, resource=resource, related=related)


def json_diff(before: Any, after: Any, prefix: tuple[Token, ...] = ()) -> list[str]:
    """Concrete paths whose values differ. Lists of named objects are compared by name."""
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        out: list[str] = []
        for key in sorted(set(before) | set(after), key=str):
            if key not in before or key not in after:
                out.append(format_path((*prefix, ("key", key))))
            else:
                out += json_diff(before[key], after[key], (*prefix, ("key", key)))
        return out
    if isinstance(before, list) and isinstance(after, list):
        named = all(isinstance(i, Mapping) and isinstance(i.get("name"), str) for i in before)
        named = named and all(
            isinstance(i, Mapping) and isinstance(i.get("name"), str) for i in after
        )
        if named:
            old = {str(i["name"]).lower(): i for i in before}
            new = {str(i["name"]).lower(): i for i in after}
            out = []
            for name in sorted(set(old) | set(new)):
                shown = str((old.get(name) or new[name])["name"])
                token: Token = ("name", shown)
                if name not in old or name not in new:
                    out.append(format_path((*prefix, token)))
                else:
                    out += json_diff(old[name], new[name], (*prefix, token))
            return out
        if len(before) != len(after):
            return [format_path(prefix)]
        out = []
        for index, (a, b) in enumerate(zip(before, after, strict=True)):
            out += json_diff(a, b, (*prefix, ("index", index)))
        return out
    return [] if before == after else [format_path(prefix)]


def snapshot_diff(before: Snapshot, after: Snapshot) -> list[str]:
    """Concrete paths (resource and ``related.*``) that differ between two snapshots."""
    return json_diff(dict(before.resource), dict(after.resource)) + json_diff(
        _plain_related(before), _plain_related(after), (("key", "related"),)
    )


def _plain_related(snapshot: Snapshot) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in snapshot.related.items():
        out[key] = value["value"] if isinstance(value, Mapping) and "value" in value else value
    return out


def covers(pattern: str, path: str) -> bool:
    """Whether a declared path (with ``[*]``) covers a concrete path (or a parent of it)."""
    want = parse_path(pattern)
    have = parse_path(path)
    if len(have) < len(want):
        return False
    for (pk, pv), (hk, hv) in zip(want, have, strict=False):
        if pk == "any":
            if hk not in ("index", "name", "any"):
                return False
        elif pk != hk:
            return False
        elif pk == "name":
            if str(pv).lower() != str(hv).lower():
                return False
        elif pv != hv:
            return False
    return True


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


# --- writes and plans -------------------------------------------------------------------------


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


@dataclass(frozen=True)
class RemediationOptions:
    """What the customer configures for the fixes (the application builds it from its settings:
    ``shared.remediation.remediation_options``)."""

    admin_cidrs: tuple[str, ...] = ()
    nsg_strategy: NsgStrategy = "deny"
    workspace_id: str | None = None
    archive_storage_id: str | None = None


DecideFunc = Callable[[Snapshot, RemediationOptions], Change | None]
WritesFunc = Callable[[Snapshot, Mapping[str, Any]], list[Write]]


@dataclass(frozen=True)
class Remediation:
    id: str
    title: str
    fixes: tuple[str, ...]
    resource_types: tuple[str, ...]
    writes: tuple[str, ...]  # declared JSON paths, [*] allowed
    reversible: bool
    disruptive: str
    rbac_actions: tuple[str, ...]
    default_mode: Mode
    phi_only: bool
    service: str
    decide: DecideFunc = field(repr=False, compare=False)
    writes_for: WritesFunc = field(repr=False, compare=False)

    @property
    def description(self) -> str:
        return " ".join((self.decide.__doc__ or "").split())

    def declares(self, path: str) -> bool:
        return any(covers(pattern, path) for pattern in self.writes)

    def applies_to(self, resource_type: str) -> bool:
        return resource_type.lower() in self.resource_types

    def plan(self, snapshot: Snapshot, options: RemediationOptions | None = None) -> Plan | None:
        """The plan for ``snapshot``, or None when it already complies. Pure."""
        options = options or RemediationOptions()
        change = self.decide(snapshot, options)
        if change is None:
            return None
        undeclared = [p for p in change.after if not self.declares(p)]
        if undeclared:
            raise PlanError(f"{self.id} would write undeclared paths: {', '.join(undeclared)}")
        before = {p: value_at(snapshot, p) for p in change.after}
        after = {p: copy.deepcopy(v) for p, v in change.after.items() if not same(before[p], v)}
        if not after:
            return None
        before = {p: before[p] for p in after}
        writes = tuple(self.writes_for(snapshot, after))
        inverse = tuple(self.writes_for(with_values(snapshot, after), before))
        return Plan(
            remediation_id=self.id,
            resource_id=snapshot.id,
            summary=change.summary,
            writes=writes,
            inverse=inverse if self.reversible else (),
            before=before,
            after=after,
        )

    def restore(self, snapshot: Snapshot, values: Mapping[str, Any]) -> list[Write]:
        """Writes that give ``values`` to their paths on the current ``snapshot`` (rollback)."""
        return self.writes_for(snapshot, values)

    def metadata(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "service": self.service,
            "fixes": list(self.fixes),
            "resource_types": list(self.resource_types),
            "writes": list(self.writes),
            "reversible": self.reversible,
            "disruptive": self.disruptive,
            "rbac_actions": list(self.rbac_actions),
            "default_mode": self.default_mode,
            "phi_only": self.phi_only,
            "description": self.description,
        }


_REGISTERED: list[Remediation] = []


def remediation(
    *,
    id: str,
    title: str,
    fixes: Iterable[str],
    resource_types: Iterable[str],
    writes: Iterable[str],
    reversible: bool,
    disruptive: str,
    rbac_actions: Iterable[str],
    default_mode: Mode,
    writes_for: WritesFunc,
    phi_only: bool = True,
) -> Callable[[DecideFunc], DecideFunc]:
    """Registers a remediation; the decorated decide function's name must equal ``id``."""

    def decorate(func: DecideFunc) -> DecideFunc:
        _REGISTERED.append(
            Remediation(
                id=id,
                title=title,
                fixes=tuple(fixes),
                resource_types=tuple(t.lower() for t in resource_types),
                writes=tuple(writes),
                reversible=reversible,
                disruptive=disruptive,
                rbac_actions=tuple(rbac_actions),
                default_mode=default_mode,
                phi_only=phi_only,
                service=func.__module__.rsplit(".", 1)[-1],
                decide=func,
                writes_for=writes_for,
            )
        )
        return func

    return decorate


def registered() -> list[Remediation]:
    return list(_REGISTERED)


def _problems(item: Remediation, catalog: Mapping[str, Check], seen: set[str]) -> list[str]:
    problems: list[str] = []
    if item.id in seen:
        problems.append("duplicate id")
    if item.id != item.decide.__name__:
        problems.append(f"id differs from the function name {item.decide.__name__!r}")
    if not _ID_RE.match(item.id):
        problems.append("id is not snake_case")
    if item.service not in SERVICES or not item.id.startswith(item.service + "_"):
        problems.append(f"id must start with its module's service name ({item.service}_)")
    if not item.title or len(item.title) > 150 or item.title.endswith("."):
        problems.append("title must be 1-150 characters, no period")
    if not item.fixes:
        problems.append("fixes no check")
    fixed_types: set[str] = set()
    for check_id in item.fixes:
        check = catalog.get(check_id)
        if check is None:
            problems.append(f"fixes unknown check {check_id!r}")
            continue
        fixed_types.update(check.resource_types)
        if check.remediation != item.id:
            problems.append(f"check {check_id!r} names remediation {check.remediation!r}")
    if not item.resource_types:
        problems.append("no resource types")
    for rtype in item.resource_types:
        if not _TYPE_RE.match(rtype):
            problems.append(f"resource type {rtype!r} is not a lowercase ARM type")
        elif fixed_types and rtype not in fixed_types:
            problems.append(f"unknown resource type {rtype!r}: no check it fixes covers it")
    if not item.writes:
        problems.append("declares no JSON paths it writes")
    for pattern in item.writes:
        try:
            parse_path(pattern)
        except ValueError as exc:
            problems.append(f"bad declared path: {exc}")
    if item.default_mode not in MODES:
        problems.append(f"default_mode {item.default_mode!r} is not one of {', '.join(MODES)}")
    if not item.disruptive.strip():
        problems.append("does not say what it may disrupt")
    if not item.rbac_actions:
        problems.append("declares no RBAC actions")
    problems += [f"bad RBAC action {a!r}" for a in item.rbac_actions if not _ACTION_RE.match(a)]
    if not (item.decide.__doc__ or "").strip():
        problems.append("no docstring saying what it changes and why it is safe")
    return problems


def validate(items: Iterable[Remediation], catalog: Mapping[str, Check]) -> dict[str, Remediation]:
    """The registry keyed by id; raises RegistryError listing every broken rule, including
    checks that name a remediation that does not exist or does not say it fixes them."""
    registry: dict[str, Remediation] = {}
    errors: list[str] = []
    for item in items:
        errors += [f"{item.id}: {p}" for p in _problems(item, catalog, set(registry))]
        registry.setdefault(item.id, item)
    for check in catalog.values():
        if check.remediation is None:
            continue
        named = registry.get(check.remediation)
        if named is None:
            errors.append(f"check {check.id}: names unknown remediation {check.remediation!r}")
        elif check.id not in named.fixes:
            errors.append(f"check {check.id}: {named.id} does not list it in fixes")
    if errors:
        raise RegistryError("invalid remediation registry:\n  " + "\n  ".join(errors))
    return registry


# --- helpers for remediation modules ----------------------------------------------------------


def check_statuses(check_ids: Iterable[str], snapshot: Snapshot) -> dict[str, Status]:
    """Statuses of the given checks on a snapshot, as the engine would give them (checks whose
    related documents are missing, or PHI-only checks on non-PHI resources, are left out)."""
    from checks import CATALOG
    from shared.kernel.phi_scope import PhiScope

    phi = snapshot.phi if snapshot.phi is not None else PhiScope().is_phi(snapshot)
    rtype = snapshot.type
    out: dict[str, Status] = {}
    for check_id in check_ids:
        item = CATALOG[check_id]
        if rtype not in item.resource_types or (item.phi_only and not phi):
            continue
        if any(not snapshot.has(n) for n in item.needs):
            continue
        out[check_id] = item.run(snapshot).status
    return out


def is_phi(snapshot: Snapshot) -> bool:
    """The snapshot's PHI scope: as resolved by the caller, else the default tag rules."""
    from shared.kernel.phi_scope import PhiScope

    return snapshot.phi if snapshot.phi is not None else PhiScope().is_phi(snapshot)


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
                at = _named(items, name)
                if write.method == "DELETE":
                    if at is not None:
                        del items[at]
                    continue
                doc = copy.deepcopy(items[at]) if at is not None else {"name": name}
                _apply_to_document(doc, write)
                if at is None:
                    items.append(doc)
                else:
                    items[at] = doc
                continue
        if target_type == "microsoft.insights/diagnosticsettings" and up is not None:
            scope_type = parse(up).type if normalize(up) != own else snapshot.type
            key = related_key_for("microsoft.insights/diagnosticsettings", scope_type)
            scope_ok = normalize(up) == own or normalize(up) == own + "/blobservices/default"
            if key is None or not scope_ok:
                raise ValueError(f"diagnostic setting outside the snapshot: {write.target_id}")
            items = related.setdefault(key, [])
            name = write.target_id.rstrip("/").rsplit("/", 1)[-1]
            at = _named(items, name)
            if write.method == "DELETE":
                if at is not None:
                    del items[at]
                continue
            doc = (
                copy.deepcopy(items[at])
                if at is not None
                else {
                    "id": write.target_id,
                    "name": name,
                    "type": "Microsoft.Insights/diagnosticSettings",
                }
            )
            _apply_to_document(doc, write)
            if at is None:
                items.append(doc)
            else:
                items[at] = doc
            continue
        raise ValueError(f"write target outside the snapshot: {write.target_id}")
    return replace(snapshot, resource=resource, related=related)


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
