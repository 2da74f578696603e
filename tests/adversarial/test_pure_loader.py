"""Pure layer, the loader behind ``phiguard evaluate``: any text or parsed document is loaded or
refused with an InputError naming the place (never another exception), quickly."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from shared.engine import Engine
from shared.kernel.snapshot import MalformedResource
from shared.loader import InputError, load_documents, parse_json
from tests.adversarial import strategies as s
from tests.adversarial.profile import PURE

MOMENT = 2.0
ENGINE = Engine()


@st.composite
def texts(draw: st.DrawFn) -> str | bytes:
    kind = draw(st.sampled_from(("doc", "doc", "deep", "number", "garbage", "nan")))
    if kind == "deep":
        depth = draw(st.integers(100, 100_000))
        return "[" * depth + "]" * depth
    if kind == "number":
        return "[" + "7" * draw(st.integers(4_000, 20_000)) + "]"
    if kind == "garbage":
        return draw(st.one_of(st.binary(max_size=100), st.text(s.any_char, max_size=100)))
    if kind == "nan":
        return '{"id": "/subscriptions/s", "x": NaN}'
    doc = draw(s.resource_documents())
    try:
        return json.dumps(doc)
    except (ValueError, RecursionError):
        return "{}"


@PURE
@given(text=texts())
def test_parse_json_refuses_only_with_input_errors(text: str | bytes) -> None:
    try:
        _, seconds = s.timed(lambda: parse_json(text, "input.json"))
    except InputError as exc:
        assert exc.source == "input.json" and exc.path.startswith("$")
        return
    assert seconds < MOMENT


@st.composite
def loadable(draw: st.DrawFn) -> Any:
    doc = draw(s.resource_documents())
    shape = draw(st.sampled_from(("doc", "list", "value", "snapshot", "estate", "example")))
    if shape == "list":
        return [doc, draw(s.resource_documents())]
    if shape == "value":
        return {"value": [doc, draw(s.hostile_values)]}
    if shape == "snapshot":
        return {
            "resource": doc,
            "related": draw(st.one_of(s.related_documents(), s.hostile_values)),
            "resource_group": draw(st.one_of(st.none(), st.builds(dict, tags=s.tags()))),
            "phi": draw(st.one_of(st.none(), st.booleans(), s.hostile_values)),
        }
    if shape == "estate":
        return {"snapshots": [{"resource": doc}, draw(s.hostile_values)]}
    if shape == "example":
        return {"responses": {"200": {"body": doc}}}
    return doc


@PURE
@given(document=loadable(), complete=st.booleans())
def test_load_documents_loads_or_refuses_with_input_errors(document: Any, complete: bool) -> None:
    try:
        snapshots, seconds = s.timed(
            lambda: load_documents([(document, "input.json")], complete=complete)
        )
    except InputError as exc:
        assert exc.source == "input.json"
        return
    assert seconds < MOMENT
    for snapshot in snapshots:
        try:
            ENGINE.evaluate(snapshot)
        except MalformedResource as exc:
            assert str(exc).startswith("$.type")
