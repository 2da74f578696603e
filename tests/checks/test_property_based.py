"""Arbitrary JSON into every check: no exception escapes, every result is well formed."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checks import CATALOG
from shared.engine import Engine
from shared.kernel.findings import Status
from shared.kernel.related import RELATED
from shared.kernel.snapshot import Snapshot

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)

# Keys real checks read, so arbitrary values land where checks look, not only beside them.
_PROPERTY_KEYS = st.sampled_from(
    [
        "supportsHttpsTrafficOnly",
        "minimumTlsVersion",
        "networkAcls",
        "encryption",
        "securityRules",
        "defaultSecurityRules",
        "accessPolicies",
        "enableSoftDelete",
        "enablePurgeProtection",
        "publicNetworkAccess",
        "httpsOnly",
        "policySettings",
        "managedRules",
        "subnets",
        "retentionInDays",
        "state",
        "privateEndpointConnections",
        "administrators",
        "minimalTlsVersion",
        "securityProfile",
        "privateLinkServiceConnectionState",
        "logs",
        "workspaceId",
        "serverKeyType",
        "tlsSettings",
    ]
)

resources = st.fixed_dictionaries(
    {
        "id": st.just("/subscriptions/s/resourceGroups/rg/providers/x.y/z/n"),
        "properties": st.one_of(
            json_values, st.dictionaries(_PROPERTY_KEYS, json_values, max_size=6)
        ),
    },
    optional={
        "tags": json_values,
        "kind": json_values,
        "identity": json_values,
        "sku": json_values,
        "location": json_values,
    },
)


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    resource=resources,
    related=st.dictionaries(st.sampled_from(sorted(RELATED)), json_values),
    phi=st.booleans(),
)
def test_no_exception_escapes_any_check(
    resource: dict[str, Any], related: dict[str, Any], phi: bool
) -> None:
    engine = Engine()
    for resource_type in sorted({t for c in CATALOG.values() for t in c.resource_types}):
        body = dict(resource, type=resource_type)
        snapshot = Snapshot(body, related, {"tags": {}}, phi)
        evaluation = engine.evaluate(snapshot)
        for finding in evaluation.findings:
            assert isinstance(finding.status, Status)
            assert finding.reason
