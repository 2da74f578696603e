"""What real ARM answers for documents every parent has without anyone creating them (issues 14
and 15), and lists that ARM serves under another type's name.

* Singletons: a resource provider answers a GET of these with its service defaults while the
  parent exists, even when nobody ever wrote them. The simulated tenant does the same, so a
  generated estate need not hold thousands of default documents, and a client that reads them
  (Prowler, Cloud Custodian, phiguard) sees what a fresh tenant shows instead of a 404. A stored
  document always wins over the default. The defaults are the published "never configured"
  shapes of each Get operation:

  - Storage: ``blobServices/default`` (BlobServices_GetServiceProperties: soft delete off),
    ``fileServices/default`` (share soft delete on, 7 days, as for accounts created since 2021),
    ``queueServices/default`` and ``tableServices/default`` (CORS only).
  - SQL server: ``auditingSettings/default`` (ServerBlobAuditingPolicies_Get: Disabled),
    ``securityAlertPolicies/default`` (ServerSecurityAlertPolicies_Get: Disabled, no e-mails),
    ``vulnerabilityAssessments/default`` (ServerVulnerabilityAssessments_Get: no storage
    container, recurring scans off), ``sqlVulnerabilityAssessments/default`` (express
    configuration: Disabled), ``encryptionProtector/current`` (service-managed key).
  - SQL database: ``transparentDataEncryption/current`` (Enabled: TDE is on by default for
    every database created since 2017), ``securityAlertPolicies/default``,
    ``auditingSettings/default`` (database-level auditing: Disabled),
    ``backupShortTermRetentionPolicies/default`` (7 days), ``dataMaskingPolicies/Default``
    (Disabled) and ``backupLongTermRetentionPolicies/default`` (no long-term retention).
  - A list of one of these types (ListByServer, ListByDatabase) holds the default too, except
    ``sites/config`` (WebApps_ListConfigurations lists ``web`` only).
  - App Service: ``config/authsettingsV2`` (Easy Auth off). ``config/web`` has no default
    here: the estates write every site's configuration, and its defaults depend on the stack.

  The demo and generated estates write TDE, the encryption protector and server auditing for
  every server and database they hold, so those defaults never hide what an estate wrote; they
  answer only for databases and servers a client creates.
* ``GET {site}/config/authsettingsV2/list`` (WebApps_GetAuthSettingsV2, a GET in the REST spec,
  the variant "with secrets") answers the same document as ``config/authsettingsV2``: the
  simulated tenant holds no identity-provider secrets, so the two are equal.
* ``POST {site}/config/authsettings/list`` (WebApps_ListAuthSettings, the V1 format Cloud
  Custodian's azure-mgmt-web 3.0.0 reads) answers the V1 view of the site's ``authsettingsV2``
  (written or default), ``configVersion`` "v2".
* Alias lists: ``vaults/{v}/backupProtectedItems`` lists the documents of type
  ``vaults/backupFabrics/protectionContainers/protectedItems`` under the vault, and
  ``/subscriptions/{s}/providers/Microsoft.Security/jitNetworkAccessPolicies`` the
  ``locations/{l}/jitNetworkAccessPolicies`` of the subscription.
"""

from __future__ import annotations

import copy
from typing import Any

_NO_GUID = "00000000-0000-0000-0000-000000000000"
_CORS_ONLY: dict[str, Any] = {"cors": {"corsRules": []}}
_ALERT_POLICY_OFF: dict[str, Any] = {
    "state": "Disabled",
    "disabledAlerts": [""],
    "emailAddresses": [""],
    "emailAccountAdmins": False,
    "storageEndpoint": "",
    "retentionDays": 0,
    "creationTime": "0001-01-01T00:00:00Z",
}
_AUDITING_OFF: dict[str, Any] = {
    "state": "Disabled",
    "storageEndpoint": "",
    "retentionDays": 0,
    "auditActionsAndGroups": [],
    "storageAccountSubscriptionId": _NO_GUID,
    "isStorageSecondaryKeyInUse": False,
    "isAzureMonitorTargetEnabled": False,
    "isManagedIdentityInUse": False,
}


