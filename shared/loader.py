"""Reads the documents ``phiguard evaluate`` accepts and turns them into Snapshots.

Accepted, in files or recursively in directories (``*.json``):

* an ARM GET body (an object with a string ``id``);
* a list body ``{"value": [...]}`` and plain JSON arrays of any accepted shape;
* an x-ms-examples file (``responses`` → ``200``/``201`` → ``body``);
* a snapshot file ``{"resource": {...}, "related": {...}, "resource_group": {...}, "phi": bool}``;
* an estate file ``{"snapshots": [snapshot, ...]}``.

Documents that are related documents of another resource in the same input (a diagnostic
setting, ``sites/config/web``, TDE, ...) are attached to that resource instead of being evaluated
on their own; a resource group attaches its tags to the resources in it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.kernel.errors import PhiguardError
from shared.kernel.related import (
    RELATED,
    flow_log_targets,
    related_key_for,
    subscription_lists,
)
from shared.kernel.resource_id import ResourceIdError, normalize, parent, parse, resource_type_of
from shared.kernel.snapshot import MalformedResource, Snapshot


class InputError(PhiguardError, ValueError):
    """Bad input; the message names the file and the JSON path."""

    def __init__(self, source: str, path: str, message: str) -> None:
        super().__init__(f"{source}: {path}: {message}")
        self.source = source
        self.path = path
        self.message = message


@dataclass
class _Pending:
    resource: dict[str, Any]
    source: str
    where: str
    related: dict[str, Any] = field(default_factory=dict)
    resource_group: Mapping[str, Any] | None = None
    phi: bool | None = None
    explicit: bool = False  # came from a snapshot file: its related documents are complete


def iter_json_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*.json") if p.is_file())
        elif path.is_file():
            yield path
        else:
            raise InputError(str(path), "$", "no such file or directory")


# ARM documents nest a few tens of levels at most; anything deeper is refused before any code
# walks it recursively (the JSON parser itself gives up near Python's recursion limit).
MAX_DEPTH = 128


def read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(str(path), "$", f"cannot read: {exc}") from None
    return parse_json(text, str(path))


def parse_json(text: str | bytes, source: str, where: str = "$") -> Any:
    """JSON text parsed, or an :class:`InputError` naming ``source``: invalid JSON, or nested
    deeper than :data:`MAX_DEPTH` (never a ``RecursionError``)."""
    try:
        document = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise InputError(
            source, where, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except ValueError as exc:  # NaN / Infinity, or an integer of more than 4,300 digits
        raise InputError(source, where, f"invalid JSON: {str(exc).split(';')[0]}") from None
    except RecursionError:
        raise InputError(
            source, where, f"nested too deeply (more than {MAX_DEPTH} levels)"
        ) from None
    too_deep = deeper_than(document, MAX_DEPTH)
    if too_deep is not None:
        raise InputError(
            source, where + too_deep[1:], f"nested too deeply (more than {MAX_DEPTH} levels)"
        )
    return document


def _refuse_constant(name: str) -> Any:
    # Python's parser accepts NaN and Infinity; JSON (RFC 8259) has neither, and re-emitting
    # them would make phiguard's own JSON output invalid.
    raise ValueError(f"{name} is not a JSON value")


def deeper_than(document: Any, limit: int) -> str | None:
    """The JSON path of the first value nested more than ``limit`` levels deep, else None.
    Iterative: it must not itself recurse on hostile input."""
    stack: list[tuple[Any, str, int]] = [(document, "$", 0)]
    while stack:
        value, where, depth = stack.pop()
        if isinstance(value, dict | list) and depth >= limit:
            return where
        if isinstance(value, dict):
            stack.extend((v, f"{where}.{k}", depth + 1) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value))
    return None


def snapshot_from_json(obj: Any, source: str = "<input>", where: str = "$") -> Snapshot:
    """A Snapshot from a snapshot object (``{"resource": ..., "related": ...}``)."""
    pending = _snapshot_pending(obj, source, where)
    return _to_snapshot(pending)


def load_paths(paths: Iterable[str | Path]) -> list[Snapshot]:
    """Snapshots for every resource in the given files and directories, in input order."""
    collector = _Collector()
    for path in iter_json_files(paths):
        collector.add(read_json(path), str(path), "$")
    return collector.snapshots()


def load_documents(
    documents: Iterable[tuple[Any, str]], *, complete: bool = False
) -> list[Snapshot]:
    """Like :func:`load_paths` for already parsed ``(document, source name)`` pairs.

    ``complete`` says the documents are a whole tenant (an estate): a list-shaped related
    document with no entries is then "there are none" (``[]``), not "not fetched".
    """
    collector = _Collector()
    for doc, source in documents:
        collector.add(doc, source, "$")
    return collector.snapshots(complete=complete)


def _snapshot_pending(obj: Any, source: str, where: str) -> _Pending:
    if not isinstance(obj, Mapping):
        raise InputError(source, where, "a snapshot must be an object")
    resource = obj.get("resource")
    _require_resource(resource, source, f"{where}.resource")
    related = obj.get("related", {})
    if not isinstance(related, Mapping):
        raise InputError(source, f"{where}.related", "must be an object of related documents")
    for key, value in related.items():
        if key not in RELATED:
            raise InputError(
                source,
                f"{where}.related.{key}",
                f"unknown related document (known: {', '.join(sorted(RELATED))})",
            )
        if RELATED[key].is_list and not isinstance(value, list | Mapping):
            raise InputError(source, f"{where}.related.{key}", "must be a list of documents")
    rg = obj.get("resource_group")
    if rg is not None and not isinstance(rg, Mapping):
        raise InputError(source, f"{where}.resource_group", "must be an object")
    phi = obj.get("phi")
    if phi is not None and not isinstance(phi, bool):
        raise InputError(source, f"{where}.phi", "must be true, false or absent")
    assert isinstance(resource, Mapping)
    return _Pending(dict(resource), source, where, dict(related), rg, phi, explicit=True)


def _require_resource(resource: Any, source: str, where: str) -> None:
    if not isinstance(resource, Mapping):
        raise InputError(source, where, "must be an ARM resource object")
    rid = resource.get("id")
    if not isinstance(rid, str):
        raise InputError(source, f"{where}.id", "missing or not a string")
    problem = id_problem(rid)
    if problem is not None:
        raise InputError(source, f"{where}.id", problem)
    try:
        parse(rid)
        resource_type_of(dict(resource))
    except ResourceIdError as exc:
        raise InputError(source, f"{where}.id", str(exc)) from None


def id_problem(resource_id: str) -> str | None:
    """Why ``resource_id`` is not an id ARM would return, for shapes the parser tolerates: an
    empty segment (``//``), a trailing ``/``, surrounding whitespace. Such ids would name one
    resource in several ways (the store keys, the related-document grouping)."""
    if resource_id != resource_id.strip():
        return f"resource id has leading or trailing whitespace: {resource_id!r}"
    if not resource_id.startswith("/"):
        return f"resource id must start with '/': {resource_id!r}"
    if resource_id.endswith("/") and resource_id != "/":
        return f"resource id ends with '/' (an empty last segment): {resource_id!r}"
    if "//" in resource_id:
        return f"resource id has an empty segment ('//'): {resource_id!r}"
    return None


def _to_snapshot(p: _Pending) -> Snapshot:
    try:
        return Snapshot(p.resource, p.related, p.resource_group, p.phi)
    except MalformedResource as exc:
        raise InputError(p.source, p.where, str(exc)) from None


_SUBSCRIPTION_EVIDENCE = frozenset({RELATED["activity_log_alerts"].doc_type})


class _Collector:
    def __init__(self) -> None:
        self.items: list[_Pending] = []

    def add(self, obj: Any, source: str, where: str) -> None:
        if isinstance(obj, list):
            for index, item in enumerate(obj):
                self.add(item, source, f"{where}[{index}]")
            return
        if not isinstance(obj, Mapping):
            raise InputError(source, where, f"expected a JSON object or array, got {_kind(obj)}")
        if "resource" in obj and isinstance(obj.get("resource"), Mapping):
            self.items.append(_snapshot_pending(obj, source, where))
        elif isinstance(obj.get("snapshots"), list):
            for index, item in enumerate(obj["snapshots"]):
                self.items.append(_snapshot_pending(item, source, f"{where}.snapshots[{index}]"))
        elif isinstance(obj.get("responses"), Mapping):
            body, body_where = _example_body(obj["responses"], source, where)
            self.add(body, source, body_where)
        elif "value" in obj and "id" not in obj:
            if not isinstance(obj["value"], list):
                raise InputError(source, f"{where}.value", "a list body's 'value' must be an array")
            self.add(obj["value"], source, f"{where}.value")
        elif "id" in obj:
            _require_resource(obj, source, where)
            self.items.append(_Pending(dict(obj), source, where))
        else:
            raise InputError(
                source,
                where,
                "not an ARM resource (no 'id'), list body ('value'), x-ms-examples file "
                "('responses') or snapshot ('resource')",
            )

    def snapshots(self, complete: bool = False) -> list[Snapshot]:
        by_key = {normalize(p.resource["id"]): p for p in self.items}
        groups = {
            k: p
            for k, p in by_key.items()
            if resource_type_of(p.resource) == "microsoft.resources/resourcegroups"
        }
        flow_logs: dict[str, list[dict[str, Any]]] = {}
        for p in self.items:
            if resource_type_of(p.resource) == RELATED["flow_logs"].doc_type:
                props = p.resource.get("properties")
                target = props.get("targetResourceId") if isinstance(props, Mapping) else None
                if isinstance(target, str):
                    flow_logs.setdefault(normalize(target), []).append(p.resource)
        # Cross-resource reads: documents of a subscription_list type, by subscription.
        by_subscription: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for p in self.items:
            rtype = resource_type_of(p.resource)
            for doc in subscription_lists():
                if doc.doc_type != rtype:
                    continue
                sub = str(parse(p.resource["id"]).subscription or "").lower()
                by_subscription.setdefault((sub, doc.key), []).append(p.resource)
        list_keys = [d.key for d in subscription_lists()]
        standalone: list[_Pending] = []
        for pending in self.items:
            if not self._attach(pending, by_key):
                standalone.append(pending)
        out: list[Snapshot] = []
        for pending in standalone:
            if pending.resource_group is None:
                rg_id = parse(pending.resource["id"]).resource_group_id
                group = groups.get(normalize(rg_id)) if rg_id else None
                if group is not None and group is not pending:
                    pending.resource_group = group.resource
            if complete and not pending.explicit:
                for key, doc in RELATED.items():
                    if doc.is_list and doc.fetch == "child":
                        pending.related.setdefault(key, [])
            found_logs = [
                log
                for target in flow_log_targets(pending.resource)
                for log in flow_logs.get(target, [])
            ]
            if not pending.explicit and (found_logs or complete):
                pending.related.setdefault("flow_logs", found_logs or [])
            if not pending.explicit:
                sub = str(parse(pending.resource["id"]).subscription or "").lower()
                for list_key in list_keys:
                    found = by_subscription.get((sub, list_key))
                    if found or complete:
                        pending.related.setdefault(list_key, found or [])
            out.append(_to_snapshot(pending))
        return out

    @staticmethod
    def _attach(pending: _Pending, by_key: Mapping[str, _Pending]) -> bool:
        doc_type = resource_type_of(pending.resource)
        parent_id = parent(pending.resource["id"])
        if parent_id is None:
            return False
        if doc_type in _SUBSCRIPTION_EVIDENCE:
            # ARM lists these per subscription, wherever their resource group is.
            parent_id = f"/subscriptions/{parse(pending.resource['id']).subscription}"
        parent_item = by_key.get(normalize(parent_id))
        owner_type = resource_type_of(parent_item.resource) if parent_item else None
        if doc_type == "microsoft.insights/diagnosticsettings" and parse_type(parent_id).endswith(
            "/blobservices"
        ):
            # A blob service's settings belong to its storage account, one level further up.
            grand = parent(parent_id)
            parent_item = by_key.get(normalize(grand)) if grand else None
            owner_type = "microsoft.storage/storageaccounts/blobservices"
        name = str(pending.resource["id"]).rstrip("/").rsplit("/", 1)[-1]
        key = related_key_for(doc_type, owner_type, name)
        if key is None or parent_item is None or parent_item.explicit:
            return False
        if not RELATED[key].is_list and not normalize(pending.resource["id"]).endswith(
            normalize(RELATED[key].path)
        ):
            return False  # e.g. sites/x/config/appsettings is not the site's config/web
        if RELATED[key].is_list:
            parent_item.related.setdefault(key, []).append(pending.resource)
        else:
            parent_item.related[key] = pending.resource
        return True


def parse_type(resource_id: str) -> str:
    try:
        return parse(resource_id).type
    except ResourceIdError:
        return ""


def _example_body(responses: Mapping[str, Any], source: str, where: str) -> tuple[Any, str]:
    for code in ("200", "201", *sorted(responses)):
        entry = responses.get(code)
        if code.startswith("2") and isinstance(entry, Mapping) and "body" in entry:
            return entry["body"], f"{where}.responses.{code}.body"
    raise InputError(source, f"{where}.responses", "no 2xx response with a body")


def _kind(obj: Any) -> str:
    return {str: "a string", int: "a number", float: "a number", bool: "a boolean"}.get(
        type(obj), "null" if obj is None else type(obj).__name__
    )
