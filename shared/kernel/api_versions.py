"""ARM api-versions, pinned in one place (related documents carry theirs in shared.kernel.related)."""

from __future__ import annotations

DEFAULT = "2021-04-01"

BY_TYPE: dict[str, str] = {
    "microsoft.resources/subscriptions": "2022-12-01",
    "microsoft.resources/resourcegroups": "2021-04-01",
    "microsoft.storage/storageaccounts": "2025-01-01",
    "microsoft.storage/storageaccounts/blobservices": "2025-01-01",
    "microsoft.network/networksecuritygroups": "2024-05-01",
    "microsoft.network/networksecuritygroups/securityrules": "2024-05-01",
    "microsoft.network/virtualnetworks": "2024-05-01",
    "microsoft.network/privateendpoints": "2024-05-01",
    "microsoft.network/networkwatchers": "2024-05-01",
    "microsoft.network/networkwatchers/flowlogs": "2024-05-01",
    "microsoft.network/applicationgateways": "2024-05-01",
    "microsoft.network/applicationgatewaywebapplicationfirewallpolicies": "2024-05-01",
    "microsoft.network/frontdoorwebapplicationfirewallpolicies": "2024-02-01",
    "microsoft.network/azurefirewalls": "2024-05-01",
    # Front Door (classic): its provider's newest stable version (Pulumi azure-native's
    # frontdoor module, "Uses Azure REST API version 2021-06-01").
    "microsoft.network/frontdoors": "2021-06-01",
    # Stable versions as listed by Pulumi azure-native's generated docs for each provider.
    "microsoft.containerservice/managedclusters": "2024-10-01",
    "microsoft.documentdb/databaseaccounts": "2024-11-15",
    "microsoft.healthcareapis/services": "2024-03-31",
    "microsoft.healthcareapis/workspaces": "2024-03-31",
    "microsoft.healthcareapis/workspaces/fhirservices": "2024-03-31",
    "microsoft.cdn/profiles": "2025-04-15",
    "microsoft.cdn/profiles/customdomains": "2025-04-15",
    "microsoft.cdn/profiles/securitypolicies": "2025-04-15",
    "microsoft.keyvault/vaults": "2024-11-01",
    "microsoft.sql/servers": "2023-08-01",
    "microsoft.sql/servers/databases": "2023-08-01",
    "microsoft.web/sites": "2024-04-01",
    "microsoft.operationalinsights/workspaces": "2025-02-01",
    "microsoft.compute/disks": "2024-03-02",
    "microsoft.compute/virtualmachines": "2024-07-01",
    "microsoft.compute/diskencryptionsets": "2024-03-02",
    "microsoft.authorization/roleassignments": "2022-04-01",
    "microsoft.authorization/classicadministrators": "2015-07-01",
    "microsoft.authorization/roledefinitions": "2022-04-01",
    "microsoft.authorization/roleeligibilityschedules": "2020-10-01",
    "microsoft.authorization/roleassignmentschedules": "2020-10-01",
    "microsoft.authorization/policyassignments": "2023-04-01",
    "microsoft.insights/diagnosticsettings": "2021-05-01-preview",
    "microsoft.insights/activitylogalerts": "2020-10-01",
    # Issue 14: the PHI data services, backup and Defender for Cloud. Stable versions named in
    # the providers' REST API specs (azure-rest-api-specs, specification/<provider>/resource-manager).
    "microsoft.dbforpostgresql/flexibleservers": "2024-08-01",
    "microsoft.dbforpostgresql/flexibleservers/configurations": "2024-08-01",
    "microsoft.dbformysql/flexibleservers": "2023-12-30",
    "microsoft.dbformysql/flexibleservers/configurations": "2023-12-30",
    "microsoft.sql/managedinstances": "2023-08-01",
    "microsoft.sql/servers/firewallrules": "2023-08-01",
    "microsoft.cache/redis": "2024-11-01",
    "microsoft.containerregistry/registries": "2023-07-01",
    "microsoft.search/searchservices": "2023-11-01",
    "microsoft.servicebus/namespaces": "2024-01-01",
    "microsoft.eventhub/namespaces": "2024-01-01",
    "microsoft.recoveryservices/vaults": "2024-04-01",
    "microsoft.storage/storageaccounts/fileservices": "2025-01-01",
    "microsoft.security/pricings": "2024-01-01",
    "microsoft.security/securitycontacts": "2023-12-01-preview",
    "microsoft.network/networkinterfaces": "2024-05-01",
    "microsoft.security/locations/jitnetworkaccesspolicies": "2020-01-01",
}


def for_type(resource_type: str) -> str:
    return BY_TYPE.get(resource_type.lower(), DEFAULT)