# (child type, the one name it answers to), both lowercase → (the document's ARM type, top-level
# members besides id/name/type, properties).
DEFAULT_SINGLETONS: dict[tuple[str, str], tuple[str, dict[str, Any], dict[str, Any]]] = {
    ("microsoft.storage/storageaccounts/blobservices", "default"): (
        "Microsoft.Storage/storageAccounts/blobServices",
        {},
        {
            **_CORS_ONLY,
            "deleteRetentionPolicy": {"allowPermanentDelete": False, "enabled": False},
        },
    ),
    ("microsoft.storage/storageaccounts/fileservices", "default"): (
        "Microsoft.Storage/storageAccounts/fileServices",
        {},
        {
            **_CORS_ONLY,
            "shareDeleteRetentionPolicy": {"enabled": True, "days": 7},
            "protocolSettings": {"smb": {}},
        },
    ),
    ("microsoft.storage/storageaccounts/queueservices", "default"): (
        "Microsoft.Storage/storageAccounts/queueServices",
        {},
        _CORS_ONLY,
    ),
    ("microsoft.storage/storageaccounts/tableservices", "default"): (
        "Microsoft.Storage/storageAccounts/tableServices",
        {},
        _CORS_ONLY,
    ),
    ("microsoft.web/sites/config", "authsettingsv2"): (
        "Microsoft.Web/sites/config",
        {},
        {
            "platform": {"enabled": False, "runtimeVersion": "~1"},
            "globalValidation": {"requireAuthentication": False},
            "identityProviders": {},
            "login": {
                "tokenStore": {"enabled": False, "tokenRefreshExtensionHours": 72.0},
                "preserveUrlFragmentsForLogins": False,
                "cookieExpiration": {"convention": "FixedTime", "timeToExpiration": "08:00:00"},
                "nonce": {"validateNonce": True, "nonceExpirationInterval": "00:05:00"},
            },
            "httpSettings": {"requireHttps": True},
        },
    ),
    ("microsoft.sql/servers/auditingsettings", "default"): (
        "Microsoft.Sql/servers/auditingSettings",
        {},
        _AUDITING_OFF,
    ),
    ("microsoft.sql/servers/securityalertpolicies", "default"): (
        "Microsoft.Sql/servers/securityAlertPolicies",
        {},
        _ALERT_POLICY_OFF,
    ),
    ("microsoft.sql/servers/vulnerabilityassessments", "default"): (
        "Microsoft.Sql/servers/vulnerabilityAssessments",
        {},
        {
            "storageContainerPath": "",
            "recurringScans": {"isEnabled": False, "emailSubscriptionAdmins": True, "emails": []},
        },
    ),
    ("microsoft.sql/servers/sqlvulnerabilityassessments", "default"): (
        "Microsoft.Sql/servers/sqlVulnerabilityAssessments",
        {},
        {"state": "Disabled"},
    ),
    ("microsoft.sql/servers/encryptionprotector", "current"): (
        "Microsoft.Sql/servers/encryptionProtector",
        {"kind": "servicemanaged"},
        {
            "serverKeyName": "ServiceManaged",
            "serverKeyType": "ServiceManaged",
            "autoRotationEnabled": False,
        },
    ),
    ("microsoft.sql/servers/databases/transparentdataencryption", "current"): (
        "Microsoft.Sql/servers/databases/transparentDataEncryption",
        {},
        {"state": "Enabled"},
    ),
    ("microsoft.sql/servers/databases/securityalertpolicies", "default"): (
        "Microsoft.Sql/servers/databases/securityAlertPolicies",
        {},
        _ALERT_POLICY_OFF,
    ),
    ("microsoft.sql/servers/databases/auditingsettings", "default"): (
        "Microsoft.Sql/servers/databases/auditingSettings",
        {"kind": "V12"},
        {k: v for k, v in _AUDITING_OFF.items() if k != "isManagedIdentityInUse"},
    ),
    ("microsoft.sql/servers/databases/backupshorttermretentionpolicies", "default"): (
        "Microsoft.Sql/servers/databases/backupShortTermRetentionPolicies",
        {},
        {"retentionDays": 7, "diffBackupIntervalInHours": 12},
    ),
    ("microsoft.sql/servers/databases/datamaskingpolicies", "default"): (
        "Microsoft.Sql/servers/databases/dataMaskingPolicies",
        {},
        {
            "dataMaskingState": "Disabled",
            "exemptPrincipals": "",
            "applicationPrincipals": "",
            "maskingLevel": "",
        },
    ),
    ("microsoft.sql/servers/databases/backuplongtermretentionpolicies", "default"): (
        "Microsoft.Sql/servers/databases/backupLongTermRetentionPolicies",
        {},
        {
            "weeklyRetention": "PT0S",
            "monthlyRetention": "PT0S",
            "yearlyRetention": "PT0S",
            "weekOfYear": 0,
        },
    ),
}

