"""Every type phiguard reads has its api-version pinned: ARM rejects a version a provider lacks."""

from __future__ import annotations

from shared.engine import Engine
from shared.kernel import api_versions


def test_every_read_type_and_every_parent_the_sweep_lists_has_a_pinned_api_version() -> None:
    supported = Engine().supported_types()
    parents = {t.rpartition("/")[0] for t in supported if t.count("/") > 1}
    missing = sorted(t for t in supported | parents if t not in api_versions.BY_TYPE)
    assert missing == []
