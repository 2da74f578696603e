"""The JSON-path language of the remediations: parsing, printing, reading and writing a value at
a path, and the paths that differ between two documents.

JSON paths name values in a Snapshot: ``properties.minimumTlsVersion`` is in the resource body,
``related.diagnostic_settings[name=phiguard-audit]`` is an item of a related document. A
``[name=X]`` selector picks the list item whose ``name`` is X (case-insensitive, as ARM names
are); declared paths may use ``[*]`` for "any item". A declared path covers everything under it.
Pure: nothing here does I/O.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from shared.kernel.snapshot import MISSING, Snapshot

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


def named_index(items: list[Any], name: str) -> int | None:
    """The index of the item of ``items`` named ``name`` (case-insensitive), else None."""
    wanted = name.lower()
    for index, item in enumerate(items):
        if isinstance(item, Mapping) and str(item.get("name", "")).lower() == wanted:
            return index
    return None


def get_at(document: Any, tokens: tuple[Token, ...]) -> Any:
    """The value at a concrete path of ``document``, or MISSING."""
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
            index = named_index(current, value)
            if index is None:
                return MISSING
            current = current[index]
        else:
            raise ValueError("a concrete path has no [*]")
    return current


def set_at(document: Any, tokens: tuple[Token, ...], value: Any) -> None:
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
            at = named_index(current, v)
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
        at = named_index(current, last)
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
    found = get_at(document, tokens)
    return None if found is MISSING else copy.deepcopy(found)


def document_value(document: Any, path: str) -> Any:
    """The value at a concrete path of any JSON document; None when absent."""
    found = get_at(document, parse_path(path))
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
        set_at(related if root == "related" else resource, tokens, value)
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
