"""What real ARM answers for documents every parent has without anyone creating them (issue 14),
and lists that ARM serves under another type's name.

* Singletons: ``fileServices/default`` of a storage account, ``config/authsettingsV2`` of a
  site, ``backupLongTermRetentionPolicies/default`` of a SQL database and
  ``sqlVulnerabilityAssessments/default`` of a SQL server always answer a GET with their
  service defaults, even when never written. The simulated tenant does the same while the
  parent exists, so a generated estate need not hold thousands of default documents.
* Alias lists: ``vaults/{v}/backupProtectedItems`` lists the documents of type
  ``vaults/backupFabrics/protectionContainers/protectedItems`` under the vault, and
  ``/subscriptions/{s}/providers/Microsoft.Security/jitNetworkAccessPolicies`` the
  ``locations/{l}/jitNetworkAccessPolicies`` of the subscription.
"""

from __future__ import annotations

import copy
from typing import Any

# Child type (lowercase) → (the one name it answers to, the document's ARM type, properties).
DEFAULT_SINGLETONS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "microsoft.storage/storageaccounts/fileservices": (
        "default",
        "Microsoft.Storage/storageAccounts/fileServices",
        {
            "cors": {"corsRules": []},
            # Soft delete for shares is on (7 days) for accounts created since 2021.
            "shareDeleteRetentionPolicy": {"enabled": True, "days": 7},
            "protocolSettings": {"smb": {}},
        },
    ),
    "microsoft.web/sites/config": (
        "authsettingsv2",
        "Microsoft.Web/sites/config",
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
    "microsoft.sql/servers/databases/backuplongtermretentionpolicies": (
        "default",
        "Microsoft.Sql/servers/databases/backupLongTermRetentionPolicies",
        {
            "weeklyRetention": "PT0S",
            "monthlyRetention": "PT0S",
            "yearlyRetention": "PT0S",
            "weekOfYear": 0,
        },
    ),
    "microsoft.sql/servers/sqlvulnerabilityassessments": (
        "default",
        "Microsoft.Sql/servers/sqlVulnerabilityAssessments",
        {"state": "Disabled"},
    ),
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
    spec = DEFAULT_SINGLETONS.get(type_key)
    if spec is None or name.lower() != spec[0]:
        return None
    _, doc_type, props = spec
    return {
        "id": path,
        "name": path.rstrip("/").rsplit("/", 1)[-1],
        "type": doc_type,
        "properties": copy.deepcopy(props),
    }
