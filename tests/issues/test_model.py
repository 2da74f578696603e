"""The fingerprint: stable, case-insensitive over the id, one per resource and check."""

from __future__ import annotations

import pytest

from shared.issues.model import Fingerprint, IssueError

from .helpers import CHECK, NSG, RG


def test_a_fingerprint_is_16_hex_digits_stable_and_case_insensitive_over_the_id() -> None:
    one = Fingerprint.of(NSG, CHECK.id)
    assert len(one.value) == 16 and int(one.value, 16) >= 0
    assert Fingerprint.of(NSG.upper(), CHECK.id) == one
    assert Fingerprint.of(NSG + "/", CHECK.id) == one
    assert Fingerprint.of("//" + NSG.lstrip("/"), CHECK.id) == one
    assert Fingerprint.of(NSG, "storage_account_secure_transport") != one
    assert (
        Fingerprint.of(f"{RG}/providers/Microsoft.Network/networkSecurityGroups/other", CHECK.id)
        != one
    )
    # The value is pinned: issues opened by one release are found by the next.
    assert Fingerprint.of("/subscriptions/s/resourceGroups/r", "a_b").value == "be7743ecac2044d2"


def test_marker_tag_and_parse_round_trip() -> None:
    one = Fingerprint.of(NSG, CHECK.id)
    assert one.marker == f"phiguard:fingerprint={one.value}"
    assert one.tag == f"fingerprint-{one.value}"
    assert (
        Fingerprint.parse(one.marker)
        == Fingerprint.parse(one.tag)
        == Fingerprint.parse(one.value)
        == one
    )


@pytest.mark.parametrize(
    "bad", ["", "XYZ", "0123456789abcdeF", "0123456789abcdef0", "phiguard:fingerprint=zz"]
)
def test_a_malformed_fingerprint_is_refused(bad: str) -> None:
    with pytest.raises(IssueError):
        Fingerprint.parse(bad)


@pytest.mark.parametrize(
    ("rid", "check"), [(NSG + "/../x", CHECK.id), (NSG, "Bad Id"), ("", CHECK.id)]
)
def test_a_bad_resource_id_or_check_id_is_refused(rid: str, check: str) -> None:
    with pytest.raises(ValueError):
        Fingerprint.of(rid, check)
