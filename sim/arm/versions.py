"""The api-versions each resource provider registers, per resource type, and ARM's answer to a
version it does not register (issue 15).

Real ARM routes a request to a provider only when the provider registered the request's
api-version for the type; otherwise it answers 400 before any existence check:

* a provider type: ``NoRegisteredProviderFound`` — "No registered resource provider found for
  location '{location}' and API version '{version}' for type '{type}'. The supported
  api-versions are '{v1, v2, ...}'. The supported locations are '{l1, l2, ...}'." (the wording
  of published answers, e.g. Azure/azure-cli#28496 and Azure/azure-resource-manager-schemas#33;
  the type is the path without the namespace, ``storageAccounts`` or
  ``virtualMachines/extensions``);
* ARM's own types (``Microsoft.Resources``: subscriptions, resource groups, ``/resources``,
  providers, tenants, locations): ``InvalidApiVersionParameter`` — "The api-version '{version}'
  is invalid. The supported versions are '{newest,...,oldest}'.".

Sources of the lists: the version folders of the providers' REST specs
(``Azure/azure-rest-api-specs``, ``specification/<service>/resource-manager/<Namespace>/
{stable,preview}/<version>``) as mirrored by ``Azure/bicep-types-az`` (``generated/<service>/
<namespace>/<version>``), listed there for Microsoft.Storage, Microsoft.Sql, Microsoft.KeyVault,
Microsoft.Web, Microsoft.Network (up to 2023, later from the SDKs), Microsoft.Insights,
Microsoft.Authorization, Microsoft.Cache, Microsoft.ContainerRegistry, Microsoft.Search,
Microsoft.ServiceBus, Microsoft.EventHub, Microsoft.DBforPostgreSQL and Microsoft.DBforMySQL;
the published ``NoRegisteredProviderFound`` message for Microsoft.Network (networkInterfaces).
The lists for Microsoft.Resources, Microsoft.OperationalInsights, Microsoft.Compute,
Microsoft.Security and Microsoft.RecoveryServices, and the per-type Authorization lists, were
written from the providers' spec folders without a second look at the mirror (they hold every
version the SDKs above send). A provider registers its versions for all of its types, except
where a type appeared later (``since`` below: blob services exist from 2018-07-01, Key Vault
keys from 2019-09-01, ...) or belongs to a separately versioned API (diagnostic settings, activity log
alerts, role eligibility schedules, ...). Future-dated folders of the mirror are included, and so
are the versions the SDKs in requirements-dev.txt send (their packages prove the version exists).
Not in the table (any version accepted): Cosmos DB, AKS, Health Data Services, Azure Front Door
(Microsoft.Cdn) and every type the catalog does not read.

What old clients send is marked in :data:`CLIENT_VERSIONS` (the default api-version of each
azure-mgmt-* package, read from the packages Prowler 5.46 and Cloud Custodian c7n-azure 0.7.52
pin); a test keeps every one of them, and every version phiguard itself pins
(``shared.kernel.api_versions``, ``shared.kernel.related``), inside the table.

Types not in the table keep the simulated tenant's earlier behaviour: any well-formed version is
accepted, so a type nobody listed here never breaks. Operation monitors (``.../operations/{id}``,
``.../operationResults/{id}``) are answered before this check, as ARM does (they carry the
version of the request that started them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sim.arm.model import ArmError


def _v(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _since(versions: tuple[str, ...], first: str) -> tuple[str, ...]:
    return tuple(v for v in versions if v[:10] >= first[:10])


# --- per provider, oldest first ------------------------------------------------------------

RESOURCES = _v(
    """2014-04-01-preview 2015-01-01 2015-11-01 2016-02-01 2016-06-01 2016-07-01 2016-09-01
    2017-05-10 2017-06-01 2017-08-01 2018-02-01 2018-05-01 2018-06-01 2018-07-01 2018-08-01
    2018-09-01 2019-03-01 2019-05-01 2019-05-10 2019-06-01 2019-07-01 2019-08-01 2019-09-01
    2019-10-01 2019-11-01 2020-01-01 2020-06-01 2020-08-01 2020-10-01 2021-01-01 2021-04-01
    2022-01-01 2022-03-01-preview 2022-09-01 2022-12-01 2023-07-01 2024-03-01 2024-07-01
    2024-11-01 2025-01-01 2025-03-01 2025-04-01"""
)
STORAGE = _v(
    """2015-05-01-preview 2015-06-15 2016-01-01 2016-05-01 2016-12-01 2017-06-01 2017-10-01
    2018-02-01 2018-03-01-preview 2018-07-01 2018-11-01 2019-04-01 2019-06-01
    2020-08-01-preview 2021-01-01 2021-02-01 2021-04-01 2021-06-01 2021-08-01 2021-09-01
    2022-05-01 2022-09-01 2023-01-01 2023-04-01 2023-05-01 2024-01-01 2025-01-01 2025-06-01
    2025-08-01 2026-04-01 2026-06-01 2026-09-01"""
)
NETWORK = _v(
    """2014-12-01-preview 2015-05-01-preview 2015-06-15 2016-03-30 2016-06-01 2016-07-01
    2016-08-01 2016-09-01 2016-10-01 2016-11-01 2016-12-01 2017-03-01 2017-04-01 2017-06-01
    2017-08-01 2017-09-01 2017-10-01 2017-11-01 2018-01-01 2018-02-01 2018-03-01 2018-04-01
    2018-06-01 2018-07-01 2018-08-01 2018-10-01 2018-11-01 2018-12-01 2019-02-01 2019-04-01
    2019-06-01 2019-07-01 2019-08-01 2019-09-01 2019-11-01 2019-12-01 2020-03-01 2020-04-01
    2020-05-01 2020-06-01 2020-07-01 2020-08-01 2020-11-01 2021-02-01 2021-03-01 2021-05-01
    2021-08-01 2022-01-01 2022-05-01 2022-07-01 2022-09-01 2022-11-01 2023-02-01 2023-04-01
    2023-05-01 2023-06-01 2023-09-01 2023-11-01 2024-01-01 2024-03-01 2024-05-01 2024-07-01
    2024-10-01 2025-01-01 2025-03-01 2025-05-01 2026-03-01"""
)
# Front Door (classic) and its WAF policies are versioned apart from the rest of the namespace.
FRONT_DOOR = _v("2018-08-01 2019-04-01 2019-05-01 2020-01-01 2020-04-01 2020-05-01 2021-06-01")
FRONT_DOOR_WAF = _v(
    "2018-08-01 2019-03-01 2019-10-01 2020-04-01 2020-11-01 2021-06-01 2022-05-01 2024-02-01 "
    "2025-03-01"
)
KEYVAULT = _v(
    """2014-12-19-preview 2015-06-01 2016-10-01 2018-02-14-preview 2018-02-14 2019-09-01
    2020-04-01-preview 2021-04-01-preview 2021-06-01-preview 2021-10-01 2021-11-01-preview
    2022-02-01-preview 2022-07-01 2022-11-01 2023-02-01 2023-07-01 2024-04-01-preview
    2024-11-01 2024-12-01-preview 2025-05-01 2026-02-01 2026-03-01-preview 2026-05-15"""
)
SQL = _v(
    """2014-04-01 2015-05-01-preview 2017-03-01-preview 2017-10-01-preview 2018-06-01-preview
    2019-06-01-preview 2020-02-02-preview 2020-08-01-preview 2020-11-01-preview
    2021-02-01-preview 2021-05-01-preview 2021-08-01-preview 2021-11-01-preview 2021-11-01
    2022-02-01-preview 2022-05-01-preview 2022-08-01-preview 2022-11-01-preview
    2023-02-01-preview 2023-05-01-preview 2023-08-01-preview 2023-08-01 2024-05-01-preview
    2024-11-01-preview"""
)
WEB = _v(
    """2014-04-01 2014-06-01 2014-11-01 2015-02-01 2015-04-01 2015-08-01 2015-08-01-preview
    2016-03-01 2016-08-01 2016-09-01 2018-02-01 2018-11-01 2019-08-01 2020-06-01 2020-09-01
    2020-10-01 2020-12-01 2021-01-01 2021-01-15 2021-02-01 2021-03-01 2022-03-01 2022-09-01
    2023-01-01 2023-12-01 2024-04-01 2024-11-01 2025-03-01"""
)
DIAGNOSTIC_SETTINGS = _v(
    "2015-07-01 2016-09-01 2017-05-01-preview 2020-01-01-preview 2021-05-01-preview"
)
ACTIVITY_LOG_ALERTS = _v("2017-03-01-preview 2017-04-01 2020-10-01 2023-01-01-preview")
ROLE_ASSIGNMENTS = _v(
    """2014-04-01-preview 2014-07-01-preview 2014-10-01-preview 2015-05-01-preview 2015-06-01
    2015-07-01 2016-07-01 2017-05-01 2017-09-01 2017-10-01-preview 2018-01-01-preview
    2018-07-01 2018-09-01-preview 2018-12-01-preview 2019-04-01-preview 2020-03-01-preview
    2020-04-01-preview 2020-08-01-preview 2020-10-01-preview 2021-04-01-preview
    2022-01-01-preview 2022-04-01 2022-05-01-preview"""
)
PIM_SCHEDULES = _v("2020-10-01-preview 2020-10-01 2022-04-01-preview 2024-02-01-preview")
POLICY = _v(
    """2015-10-01-preview 2015-11-01 2016-04-01 2016-12-01 2017-06-01-preview 2018-03-01
    2018-05-01 2019-01-01 2019-06-01 2019-09-01 2020-03-01 2020-09-01 2021-06-01 2022-06-01
    2023-04-01 2024-04-01 2024-05-01 2025-01-01 2025-03-01"""
)
LOCKS = _v("2015-01-01 2016-09-01 2020-05-01")
POLICY_EXEMPTIONS = _v("2020-07-01-preview 2022-07-01-preview 2024-12-01-preview")
OPERATIONAL_INSIGHTS = _v(
    """2015-03-20 2015-11-01-preview 2017-01-01-preview 2017-03-03-preview 2017-03-15-preview
    2017-04-26-preview 2020-03-01-preview 2020-08-01 2020-10-01 2021-06-01 2021-12-01-preview
    2022-10-01 2023-09-01 2025-02-01 2025-07-01"""
)
COMPUTE = _v(
    """2015-05-01-preview 2015-06-15 2016-03-30 2016-04-30-preview 2016-08-30 2017-03-30
    2017-12-01 2018-04-01 2018-06-01 2018-10-01 2019-03-01 2019-07-01 2019-12-01 2020-06-01
    2020-12-01 2021-03-01 2021-04-01 2021-07-01 2021-11-01 2022-03-01 2022-08-01 2022-11-01
    2023-03-01 2023-07-01 2023-09-01 2024-03-01 2024-07-01 2024-11-01 2025-04-01"""
)
COMPUTE_DISKS = _v(
    """2016-04-30-preview 2017-03-30 2018-04-01 2018-06-01 2018-09-30 2019-03-01 2019-07-01
    2019-11-01 2020-05-01 2020-06-30 2020-09-30 2020-12-01 2021-04-01 2021-08-01 2021-12-01
    2022-03-02 2022-07-02 2023-01-02 2023-04-02 2023-10-02 2024-03-02 2025-01-02"""
)
SECURITY_PRICINGS = _v("2017-08-01-preview 2018-06-01 2022-03-01 2023-01-01 2024-01-01")
SECURITY_CONTACTS = _v("2017-08-01-preview 2020-01-01-preview 2023-12-01-preview")
SECURITY_JIT = _v("2015-06-01-preview 2020-01-01")
RECOVERY_SERVICES = _v(
    """2016-06-01 2020-02-02 2020-10-01 2021-01-01 2021-02-10 2021-03-01 2021-06-01 2021-07-01
    2021-08-01 2021-11-01-preview 2021-12-01 2022-01-01 2022-02-01 2022-03-01 2022-04-01
    2022-08-01 2022-09-10 2022-10-01 2023-01-01 2023-02-01 2023-04-01 2023-06-01 2023-08-01
    2024-01-01 2024-02-01 2024-04-01 2024-10-01 2025-02-01"""
)

POSTGRES_FLEXIBLE = _v(
    """2020-02-14-preview 2021-06-01-preview 2021-06-01 2022-01-20-preview 2022-03-08-preview
    2022-05-01-preview 2022-12-01 2023-03-01-preview 2023-06-01-preview 2023-12-01-preview
    2024-03-01-preview 2024-08-01 2024-11-01-preview 2025-01-01-preview 2025-06-01-preview
    2025-08-01 2026-01-01-preview 2026-04-01-preview 2026-07-01-preview"""
)
MYSQL_FLEXIBLE = _v(
    """2020-07-01-preview 2021-05-01-preview 2021-05-01 2021-12-01-preview 2022-01-01
    2022-09-30-preview 2023-06-01-preview 2023-06-30 2023-10-01-preview 2023-12-01-preview
    2023-12-30 2024-02-01-preview 2024-06-01-preview 2024-10-01-preview"""
)
REDIS = _v(
    """2015-08-01 2016-04-01 2017-02-01 2017-10-01 2018-03-01 2019-07-01 2020-06-01 2020-12-01
    2021-06-01 2022-05-01 2022-06-01 2023-04-01 2023-05-01-preview 2023-08-01 2024-03-01
    2024-04-01-preview 2024-11-01 2025-08-01-preview"""
)
CONTAINER_REGISTRY = _v(
    """2016-06-27-preview 2017-03-01 2017-06-01-preview 2017-10-01 2018-02-01-preview
    2018-09-01 2019-04-01 2019-05-01-preview 2019-05-01 2019-06-01-preview 2019-12-01-preview
    2020-11-01-preview 2021-06-01-preview 2021-08-01-preview 2021-09-01 2021-12-01-preview
    2022-02-01-preview 2022-12-01 2023-01-01-preview 2023-06-01-preview 2023-07-01
    2023-08-01-preview 2023-11-01-preview 2024-11-01-preview 2025-03-01-preview 2025-04-01
    2025-05-01-preview"""
)
SEARCH = _v(
    """2015-02-28 2015-08-19 2019-10-01-preview 2020-03-13 2020-08-01-preview 2020-08-01
    2021-04-01-preview 2022-09-01 2023-11-01 2024-03-01-preview 2024-06-01-preview
    2025-02-01-preview 2025-05-01 2025-10-01-preview 2026-03-01-preview 2026-09-01-preview"""
)
SERVICE_BUS = _v(
    """2014-09-01 2015-08-01 2017-04-01 2018-01-01-preview 2021-01-01-preview 2021-06-01-preview
    2021-11-01 2022-01-01-preview 2022-10-01-preview 2023-01-01-preview 2024-01-01
    2025-05-01-preview 2026-01-01 2026-07-01-preview"""
)
EVENT_HUB = _v(
    """2014-09-01 2015-08-01 2017-04-01 2018-01-01-preview 2021-01-01-preview 2021-06-01-preview
    2021-11-01 2022-01-01-preview 2022-10-01-preview 2023-01-01-preview 2024-01-01
    2024-05-01-preview 2025-05-01-preview 2026-01-01 2026-07-01-preview"""
)

# Type (lowercase) → the versions its provider registers for it, oldest first.
SUPPORTED: dict[str, tuple[str, ...]] = {
    # ARM itself (answered with InvalidApiVersionParameter).
    "microsoft.resources/subscriptions": RESOURCES,
    "microsoft.resources/resourcegroups": RESOURCES,
    "microsoft.resources/resources": RESOURCES,
    "microsoft.resources/providers": RESOURCES,
    "microsoft.resources/tenants": RESOURCES,
    "microsoft.resources/locations": RESOURCES,
    # Storage.
    "microsoft.storage/storageaccounts": STORAGE,
    "microsoft.storage/storageaccounts/blobservices": _since(STORAGE, "2018-07-01"),
    "microsoft.storage/storageaccounts/blobservices/containers": _since(STORAGE, "2018-02-01"),
    "microsoft.storage/storageaccounts/blobservices/containers/immutabilitypolicies": _since(
        STORAGE, "2018-02-01"
    ),
    "microsoft.storage/storageaccounts/fileservices": _since(STORAGE, "2019-04-01"),
    "microsoft.storage/storageaccounts/queueservices": _since(STORAGE, "2019-06-01"),
    "microsoft.storage/storageaccounts/tableservices": _since(STORAGE, "2019-06-01"),
    # Network.
    "microsoft.network/networksecuritygroups": NETWORK,
    "microsoft.network/networksecuritygroups/securityrules": NETWORK,
    "microsoft.network/virtualnetworks": NETWORK,
    "microsoft.network/virtualnetworks/subnets": NETWORK,
    "microsoft.network/networkinterfaces": NETWORK,
    "microsoft.network/privateendpoints": _since(NETWORK, "2019-04-01"),
    "microsoft.network/networkwatchers": _since(NETWORK, "2016-03-30"),
    "microsoft.network/networkwatchers/flowlogs": _since(NETWORK, "2019-11-01"),
    "microsoft.network/applicationgateways": NETWORK,
    "microsoft.network/applicationgatewaywebapplicationfirewallpolicies": _since(
        NETWORK, "2018-12-01"
    ),
    "microsoft.network/azurefirewalls": _since(NETWORK, "2018-04-01"),
    "microsoft.network/frontdoors": FRONT_DOOR,
    "microsoft.network/frontdoorwebapplicationfirewallpolicies": FRONT_DOOR_WAF,
    # Key Vault (management plane).
    "microsoft.keyvault/vaults": KEYVAULT,
    "microsoft.keyvault/vaults/keys": _since(KEYVAULT, "2019-09-01"),
    # 2020-04-01-preview is in the spec but was never registered for secrets (published
    # NoRegisteredProviderFound, Azure/azure-rest-api-specs#11929).
    "microsoft.keyvault/vaults/secrets": tuple(v for v in KEYVAULT if v != "2020-04-01-preview"),
    "microsoft.keyvault/vaults/accesspolicies": KEYVAULT,
    # SQL.
    "microsoft.sql/servers": SQL,
    "microsoft.sql/servers/databases": SQL,
    "microsoft.sql/servers/databases/transparentdataencryption": SQL,
    "microsoft.sql/servers/databases/securityalertpolicies": SQL,
    "microsoft.sql/servers/databases/auditingsettings": _since(SQL, "2015-05-01-preview"),
    "microsoft.sql/servers/databases/backupshorttermretentionpolicies": _since(
        SQL, "2017-10-01-preview"
    ),
    "microsoft.sql/servers/databases/datamaskingpolicies": SQL,
    "microsoft.sql/servers/databases/backuplongtermretentionpolicies": _since(
        SQL, "2017-03-01-preview"
    ),
    "microsoft.sql/servers/encryptionprotector": _since(SQL, "2015-05-01-preview"),
    "microsoft.sql/servers/auditingsettings": _since(SQL, "2015-05-01-preview"),
    "microsoft.sql/servers/securityalertpolicies": _since(SQL, "2017-03-01-preview"),
    "microsoft.sql/servers/vulnerabilityassessments": _since(SQL, "2018-06-01-preview"),
    "microsoft.sql/servers/sqlvulnerabilityassessments": _since(SQL, "2022-02-01-preview"),
    "microsoft.sql/servers/firewallrules": SQL,
    "microsoft.sql/managedinstances": _since(SQL, "2015-05-01-preview"),
    "microsoft.sql/managedinstances/encryptionprotector": _since(SQL, "2017-10-01-preview"),
    # App Service.
    "microsoft.web/sites": WEB,
    "microsoft.web/sites/config": WEB,
    # Monitor.
    "microsoft.insights/diagnosticsettings": DIAGNOSTIC_SETTINGS,
    "microsoft.insights/activitylogalerts": ACTIVITY_LOG_ALERTS,
    # Authorization.
    "microsoft.authorization/roleassignments": ROLE_ASSIGNMENTS,
    "microsoft.authorization/roledefinitions": ROLE_ASSIGNMENTS,
    "microsoft.authorization/classicadministrators": _v("2014-04-01-preview 2015-06-01 2015-07-01"),
    "microsoft.authorization/roleeligibilityschedules": PIM_SCHEDULES,
    "microsoft.authorization/roleassignmentschedules": PIM_SCHEDULES,
    "microsoft.authorization/policyassignments": POLICY,
    "microsoft.authorization/policydefinitions": POLICY,
    "microsoft.authorization/policysetdefinitions": _since(POLICY, "2017-06-01-preview"),
    "microsoft.authorization/locks": LOCKS,
    "microsoft.authorization/policyexemptions": POLICY_EXEMPTIONS,
    # Log Analytics, compute, Defender for Cloud, backup.
    "microsoft.operationalinsights/workspaces": OPERATIONAL_INSIGHTS,
    "microsoft.operationalinsights/workspaces/tables": _since(OPERATIONAL_INSIGHTS, "2021-12-01"),
    "microsoft.compute/virtualmachines": COMPUTE,
    "microsoft.compute/disks": COMPUTE_DISKS,
    "microsoft.compute/diskencryptionsets": _since(COMPUTE_DISKS, "2019-07-01"),
    "microsoft.security/pricings": SECURITY_PRICINGS,
    "microsoft.security/securitycontacts": SECURITY_CONTACTS,
    "microsoft.security/locations/jitnetworkaccesspolicies": SECURITY_JIT,
    "microsoft.security/jitnetworkaccesspolicies": SECURITY_JIT,
    "microsoft.recoveryservices/vaults": RECOVERY_SERVICES,
    "microsoft.recoveryservices/vaults/backupfabrics/protectioncontainers/protecteditems": (
        RECOVERY_SERVICES
    ),
    "microsoft.recoveryservices/vaults/backupprotecteditems": RECOVERY_SERVICES,
    # The other PHI data services the catalog reads.
    "microsoft.dbforpostgresql/flexibleservers": POSTGRES_FLEXIBLE,
    "microsoft.dbforpostgresql/flexibleservers/configurations": POSTGRES_FLEXIBLE,
    "microsoft.dbformysql/flexibleservers": MYSQL_FLEXIBLE,
    "microsoft.dbformysql/flexibleservers/configurations": MYSQL_FLEXIBLE,
    "microsoft.cache/redis": REDIS,
    "microsoft.containerregistry/registries": CONTAINER_REGISTRY,
    "microsoft.search/searchservices": SEARCH,
    "microsoft.servicebus/namespaces": SERVICE_BUS,
    "microsoft.eventhub/namespaces": EVENT_HUB,
}


@dataclass(frozen=True)
class ClientVersion:
    """An api-version an outside client sends by default, and which client that is."""

    type_key: str
    version: str
    client: str


# Type, version, client: the defaults of the azure-mgmt-* packages Prowler 5.46.0 and c7n-azure
# 0.7.52 pin, for the types the catalog reads (read from each package: DEFAULT_API_VERSION, its
# profile, or the operation's own pinned version), and of the SDKs phiguard's tests drive the
# simulated tenant with (requirements-dev.txt).
_CLIENT_TABLE = """
microsoft.resources/subscriptions                         2016-06-01         azure-mgmt-subscription 3.1.1 (Prowler)
microsoft.resources/subscriptions                         2022-12-01         azure-mgmt-resource 23.4/24.0 SubscriptionClient
microsoft.resources/resources                             2025-03-01         azure-mgmt-resource 23.4.0 (Custodian)
microsoft.resources/resources                             2025-04-01         azure-mgmt-resource 24.0.0 (Prowler)
microsoft.resources/providers                             2025-03-01         azure-mgmt-resource 23.4.0 (Custodian providers.get)
microsoft.storage/storageaccounts                         2024-01-01         azure-mgmt-storage 22.1.1 / 22.2.0
microsoft.storage/storageaccounts/blobservices            2024-01-01         azure-mgmt-storage 22.x
microsoft.storage/storageaccounts/fileservices            2024-01-01         azure-mgmt-storage 22.x
microsoft.network/networksecuritygroups                   2024-05-01         azure-mgmt-network 28.1.0
microsoft.network/networkwatchers                         2024-05-01         azure-mgmt-network 28.1.0
microsoft.network/networkwatchers/flowlogs                2024-05-01         azure-mgmt-network 28.1.0
microsoft.keyvault/vaults                                 2023-07-01         azure-mgmt-keyvault 10.3.1 (Prowler)
microsoft.keyvault/vaults/keys                            2023-07-01         azure-mgmt-keyvault 10.3.1 (Prowler)
microsoft.keyvault/vaults/secrets                         2023-07-01         azure-mgmt-keyvault 10.3.1 (Prowler)
microsoft.keyvault/vaults                                 2025-05-01         azure-mgmt-keyvault 12.1.1 (Custodian)
microsoft.sql/servers                                     2021-02-01-preview azure-mgmt-sql 3.0.1
microsoft.sql/servers/databases                           2021-02-01-preview azure-mgmt-sql 3.0.1
microsoft.sql/servers/databases/transparentdataencryption 2014-04-01         azure-mgmt-sql 3.0.1
microsoft.sql/servers/encryptionprotector                 2020-11-01-preview azure-mgmt-sql 3.0.1
microsoft.sql/servers/auditingsettings                    2020-11-01-preview azure-mgmt-sql 3.0.1
microsoft.sql/servers/securityalertpolicies               2020-11-01-preview azure-mgmt-sql 3.0.1
microsoft.sql/servers/vulnerabilityassessments            2020-11-01-preview azure-mgmt-sql 3.0.1
microsoft.sql/servers/firewallrules                       2020-11-01-preview azure-mgmt-sql 3.0.1
microsoft.web/sites                                       2024-04-01         azure-mgmt-web 8.0.0 (Prowler)
microsoft.web/sites/config                                2024-04-01         azure-mgmt-web 8.0.0 (Prowler)
microsoft.web/sites                                       2021-01-01         azure-mgmt-web 3.0.0 (Custodian)
microsoft.insights/diagnosticsettings                     2021-05-01-preview azure-mgmt-monitor 6.0.2 (Prowler)
microsoft.insights/diagnosticsettings                     2017-05-01-preview azure-mgmt-monitor 2.0.0 (Custodian)
microsoft.insights/activitylogalerts                      2020-10-01         azure-mgmt-monitor 6.0.2 (Prowler)
microsoft.insights/activitylogalerts                      2017-04-01         azure-mgmt-monitor 2.0.0 (Custodian)
microsoft.authorization/roleassignments                   2022-04-01         azure-mgmt-authorization 4.0.0 (Prowler)
microsoft.authorization/roledefinitions                   2022-04-01         azure-mgmt-authorization 4.0.0 (Prowler)
microsoft.authorization/roleassignments                   2015-07-01         azure-mgmt-authorization 1.0.0 (Custodian)
microsoft.authorization/roleassignments                   2018-09-01-preview azure-mgmt-authorization 1.0.0 profile
microsoft.authorization/policyassignments                 2023-04-01         azure-mgmt-resource 23.4/24.0 PolicyClient
microsoft.authorization/locks                             2016-09-01         azure-mgmt-resource 23.4/24.0 ManagementLockClient
microsoft.security/pricings                               2024-01-01         azure-mgmt-security 7.0.0 (Prowler)
microsoft.security/securitycontacts                       2023-12-01-preview Prowler's own REST call
microsoft.security/locations/jitnetworkaccesspolicies     2020-01-01         azure-mgmt-security 7.0.0
microsoft.network/networksecuritygroups                   2026-03-01         azure-mgmt-network 33.1.0 (phiguard's tests)
microsoft.storage/storageaccounts                         2026-09-01         azure-mgmt-storage 25.3.0 (phiguard's tests)
microsoft.keyvault/vaults                                 2026-05-15         azure-mgmt-keyvault 14.1.0 (phiguard's tests)
microsoft.resources/resources                             2025-04-01         azure-mgmt-resource 26.0.0 (phiguard's tests)
"""
CLIENT_VERSIONS: tuple[ClientVersion, ...] = tuple(
    ClientVersion(*line.split(maxsplit=2)) for line in _CLIENT_TABLE.strip().splitlines()
)


ARM_OWN_NAMESPACE = "microsoft.resources/"
SUPPORTED_LOCATIONS = (
    "eastus",
    "eastus2",
    "westus2",
    "westus3",
    "centralus",
    "westeurope",
    "northeurope",
)


_REGISTERED = {t: frozenset(v.lower() for v in found) for t, found in SUPPORTED.items()}


def supported(type_key: str) -> tuple[str, ...] | None:
    """The versions registered for a type (oldest first), or None when the table has no entry."""
    return SUPPORTED.get(type_key.lower())


def registered(type_key: str, version: str) -> bool:
    """True when the provider registers ``version`` for the type, or the table has no entry."""
    found = _REGISTERED.get(type_key.lower())
    return found is None or version.lower() in found


def check(type_key: str, version: str, location: Callable[[], str] | str = "") -> None:
    """Raises ARM's 400 when ``version`` is not registered for ``type_key``; a type the table
    does not list accepts any version. ``location`` (the region the message names) may be a
    callable, computed only for a refusal."""
    if registered(type_key, version):
        return
    versions = supported(type_key) or ()
    location = location() if callable(location) else location
    if type_key.lower().startswith(ARM_OWN_NAMESPACE):
        raise ArmError(
            400,
            "InvalidApiVersionParameter",
            f"The api-version '{version}' is invalid. The supported versions are "
            f"'{','.join(reversed(versions))}'.",
        )
    short = type_key.split("/", 1)[1] if "/" in type_key else type_key
    raise ArmError(
        400,
        "NoRegisteredProviderFound",
        f"No registered resource provider found for location '{location or 'eastus'}' and API "
        f"version '{version}' for type '{_display(short)}'. The supported api-versions are "
        f"'{', '.join(versions)}'. The supported locations are "
        f"'{', '.join(SUPPORTED_LOCATIONS)}'.",
    )


def _display(short_type: str) -> str:
    """The type as the provider registered it (``storageAccounts``), from the lowercase key."""
    return "/".join(_CASED.get(part, part) for part in short_type.split("/"))


# Registered casing of the type segments the table holds (the error message names the type so).
_CASED = {
    part.lower(): part
    for part in _v(
        "storageAccounts blobServices containers immutabilityPolicies fileServices queueServices "
        "tableServices networkSecurityGroups securityRules virtualNetworks subnets "
        "networkInterfaces privateEndpoints networkWatchers flowLogs applicationGateways "
        "ApplicationGatewayWebApplicationFirewallPolicies azureFirewalls frontDoors "
        "frontDoorWebApplicationFirewallPolicies vaults keys secrets accessPolicies servers "
        "databases transparentDataEncryption securityAlertPolicies auditingSettings "
        "backupLongTermRetentionPolicies backupShortTermRetentionPolicies dataMaskingPolicies "
        "encryptionProtector vulnerabilityAssessments "
        "sqlVulnerabilityAssessments firewallRules managedInstances sites config "
        "diagnosticSettings activityLogAlerts roleAssignments roleDefinitions "
        "classicAdministrators roleEligibilitySchedules roleAssignmentSchedules "
        "policyAssignments policyDefinitions policySetDefinitions locks policyExemptions "
        "workspaces tables virtualMachines disks diskEncryptionSets pricings securityContacts "
        "locations jitNetworkAccessPolicies backupFabrics protectionContainers protectedItems "
        "backupProtectedItems flexibleServers configurations redis registries searchServices "
        "namespaces"
    )
}


def providers() -> list[dict[str, Any]]:
    """The namespaces of the table with their types (registered casing) and versions."""
    by_namespace: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    for type_key, found in SUPPORTED.items():
        namespace_key, _, rest = type_key.partition("/")
        by_namespace.setdefault(namespace_key, []).append((_display(rest), found))
    return [
        {"namespace": _NAMESPACES.get(ns, ns), "types": sorted(types)}
        for ns, types in sorted(by_namespace.items())
    ]


_NAMESPACES = {
    ns.lower(): ns
    for ns in _v(
        "Microsoft.Resources Microsoft.Storage Microsoft.Network Microsoft.KeyVault "
        "Microsoft.Sql Microsoft.Web Microsoft.Insights Microsoft.Authorization "
        "Microsoft.OperationalInsights Microsoft.Compute Microsoft.Security "
        "Microsoft.RecoveryServices Microsoft.DBforPostgreSQL Microsoft.DBforMySQL "
        "Microsoft.Cache Microsoft.ContainerRegistry Microsoft.Search Microsoft.ServiceBus "
        "Microsoft.EventHub"
    )
}


def newest_for(path: str, fallback: str = "2024-05-01") -> str:
    """The newest version registered for the type a path addresses, preview or not (what the
    portal sends when a person changes a resource), else ``fallback``."""
    from sim import ids

    target = ids.parse(path)
    type_key = ""
    if target is not None:
        type_key = {
            "subscriptions": "microsoft.resources/subscriptions",
            "subscription": "microsoft.resources/subscriptions",
            "resource_groups": "microsoft.resources/resourcegroups",
            "resource_group": "microsoft.resources/resourcegroups",
            "generic_list": "microsoft.resources/resources",
        }.get(target.kind, target.type_key)
    found = supported(type_key)
    return max(found, key=lambda v: (v[:10], len(v) == 10)) if found else fallback