# Lists of these types hold the singleton even when never written (ServerVulnerabilityAssessments_
# ListByServer, ServerBlobAuditingPolicies_ListByServer, ... answer the default). Not
# ``sites/config``: WebApps_ListConfigurations lists ``web`` only.
LISTED_SINGLETONS = frozenset(
    type_key for type_key, _ in DEFAULT_SINGLETONS if type_key != "microsoft.web/sites/config"
)

# GET paths that answer another document: (parent type, last segments) → the segments to read.
# WebApps_GetAuthSettingsV2 is ``GET {site}/config/authsettingsV2/list``.
READ_ALIASES: dict[str, str] = {
    "/config/authsettingsv2/list": "/config/authsettingsV2",
}

# The type a list path names (lowercase) → the stored type whose documents it lists.
ALIAS_LISTS: dict[str, str] = {
    "microsoft.recoveryservices/vaults/backupprotecteditems": (
        "microsoft.recoveryservices/vaults/backupfabrics/protectioncontainers/protecteditems"
    ),
    # JitNetworkAccessPolicies_List: every location's policies of a subscription.
    "microsoft.security/jitnetworkaccesspolicies": (
        "microsoft.security/locations/jitnetworkaccesspolicies"
    ),
}


def default_singleton(type_key: str, path: str, name: str) -> dict[str, Any] | None:
    """The document ARM would answer for ``path`` (a never-written singleton), or None."""
    spec = DEFAULT_SINGLETONS.get((type_key, name.lower()))
    if spec is None:
        return None
    doc_type, extra, props = spec
    return {
        "id": path,
        "name": path.rstrip("/").rsplit("/", 1)[-1],
        "type": doc_type,
        **copy.deepcopy(extra),
        "properties": copy.deepcopy(props),
    }


def default_members(type_key: str, collection_path: str) -> list[dict[str, Any]]:
    """The never-written singletons a list of ``type_key`` at ``collection_path`` holds."""
    if type_key not in LISTED_SINGLETONS:
        return []
    base = collection_path.rstrip("/")
    out = []
    for (key, name), _ in DEFAULT_SINGLETONS.items():
        if key == type_key:
            doc = default_singleton(type_key, f"{base}/{name}", name)
            if doc is not None:
                out.append(doc)
    return out


def auth_settings_v1(site_id: str, v2: dict[str, Any]) -> dict[str, Any]:
    """WebApps_ListAuthSettings (``POST {site}/config/authsettings/list``) for a site whose
    authentication is configured in the V2 format: the V1 view of the same settings, with
    ``configVersion`` "v2" as App Service answers it (no secrets: the simulated tenant has none)."""
    props = v2.get("properties") if isinstance(v2.get("properties"), dict) else {}
    assert isinstance(props, dict)
    platform = _mapping(props.get("platform"))
    validation = _mapping(props.get("globalValidation"))
    login = _mapping(props.get("login"))
    token_store = _mapping(login.get("tokenStore"))
    aad = _mapping(_mapping(props.get("identityProviders")).get("azureActiveDirectory"))
    registration = _mapping(aad.get("registration"))
    v1: dict[str, Any] = {
        "enabled": bool(platform.get("enabled", False)),
        "runtimeVersion": platform.get("runtimeVersion", "~1"),
        "unauthenticatedClientAction": validation.get("unauthenticatedClientAction")
        or ("RedirectToLoginPage" if validation.get("requireAuthentication") else "AllowAnonymous"),
        "tokenStoreEnabled": bool(token_store.get("enabled", False)),
        "tokenRefreshExtensionHours": token_store.get("tokenRefreshExtensionHours", 72.0),
        "allowedExternalRedirectUrls": list(login.get("allowedExternalRedirectUrls") or []),
        "defaultProvider": validation.get("redirectToProvider"),
        "clientId": registration.get("clientId"),
        "issuer": registration.get("openIdIssuer"),
        "configVersion": "v2",
    }
    return {
        "id": f"{site_id.rstrip('/')}/config/authsettings",
        "name": "authsettings",
        "type": "Microsoft.Web/sites/config",
        "properties": v1,
    }


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def read_alias(path: str) -> str | None:
    """The path whose document a GET of ``path`` answers (``.../authsettingsV2/list``), or None."""
    lowered = path.rstrip("/").lower()
    for suffix, replacement in READ_ALIASES.items():
        if lowered.endswith(suffix) and "/providers/microsoft.web/sites/" in lowered:
            return path.rstrip("/")[: -len(suffix)] + replacement
    return None
