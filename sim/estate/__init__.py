"""Estates: the resources a simulated tenant holds, as flat ARM documents.

Three ways to get one:

* :func:`demo_estate` — "Contoso Health Shop", a small, hand-written e-commerce business that
  sells pharmacy products and keeps patient records (PHI) on Azure. It holds known violations of
  every failure pattern (``P1``..``P6``), each next to a compliant twin, for the demo and tests.
* :func:`generated_estate` — N resources of a realistic mix, deterministic from a seed, with a
  seeded fraction violating each pattern; for benchmarks and property tests.
* :func:`load_estate` / :func:`estate_from_spec` — a saved estate file (``--estate FILE``).

Every document has the shape ARM returns from a GET by id (field sets copied from the published
examples in ``shared/reference``): the id casing each provider uses (``resourcegroups`` and
lower-case providers for Log Analytics, Insights and Front Door), ``etag`` where the provider
returns one (Microsoft.Network, where children share their parent's etag, and virtual machines),
child resources both embedded in their parent (NSG rules, subnets) and as documents of their own.
GUIDs are uuid5 of names, so the same estate always has the same ids. No real personal data:
principals are GUIDs, addresses use the reserved ``.example`` domain and documentation IP ranges.

The package, one module per service, each writing documents through the one header helper of
:mod:`sim.estate.common`:

* ``common`` — :class:`Estate`, deterministic GUIDs and timestamps, ids and ``header``;
* ``storage``, ``network``, ``keyvault``, ``sql`` (SQL and Cosmos DB), ``monitoring``,
  ``appservice``, ``compute`` (disks, VMs, AKS), ``edge`` (Front Door, WAF, Application
  Gateway), ``health`` (FHIR), ``governance`` (subscriptions, groups, policy, RBAC);
* ``demo_context`` (the demo's names, ground truth and twins), ``demo_phi`` and
  ``demo_platform`` (its sections),
  ``demo`` (:func:`demo_estate`); ``generator`` (:func:`generated_estate`); ``files``.

The names below are the package's interface (what ``from sim.estate import X`` has always
offered); the modules' builders are for the estates built here.
"""

from __future__ import annotations

from sim.estate.common import PATTERNS, Doc, Estate, guid
from sim.estate.demo import demo_estate
from sim.estate.demo_context import (
    DEMO_DEV,
    DEMO_PROD,
    DEMO_TENANT,
    RG_DEV,
    RG_MONITORING,
    RG_NETWATCH,
    RG_PHI,
    RG_SECURITY,
    RG_SHOP,
    demo_compliant_twins,
    demo_ground_truth,
)
from sim.estate.files import (
    ESTATE_FORMAT,
    ESTATE_VERSION,
    estate_from_spec,
    load_estate,
    save_estate,
)
from sim.estate.generator import GENERATED_MIX, generated_estate
from sim.estate.governance import BUILT_IN_ROLES, HIPAA_INITIATIVE, HIPAA_INITIATIVE_ID
from sim.estate.monitoring import TableSpec
from sim.estate.network import RuleSpec, SubnetSpec, default_security_rules, open_rdp_rule

__all__ = [
    "BUILT_IN_ROLES",
    "DEMO_DEV",
    "DEMO_PROD",
    "DEMO_TENANT",
    "ESTATE_FORMAT",
    "ESTATE_VERSION",
    "GENERATED_MIX",
    "HIPAA_INITIATIVE",
    "HIPAA_INITIATIVE_ID",
    "PATTERNS",
    "RG_DEV",
    "RG_MONITORING",
    "RG_NETWATCH",
    "RG_PHI",
    "RG_SECURITY",
    "RG_SHOP",
    "Doc",
    "Estate",
    "RuleSpec",
    "SubnetSpec",
    "TableSpec",
    "default_security_rules",
    "demo_compliant_twins",
    "demo_estate",
    "demo_ground_truth",
    "estate_from_spec",
    "generated_estate",
    "guid",
    "load_estate",
    "open_rdp_rule",
    "save_estate",
]
