"""App Service: web and function apps (WebApps_Get) and their ``config/web`` documents."""

from __future__ import annotations

from sim.estate.common import Doc, guid, header, resource_id, ts

_SITES = "Microsoft.Web/sites"
_KINDED = ("id", "name", "type", "kind", "location", "tags")


def site_config(kind: str, *, min_tls: str, ftps: str, linux_fx: str) -> Doc:
    """The siteConfig field set of WebApps_GetConfiguration (2024-04-01)."""
    return {
        "numberOfWorkers": 1,
        "defaultDocuments": [
            "Default.htm",
            "Default.html",
            "index.html",
            "hostingstart.html",
        ],
        "netFrameworkVersion": "v4.0",
        "phpVersion": "",
        "pythonVersion": "",
        "nodeVersion": "",
        "powerShellVersion": "",
        "linuxFxVersion": linux_fx,
        "requestTracingEnabled": False,
        "remoteDebuggingEnabled": False,
        "httpLoggingEnabled": True,
        "acrUseManagedIdentityCreds": False,
        "logsDirectorySizeLimit": 35,
        "detailedErrorLoggingEnabled": False,
        "use32BitWorkerProcess": False,
        "webSocketsEnabled": False,
        "alwaysOn": "functionapp" not in kind,
        "appCommandLine": "",
        "managedPipelineMode": "Integrated",
        "virtualApplications": [
            {
                "virtualPath": "/",
                "physicalPath": "site\\wwwroot",
                "preloadEnabled": False,
            }
        ],
        "loadBalancing": "LeastRequests",
        "autoHealEnabled": False,
        "vnetName": "",
        "vnetRouteAllEnabled": False,
        "vnetPrivatePortsCount": 0,
        "http20Enabled": True,
        "minTlsVersion": min_tls,
        "scmMinTlsVersion": min_tls,
        "ftpsState": ftps,
        "functionAppScaleLimit": 0,
        "functionsRuntimeScaleMonitoringEnabled": False,
        "minimumElasticInstanceCount": 0,
        "azureStorageAccounts": {},
    }


def site(
    sub: str,
    rg: str,
    name: str,
    location: str,
    tags: dict[str, str],
    tenant: str,
    *,
    kind: str = "app",
    https_only: bool = True,
    min_tls: str = "1.2",
    ftps: str = "Disabled",
    public_network: str = "Enabled",
    identity: bool = True,
    subnet_id: str = "",
    plan: str = "",
) -> list[Doc]:
    """WebApps_Get + WebApps_GetConfiguration (``config/web``), 2024-04-01 field sets."""
    rid = resource_id(sub, rg, _SITES, name)
    linux = "linux" in kind
    linux_fx = "PYTHON|3.11" if linux else ""
    host = f"{name}.azurewebsites.net"
    octet = int(guid(rid, "ip")[:2], 16) % 250 + 1
    outbound = f"203.0.113.{octet},203.0.113.{(octet + 1) % 254 + 1}"
    props: Doc = {
        "state": "Running",
        "hostNames": [host],
        "repositorySiteName": name,
        "usageState": "Normal",
        "enabled": True,
        "enabledHostNames": [host, f"{name}.scm.azurewebsites.net"],
        "availabilityState": "Normal",
        "hostNameSslStates": [
            {"name": host, "sslState": "Disabled", "hostType": "Standard"},
            {
                "name": f"{name}.scm.azurewebsites.net",
                "sslState": "Disabled",
                "hostType": "Repository",
            },
        ],
        "serverFarmId": resource_id(sub, rg, "Microsoft.Web/serverfarms", plan or f"asp-{name}"),
        "reserved": linux,
        "isXenon": False,
        "hyperV": False,
        "lastModifiedTimeUtc": ts(900),
        "vnetRouteAllEnabled": bool(subnet_id),
        "vnetImagePullEnabled": False,
        "vnetContentShareEnabled": False,
        "siteConfig": site_config(kind, min_tls=min_tls, ftps=ftps, linux_fx=linux_fx),
        "scmSiteAlsoStopped": False,
        "clientAffinityEnabled": False,
        "clientCertEnabled": False,
        "clientCertMode": "Required",
        "hostNamesDisabled": False,
        "customDomainVerificationId": guid(rid, "domain").replace("-", "").upper(),
        "outboundIpAddresses": outbound,
        "possibleOutboundIpAddresses": outbound,
        "containerSize": 1536 if "functionapp" in kind else 0,
        "dailyMemoryTimeQuota": 0,
        "resourceGroup": rg,
        "defaultHostName": host,
        "httpsOnly": https_only,
        "redundancyMode": "None",
        "publicNetworkAccess": public_network,
        "storageAccountRequired": False,
        "keyVaultReferenceIdentity": "SystemAssigned",
    }
    if subnet_id:
        props["virtualNetworkSubnetId"] = subnet_id
    site_doc: Doc = {
        **header(rid, name, _SITES, location, tags, kind=kind, order=_KINDED),
        "properties": props,
    }
    if identity:
        site_doc["identity"] = {
            "type": "SystemAssigned",
            "tenantId": tenant,
            "principalId": guid(rid, "identity"),
        }
    config: Doc = {
        **header(
            f"{rid}/config/web",
            "web",
            f"{_SITES}/config",
            location,
            kind=kind,
            order=_KINDED,
        ),
        "properties": site_config(kind, min_tls=min_tls, ftps=ftps, linux_fx=linux_fx),
    }
    return [site_doc, config]


def auth_settings_v2(
    site_id: str,
    tenant: str,
    client_id: str,
    *,
    session: str,
    refresh_hours: float,
    require_auth: bool,
) -> Doc:
    """SitesAuthSettingsV2_Get (2024-04-01): App Service authentication with Entra ID."""
    return {
        "id": f"{site_id}/config/authsettingsV2",
        "name": "authsettingsV2",
        "type": "Microsoft.Web/sites/config",
        "kind": "app",
        "properties": {
            "platform": {"enabled": True, "runtimeVersion": "~1"},
            "globalValidation": {
                "requireAuthentication": require_auth,
                "unauthenticatedClientAction": (
                    "RedirectToLoginPage" if require_auth else "AllowAnonymous"
                ),
                "redirectToProvider": "azureactivedirectory",
            },
            "identityProviders": {
                "azureActiveDirectory": {
                    "enabled": True,
                    "registration": {
                        "openIdIssuer": f"https://sts.windows.net/{tenant}/v2.0",
                        "clientId": client_id,
                        "clientSecretSettingName": "MICROSOFT_PROVIDER_AUTHENTICATION_SECRET",
                    },
                    "validation": {"allowedAudiences": [f"api://{client_id}"]},
                }
            },
            "login": {
                "tokenStore": {"enabled": True, "tokenRefreshExtensionHours": refresh_hours},
                "preserveUrlFragmentsForLogins": False,
                "cookieExpiration": {"convention": "FixedTime", "timeToExpiration": session},
                "nonce": {"validateNonce": True, "nonceExpirationInterval": "00:05:00"},
            },
            "httpSettings": {
                "requireHttps": True,
                "routes": {"apiPrefix": "/.auth"},
                "forwardProxy": {"convention": "NoProxy"},
            },
        },
    }
