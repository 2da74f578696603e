"""The estates are byte-for-byte what they were before ``sim/estate.py`` became a package.

Each expected digest is the SHA-256 of ``json.dumps(value, separators=(",", ":"))`` (key order
as built, no sorting: a reordered key is a change too). They were obtained by running exactly
this computation against the single-file ``sim/estate.py`` at commit 6a72adc, before the split
into ``sim/estate/``, and hard-coded here. A digest that changes means the documents changed:
if that is intended, recompute it the same way and say why in the commit.

Recomputed for issue 14 (the demo gained a violating and a compliant twin of each new area; the
ground truth lists what they fail): the demo and truth digests below are those of this commit's
estate; the generated estates are unchanged.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any

import pytest

from sim.estate import (
    default_security_rules,
    demo_compliant_twins,
    demo_estate,
    demo_ground_truth,
    estate_from_spec,
    generated_estate,
    open_rdp_rule,
)


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, separators=(",", ":")).encode()).hexdigest()


def test_demo_estate_is_unchanged() -> None:
    estate = demo_estate()
    assert len(estate.documents) == 222
    assert _digest(asdict(estate)) == (
        "345a54ae036659691e01db6e374b3dd648ecf70046df79e057da157a4106079f"
    )
    assert asdict(estate_from_spec("demo")) == asdict(estate)


@pytest.mark.parametrize(
    ("resources", "assignments", "seed", "rate", "count", "expected"),
    [
        (
            1200,
            150,
            7,
            0.1,
            3410,
            "9939b927ece31a2408e8686aa1a7b98a25fd5c7a80fb2d2d59521c11adcef409",
        ),
        (800, 50, 3, 0.5, 2079, "f1251847d9ae44b12cf8121160432a09ebc0c7e52b2c05fdfce0674ec1bdd2f2"),
    ],
)
def test_generated_estate_is_unchanged(
    resources: int, assignments: int, seed: int, rate: float, count: int, expected: str
) -> None:
    estate = generated_estate(resources, assignments, seed, violation_rate=rate)
    assert len(estate.documents) == count
    assert _digest(asdict(estate)) == expected


def test_demo_truth_and_rule_helpers_are_unchanged() -> None:
    value = [
        demo_ground_truth(),
        demo_compliant_twins(),
        default_security_rules("/x/nsg"),
        default_security_rules("/x/nsg", 'W/"e"'),
        open_rdp_rule(100),
    ]
    assert _digest(value) == "05108f8389b26acd4f6cdba1d0e93dc66d199c22c41581b67feb0e536e015ddf"
