"""The one document header of the estates: field order, omitted fields, copied tags."""

from __future__ import annotations

import json

import pytest

from sim.estate.common import ARM, INSIGHTS, NETWORK, header


def test_the_order_decides_where_each_field_goes() -> None:
    tags = {"env": "prod"}
    arm = header("/r", "n", "T", "eastus", tags)
    assert list(arm) == ["id", "name", "type", "location", "tags"] and list(ARM) == list(arm)
    network = header("/r", "n", "T", "eastus", tags, etag='W/"x"', order=NETWORK)
    assert list(network) == ["name", "id", "etag", "type", "location", "tags"]
    insights = header("/r", "n", "T", order=INSIGHTS)
    assert json.dumps(insights) == '{"id": "/r", "type": "T", "name": "n"}'
    kinded = header(
        "/r", "n", "T", "eastus", kind="app", order=("id", "kind", "name", "type", "location")
    )
    assert list(kinded) == ["id", "kind", "name", "type", "location"]


def test_fields_left_out_are_not_written_and_tags_are_copied() -> None:
    tags = {"env": "prod"}
    child = header("/r/c/x", "x", "T/c", etag="e", order=NETWORK)
    assert child == {"name": "x", "id": "/r/c/x", "etag": "e", "type": "T/c"}
    doc = header("/r", "n", "T", "eastus", tags)
    assert doc["tags"] == tags and doc["tags"] is not tags
    assert header("/r", "n", "T", "global", {})["tags"] == {}


def test_a_field_missing_from_the_order_is_an_error() -> None:
    with pytest.raises(ValueError, match="missing from the order"):
        header("/r", "n", "T", "eastus", {}, etag="e")  # ARM has no etag
    with pytest.raises(ValueError, match="missing from the order"):
        header("/r", "n", "T", kind="app")
