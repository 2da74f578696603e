"""One rule for ``null``: in ARM JSON an explicit null and an absent property are the same thing.

Every check fixture is evaluated twice for each property under ``properties`` (two levels deep)
of its resource and of its related documents: once with the property removed, once with it set
to null. Every check must give the same status
and the same reason both ways, and the evidence of a verdict that used the property must mark the
value as absent (with the assumed default), never record a bare null.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.engine import Engine
from shared.kernel.findings import Status
from shared.loader import snapshot_from_json

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "checks"
ENGINE = Engine()


def _fixtures() -> list[Path]:
    return sorted(p for p in FIXTURES.glob("*/*.json") if not p.name.startswith("error"))


JsonPath = tuple[str | int, ...]


def _walk(props: Any, prefix: JsonPath, depth: int = 2) -> Iterator[JsonPath]:
    if not isinstance(props, dict) or depth == 0:
        return
    for key, value in props.items():
        if value is None:
            continue
        yield (*prefix, key)
        yield from _walk(value, (*prefix, key), depth - 1)


def _paths(data: dict[str, Any]) -> Iterator[JsonPath]:
    """Paths (from the top of the snapshot file) of the properties that may be nulled."""
    yield from _walk(data["resource"].get("properties"), ("resource", "properties"))
    for key, doc in (data.get("related") or {}).items():
        items: list[tuple[JsonPath, Any]]
        if isinstance(doc, dict) and isinstance(doc.get("value"), list):
            items = [(("related", key, "value", i), d) for i, d in enumerate(doc["value"])]
        elif isinstance(doc, list):
            items = [(("related", key, i), d) for i, d in enumerate(doc)]
        else:
            items = [(("related", key), doc)]
        for base, item in items:
            if isinstance(item, dict):
                yield from _walk(item.get("properties"), (*base, "properties"))


def _with(data: dict[str, Any], path: JsonPath, *, null: bool) -> dict[str, Any]:
    out = copy.deepcopy(data)
    node: Any = out
    for key in path[:-1]:
        node = node[key]
    if null:
        node[path[-1]] = None
    else:
        del node[path[-1]]
    return out


def _verdicts(data: dict[str, Any], name: str) -> dict[str, tuple[Status, str, dict[str, Any]]]:
    evaluation = ENGINE.evaluate(snapshot_from_json(data, name))
    return {f.check_id: (f.status, f.reason, dict(f.evidence)) for f in evaluation.findings}


@pytest.mark.parametrize("path", _fixtures(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_null_and_absent_give_the_same_verdicts(path: Path) -> None:
    data = json.loads(path.read_text())
    assert "resource" in data, "check fixtures are snapshot files"
    for prop in _paths(data):
        absent = _verdicts(_with(data, prop, null=False), path.name)
        nulled = _verdicts(_with(data, prop, null=True), path.name)
        assert absent.keys() == nulled.keys(), prop
        where = ".".join(str(p) for p in prop[1:]) if prop[0] == "resource" else ""
        for check_id, (status, reason, evidence) in absent.items():
            n_status, n_reason, n_evidence = nulled[check_id]
            assert (status, reason) == (n_status, n_reason), (check_id, where)
            if where and where in n_evidence:
                recorded = n_evidence[where]
                assert recorded is not None, (check_id, where, "bare null in the evidence")
                if isinstance(recorded, dict) and recorded.get("null"):
                    assert recorded.get("absent") is True, (check_id, where, recorded)
                    assert recorded.get("assumed") == evidence[where].get("assumed")
