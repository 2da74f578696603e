"""Every published ARM example body loads into the sim and comes back from GET unchanged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sim.fixture import SimHandle
from tests.sim.helpers import REFERENCE, arm


def _examples() -> list[tuple[str, str, dict[str, Any]]]:
    """(label, api-version, document) for each 200 body with an id, list items included."""
    out: list[tuple[str, str, dict[str, Any]]] = []
    for folder in ("arm", "arm-extra"):
        for path in sorted((REFERENCE / folder).glob("*.json")):
            example = json.loads(path.read_text(encoding="utf-8"))
            version = str(example["parameters"]["api-version"])
            body = example["responses"].get("200", {}).get("body")
            if not isinstance(body, dict):
                continue
            docs = body["value"] if isinstance(body.get("value"), list) else [body]
            for i, doc in enumerate(docs):
                if isinstance(doc, dict) and isinstance(doc.get("id"), str):
                    out.append((f"{folder}/{Path(path).stem}#{i}", version, doc))
    return out


EXAMPLES = _examples() if REFERENCE.is_dir() else []


def test_every_reference_folder_contributes() -> None:
    if not REFERENCE.is_dir():
        pytest.skip(f"reference payloads not found at {REFERENCE}")
    labels = {label.split("/")[0] for label, _, _ in EXAMPLES}
    assert labels == {"arm", "arm-extra"}
    assert len(EXAMPLES) >= 40


@pytest.mark.parametrize(("label", "version", "doc"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_reference_example_comes_back_unchanged(
    sim: SimHandle, label: str, version: str, doc: dict[str, Any]
) -> None:
    sim.reset("empty")
    loaded = sim.load([doc])
    assert loaded["loaded"] == 1, loaded
    resp = arm(sim, "GET", doc["id"], api_version=version)
    assert resp.status_code == 200, resp.text
    assert resp.json() == doc
    # ids are case-insensitive
    again = arm(sim, "GET", doc["id"].upper(), api_version=version)
    assert again.status_code == 200 and again.json() == doc
