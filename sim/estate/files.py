"""Estate files (``--estate FILE``) and command-line specs (``demo``, ``N[:M[:SEED]]``)."""

from __future__ import annotations

import json
from pathlib import Path

from sim.estate.common import Estate
from sim.estate.demo import demo_estate
from sim.estate.generator import generated_estate

ESTATE_FORMAT = "phiguard.estate"
ESTATE_VERSION = 1


def save_estate(estate: Estate, path: str | Path) -> None:
    """Writes the estate as JSON.

    The documents go under ``value`` (an ARM list body), so ``phiguard evaluate FILE`` reads a
    saved estate as it is; :func:`load_estate` reads it back.
    """
    payload = {
        "kind": ESTATE_FORMAT,
        "version": ESTATE_VERSION,
        "tenantId": estate.tenant_id,
        "subscriptions": estate.subscriptions,
        "groundTruth": estate.ground_truth,
        "value": estate.documents,
    }
    Path(path).write_text(json.dumps(payload, separators=(",", ":")), encoding="utf-8")


def load_estate(path: str | Path) -> Estate:
    """Reads an estate file written by :func:`save_estate` (or a bare list of documents)."""
    source = str(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise ValueError(f"{source}: cannot read estate file: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{source}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    if isinstance(data, list):
        data = {"value": data}
    if not isinstance(data, dict):
        raise ValueError(f"{source}: $: an estate file must be a JSON object")
    documents = data.get("value", data.get("documents"))
    if not isinstance(documents, list):
        raise ValueError(f"{source}: $.value: must be a list of ARM documents")
    for index, doc in enumerate(documents):
        if not isinstance(doc, dict) or not isinstance(doc.get("id"), str):
            raise ValueError(f"{source}: $.value[{index}]: not an ARM document with a string id")
    subscriptions = data.get("subscriptions")
    if subscriptions is None:
        subscriptions = [d for d in documents if _is_subscription(d["id"])]
    if not isinstance(subscriptions, list):
        raise ValueError(f"{source}: $.subscriptions: must be a list")
    truth = data.get("groundTruth", data.get("ground_truth", {}))
    if not isinstance(truth, dict) or not all(
        isinstance(v, list) and all(isinstance(i, str) for i in v) for v in truth.values()
    ):
        raise ValueError(f"{source}: $.groundTruth: must map names to lists of ids")
    tenant = data.get("tenantId", data.get("tenant_id"))
    if tenant is None:
        tenant = next((s.get("tenantId") for s in subscriptions if isinstance(s, dict)), "")
    if not isinstance(tenant, str):
        raise ValueError(f"{source}: $.tenantId: must be a string")
    return Estate(tenant, subscriptions, documents, {k: list(v) for k, v in truth.items()})


def _is_subscription(resource_id: str) -> bool:
    parts = [p for p in resource_id.split("/") if p]
    return len(parts) == 2 and parts[0].lower() == "subscriptions"


def estate_from_spec(spec: str) -> Estate:
    """An estate from a command-line spec.

    ``demo`` → :func:`demo_estate`; ``N`` or ``N:M`` or ``N:M:SEED`` → :func:`generated_estate`
    with N resources, M role assignments and the seed; anything else is a path to a file
    written by :func:`save_estate`.
    """
    text = spec.strip()
    if text.lower() == "demo":
        return demo_estate()
    parts = text.split(":")
    if parts and all(p.strip().isdigit() for p in parts) and len(parts) <= 3:
        numbers = [int(p) for p in parts]
        return generated_estate(numbers[0], *numbers[1:])
    path = Path(text)
    if not path.is_file():
        raise ValueError(
            f"estate {spec!r}: not 'demo', a resource count (N[:M[:SEED]]) or an existing file"
        )
    return load_estate(path)
