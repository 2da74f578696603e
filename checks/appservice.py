"""App Service checks (``microsoft.web/sites``: web apps and function apps, told apart by ``kind``).

Most site settings that matter for HIPAA live in the site configuration (``sites/config/web``),
which these checks read from the ``web_config`` related document: the ``siteConfig`` embedded in
a site GET is often returned with null values, so it is not evidence.

Azure Policy has separate built-in definitions for web apps and function apps; each check cites
both where both exist.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from checks.common import Evidence, as_bool, audit_logs_result
from checks.registry import check, register_policy_definitions
from shared.kernel.findings import Result, Severity, not_applicable
from shared.kernel.snapshot import MalformedResource, Snapshot

# Built-in definitions verified in Azure/azure-policy, built-in-policies/policyDefinitions/App Service/
# (display names as renamed in 2022, see the App Service policy change log in azure-docs).
register_policy_definitions(
    {
        # AppService_RequireLatestTls_FunctionApp_Audit.json
        "f9d614c5-c173-4d56-95a7-b4437057d193": "Function apps should use the latest TLS version",
        # AppService_AuditFTPS_FunctionApp_Audit.json
        "399b2637-a50f-4f95-96f8-3a145476eb15": "Function apps should require FTPS only",
        # AppService_UseManagedIdentity_WebApp_Audit.json
        "2b9ad585-36bc-4615-b300-fd4435808332": "App Service apps should use managed identity",
        # AppService_UseManagedIdentity_FunctionApp_Audit.json
        "0da106f2-4ca3-48e8-bc85-c638fe6aea8f": "Function apps should use managed identity",
        # AppService_WebApp_PublicNetworkAccess_Audit.json
        "1b5ef780-c53c-4a64-87f3-bb9c8c8094ba": (
            "App Service apps should disable public network access"
        ),
        # AppService_FunctionApp_PublicNetworkAccess_Audit.json
        "969ac98b-88a8-449f-883c-2e9adb123127": "Function apps should disable public network access",
        # AppService_DisableRemoteDebugging_WebApp_Audit.json
        "cb510bfd-1cba-4d9f-a230-cb0976f4bb71": (
            "App Service apps should have remote debugging turned off"
        ),
        # AppService_DisableRemoteDebugging_FunctionApp_Audit.json
        "0e60b895-3786-45da-8377-9c6b4b6ac5f9": (
            "Function apps should have remote debugging turned off"
        ),
    }
)

SITES = ("microsoft.web/sites",)
WEB_CONFIG = "related.web_config.properties"
MINIMUM_TLS = (1, 2)

# Diagnostic-setting categories that record who accessed the app (supported-logs reference for
# Microsoft.Web/sites); function apps only offer FunctionAppLogs.
WEB_APP_ACCESS_LOGS = ("AppServiceHTTPLogs", "AppServiceAuditLogs", "AppServiceIPSecAuditLogs")
FUNCTION_APP_LOGS = ("FunctionAppLogs",)

_TLS_RE = re.compile(r"^(\d+)\.(\d+)$")


def _app_kind(snapshot: Snapshot) -> str:
    """The app kind for reasons: a function app when ``kind`` contains ``functionapp`` (the test
    Azure Policy uses), otherwise a web app."""
    return "function app" if "functionapp" in snapshot.kind else "web app"


def _web_config(snapshot: Snapshot) -> Mapping[str, Any]:
    """``properties`` of the ``sites/config/web`` document; malformed shapes raise."""
    doc = snapshot.doc("web_config")
    if not isinstance(doc, Mapping):
        raise MalformedResource(f"related.web_config is {type(doc).__name__}, expected an object")
    props = doc.get("properties")
    if props is None:
        return {}
    if not isinstance(props, Mapping):
        raise MalformedResource(
            f"related.web_config.properties is {type(props).__name__}, expected an object"
        )
    return props


def _setting(ev: Evidence, props: Mapping[str, Any], key: str, default: Any) -> Any:
    """A site-config value recorded as evidence; null or absent gives ``default``, marked so."""
    return ev.read_in(props, key, default, f"{WEB_CONFIG}.{key}")


def tls_version(value: Any, where: str) -> tuple[int, int]:
    """``"1.2"`` (App Service's spelling; ``TLS1_2`` also accepted) as ``(1, 2)``."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise MalformedResource(f"{where} is {value!r}, not a TLS version")
    text = str(value).strip().upper().removeprefix("TLS").replace("_", ".").strip()
    match = _TLS_RE.match(text)
    if not match:
        raise MalformedResource(f"{where} is {value!r}, not a TLS version")
    return int(match.group(1)), int(match.group(2))


def _tls_result(snapshot: Snapshot, key: str, what: str) -> Result:
    ev = Evidence(snapshot)
    raw = _setting(ev, _web_config(snapshot), key, "1.2")
    version = tls_version(raw, f"{WEB_CONFIG}.{key}")
    if version >= MINIMUM_TLS:
        return ev.passed(f"The {what} requires TLS {version[0]}.{version[1]} or newer.")
    return ev.failed(
        f"The {what} accepts TLS {version[0]}.{version[1]}, older than the required TLS 1.2."
    )


@check(
    id="appservice_site_https_only",
    title="App Service apps accept only HTTPS traffic",
    severity=Severity.HIGH,
    resource_types=SITES,
    hipaa=("164.312(e)(1)", "164.312(e)(2)(ii)"),
    azure_policy=("a4af4a39-4135-47fb-b175-47fbdf85311d", "6d555dd1-86f2-4f1c-8ed7-5abae7c6cbab"),
    guidance="Set httpsOnly to true (TLS/SSL settings > HTTPS Only) so HTTP requests are "
    "redirected to HTTPS.",
)
def appservice_site_https_only(snapshot: Snapshot) -> Result:
    """PASS when ``properties.httpsOnly`` is true; FAIL when it is false or absent, because the
    app then also serves plain HTTP and PHI can cross the network unencrypted. Absent means
    false: the property defaults to false and the built-in policies (a4af4a39 for web apps,
    6d555dd1 for function apps) flag a missing value as non-compliant. NOT_APPLICABLE for a
    function app hosted in Azure Container Apps (``kind`` contains ``azurecontainerapps``): its
    ingress is the Container Apps environment's, not the site's, and the function-app policy
    excludes that kind. Logic Apps Standard (``workflowapp``), which that policy also excludes,
    stay in scope: they serve HTTP triggers through the site's own front end."""
    ev = Evidence(snapshot)
    if "azurecontainerapps" in snapshot.kind:
        return not_applicable(
            "The function app runs in Azure Container Apps, whose environment's ingress, not the "
            "site's httpsOnly, decides whether plain HTTP is served."
        )
    https_only = as_bool(ev.read("properties.httpsOnly", False), "properties.httpsOnly")
    if https_only:
        return ev.passed(f"The {_app_kind(snapshot)} redirects HTTP to HTTPS.")
    return ev.failed(f"The {_app_kind(snapshot)} also accepts unencrypted HTTP requests.")


@check(
    id="appservice_site_min_tls_1_2",
    title="App Service apps require TLS 1.2 or newer for incoming requests",
    severity=Severity.HIGH,
    resource_types=SITES,
    hipaa=("164.312(e)(1)", "164.312(e)(2)(ii)"),
    azure_policy=("f0e6e85b-9b9f-4a4b-b67b-f730d42f1b0b", "f9d614c5-c173-4d56-95a7-b4437057d193"),
    needs=("web_config",),
    guidance="Set the site configuration's minTlsVersion to 1.2 or 1.3 (Configuration > "
    "General settings > Minimum Inbound TLS Version).",
)
def appservice_site_min_tls_1_2(snapshot: Snapshot) -> Result:
    """PASS when ``sites/config/web`` ``minTlsVersion`` is 1.2 or newer; FAIL for 1.0 or 1.1,
    which have known weaknesses and put PHI in transit at risk. Absent means 1.2: Microsoft's
    App Service TLS overview (learn.microsoft.com/azure/app-service/overview-tls) states the
    minimum TLS version defaults to 1.2 on both portal and API."""
    return _tls_result(snapshot, "minTlsVersion", _app_kind(snapshot))


@check(
    id="appservice_scm_min_tls_1_2",
    title="App Service SCM (Kudu) sites require TLS 1.2 or newer",
    severity=Severity.MEDIUM,
    resource_types=SITES,
    hipaa=("164.312(e)(1)", "164.312(e)(2)(ii)"),
    needs=("web_config",),
    guidance="Set the site configuration's scmMinTlsVersion to 1.2 or 1.3 (Configuration > "
    "General settings > SCM Minimum Inbound TLS Version).",
)
def appservice_scm_min_tls_1_2(snapshot: Snapshot) -> Result:
    """PASS when ``sites/config/web`` ``scmMinTlsVersion`` is 1.2 or newer; FAIL for 1.0 or 1.1.
    The SCM (Kudu) site carries deployments, log streams and the app's files, which may hold PHI,
    and its TLS floor is set separately from the app's. Absent means 1.2: the App Service TLS
    overview states the SCM minimum TLS version also defaults to 1.2."""
    return _tls_result(snapshot, "scmMinTlsVersion", f"{_app_kind(snapshot)}'s SCM site")


@check(
    id="appservice_site_ftps_only",
    title="App Service apps allow FTPS only or have FTP deployment disabled",
    severity=Severity.HIGH,
    resource_types=SITES,
    hipaa=("164.312(e)(1)", "164.312(e)(2)(ii)"),
    azure_policy=("4d24b6d4-5e53-4a4f-a7f4-618fa573ee4b", "399b2637-a50f-4f95-96f8-3a145476eb15"),
    needs=("web_config",),
    guidance="Set the site configuration's ftpsState to FtpsOnly, or Disabled when FTP "
    "deployment is not used.",
)
def appservice_site_ftps_only(snapshot: Snapshot) -> Result:
    """PASS when ``sites/config/web`` ``ftpsState`` is ``FtpsOnly`` or ``Disabled``; FAIL when it
    is ``AllAllowed``, because plain FTP sends deployment credentials and files (which may
    contain PHI) unencrypted. Absent is a FAIL: no default is relied on, and the built-in policy
    (4d24b6d4) only counts an explicit FtpsOnly or Disabled as compliant."""
    ev = Evidence(snapshot)
    state = _setting(ev, _web_config(snapshot), "ftpsState", None)
    if state is None:
        return ev.failed("The site configuration does not report ftpsState, so FTP may be open.")
    if not isinstance(state, str):
        raise MalformedResource(f"{WEB_CONFIG}.ftpsState is {state!r}, expected a string")
    value = state.strip().lower()
    if value == "disabled":
        return ev.passed("FTP and FTPS deployment are disabled.")
    if value == "ftpsonly":
        return ev.passed("Only FTPS (FTP over TLS) is accepted.")
    if value == "allallowed":
        return ev.failed("Unencrypted FTP is allowed alongside FTPS.")
    raise MalformedResource(f"{WEB_CONFIG}.ftpsState is {state!r}, not a known FTP state")


@check(
    id="appservice_site_managed_identity_enabled",
    title="App Service apps handling PHI authenticate to Azure with a managed identity",
    severity=Severity.MEDIUM,
    resource_types=SITES,
    hipaa=("164.312(d)", "164.312(a)(2)(i)"),
    azure_policy=("2b9ad585-36bc-4615-b300-fd4435808332", "0da106f2-4ca3-48e8-bc85-c638fe6aea8f"),
    phi_only=True,
    guidance="Enable a system-assigned or user-assigned managed identity (Identity blade) and use "
    "it, instead of keys or connection strings, to reach storage, databases and Key Vault.",
    limitations="Shows only that an identity exists; whether the app still uses stored secrets "
    "(app settings, connection strings) is not visible here.",
)
def appservice_site_managed_identity_enabled(snapshot: Snapshot) -> Result:
    """PASS when ``identity.type`` includes ``SystemAssigned`` or ``UserAssigned``; FAIL when it
    is ``None`` or absent, because a PHI app without a managed identity has to hold long-lived
    secrets to reach PHI stores, and leaked secrets authenticate anyone. Absent means no
    identity: ARM omits ``identity`` when none is assigned."""
    ev = Evidence(snapshot)
    raw = ev.read("identity.type", "None")
    if not isinstance(raw, str):
        raise MalformedResource(f"identity.type is {raw!r}, expected a string")
    kinds = {part.strip().lower() for part in raw.split(",") if part.strip()}
    unknown = kinds - {"none", "systemassigned", "userassigned"}
    if unknown:
        raise MalformedResource(f"identity.type is {raw!r}, not a known identity type")
    if kinds & {"systemassigned", "userassigned"}:
        return ev.passed(f"The {_app_kind(snapshot)} has a managed identity ({raw.strip()}).")
    return ev.failed(f"The {_app_kind(snapshot)} has no managed identity.")


@check(
    id="appservice_site_public_network_access_disabled",
    title="App Service apps handling PHI have public network access disabled",
    severity=Severity.HIGH,
    resource_types=SITES,
    hipaa=("164.312(a)(1)", "164.312(e)(1)"),
    azure_policy=("1b5ef780-c53c-4a64-87f3-bb9c8c8094ba", "969ac98b-88a8-449f-883c-2e9adb123127"),
    phi_only=True,
    guidance="Set publicNetworkAccess to Disabled and reach the app through a private endpoint "
    "(Networking > Public network access).",
    limitations="Access restrictions (IP rules) and the private endpoints themselves are not "
    "evaluated; an app with an empty publicNetworkAccess and a private endpoint may block public "
    "traffic in practice but is still reported, as the built-in policy does.",
)
def appservice_site_public_network_access_disabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.publicNetworkAccess`` is ``Disabled``; FAIL for ``Enabled``, an
    empty string or absent, because a PHI app reachable from the Internet exposes PHI to anyone
    who gets past its authentication. Absent or empty counts as not disabled, as the built-in
    policies 1b5ef780 (web apps) and 969ac98b (function apps) treat it."""
    ev = Evidence(snapshot)
    raw = ev.read("properties.publicNetworkAccess", "")
    if not isinstance(raw, str):
        raise MalformedResource(f"properties.publicNetworkAccess is {raw!r}, expected a string")
    if raw.strip().lower() == "disabled":
        return ev.passed(f"Public network access to the {_app_kind(snapshot)} is disabled.")
    if raw.strip().lower() in {"", "enabled"}:
        return ev.failed(f"The {_app_kind(snapshot)} is reachable from public networks.")
    raise MalformedResource(f"properties.publicNetworkAccess is {raw!r}, not Enabled or Disabled")


@check(
    id="appservice_site_resource_logs_enabled",
    remediation="monitoring_diagnostic_settings_audit",
    title="App Service apps handling PHI send access and audit logs to a workspace or storage",
    severity=Severity.HIGH,
    resource_types=SITES,
    hipaa=("164.312(b)", "164.308(a)(1)(ii)(D)"),
    azure_policy=("91a78b24-f231-4a8a-8da9-02c35b2b6510",),
    phi_only=True,
    needs=("diagnostic_settings",),
    patterns=("P5",),
    guidance="Add a diagnostic setting that sends AppServiceHTTPLogs, AppServiceAuditLogs and "
    "AppServiceIPSecAuditLogs (web apps) or FunctionAppLogs (function apps), or the allLogs group, "
    "to a Log Analytics workspace or storage account kept for six years.",
    limitations="The retention of the destination is not visible here (see "
    "monitoring_workspace_total_retention_six_years), nor whether a storage destination is "
    "immutable. The cited policy covers web apps only; no built-in covers function apps.",
)
def appservice_site_resource_logs_enabled(snapshot: Snapshot) -> Result:
    """PASS when a diagnostic setting sends the app's access logs (web apps: AppServiceHTTPLogs,
    AppServiceAuditLogs or AppServiceIPSecAuditLogs; function apps: FunctionAppLogs; or the
    ``allLogs``/``audit`` group) to a Log Analytics workspace or storage account; FAIL when no
    setting does, because requests to a PHI app would leave no reviewable record. No diagnostic
    setting exists by default."""
    if _app_kind(snapshot) == "function app":
        return audit_logs_result(snapshot, FUNCTION_APP_LOGS, "function app logs")
    return audit_logs_result(snapshot, WEB_APP_ACCESS_LOGS, "HTTP and audit logs")


@check(
    id="appservice_site_remote_debugging_disabled",
    title="App Service apps have remote debugging turned off",
    severity=Severity.MEDIUM,
    resource_types=SITES,
    hipaa=("164.312(a)(1)",),
    azure_policy=("cb510bfd-1cba-4d9f-a230-cb0976f4bb71", "0e60b895-3786-45da-8377-9c6b4b6ac5f9"),
    needs=("web_config",),
    guidance="Set the site configuration's remoteDebuggingEnabled to false (Configuration > "
    "General settings > Remote debugging: Off).",
)
def appservice_site_remote_debugging_disabled(snapshot: Snapshot) -> Result:
    """PASS when ``sites/config/web`` ``remoteDebuggingEnabled`` is false; FAIL when it is true,
    because remote debugging opens extra inbound ports and lets a debugger read the running
    app's memory, PHI included. Absent means false: remote debugging is off unless turned on
    (the published GetSiteConfig example reports false)."""
    ev = Evidence(snapshot)
    enabled = as_bool(
        _setting(ev, _web_config(snapshot), "remoteDebuggingEnabled", False),
        f"{WEB_CONFIG}.remoteDebuggingEnabled",
    )
    if enabled:
        return ev.failed(f"Remote debugging is enabled on the {_app_kind(snapshot)}.")
    return ev.passed(f"Remote debugging is off on the {_app_kind(snapshot)}.")


# --- issue 14, area 6: network remainder --------------------------------------------------------

register_policy_definitions(
    {
        # Issue 14: ids and display names cross-checked against Azure's built-in policy
        # reference tables and public policy sets that cite them (not read from
        # Azure/azure-policy itself).
        "5744710e-cc2f-4ee8-8809-3b11e89f4bc9": (
            "App Service apps should not have CORS configured to allow every resource to access "
            "your apps"
        ),
    }
)

# The service tag of Azure Front Door's back end, and the header that pins it to one profile.
_FRONT_DOOR_TAG = "azurefrontdoor.backend"
_FRONT_DOOR_HEADER = "x-azure-fdid"


@check(
    id="appservice_site_cors_no_wildcard",
    title="PHI web apps do not allow every origin through CORS",
    severity=Severity.MEDIUM,
    resource_types=SITES,
    hipaa=("164.312(a)(1)", "164.312(e)(1)"),
    azure_policy=("5744710e-cc2f-4ee8-8809-3b11e89f4bc9",),
    phi_only=True,
    needs=("web_config",),
    guidance="List the exact origins that need the API in CORS > Allowed origins instead of '*'.",
)
def appservice_site_cors_no_wildcard(snapshot: Snapshot) -> Result:
    """PASS when ``cors.allowedOrigins`` of the site config lists no ``*``; FAIL when it does,
    because any web page a signed-in user visits could then call the app and read the PHI it
    returns. Absent CORS means no cross-origin access (browsers refuse)."""
    ev = Evidence(snapshot)
    props = _web_config(snapshot)
    origins = _setting(ev, props, "cors.allowedOrigins", [])
    if not isinstance(origins, list) or not all(isinstance(o, str) for o in origins):
        raise MalformedResource(f"{WEB_CONFIG}.cors.allowedOrigins is not a list of strings")
    if any(o.strip() == "*" for o in origins):
        return ev.failed("CORS allows every origin ('*').")
    return ev.passed(f"CORS allows {len(origins)} named origin(s) and no wildcard.")


@check(
    id="appservice_site_client_certificates_required",
    title="Web apps that use client certificates require them",
    severity=Severity.LOW,
    resource_types=SITES,
    hipaa=("164.312(d)", "164.312(e)(1)"),
    guidance="Set clientCertMode to Required (Configuration > General settings > Client "
    "certificate mode), or turn client certificates off if the app does not rely on them.",
    limitations="Whether the app validates the certificate it receives is application code.",
)
def appservice_site_client_certificates_required(snapshot: Snapshot) -> Result:
    """NOT_APPLICABLE when ``properties.clientCertEnabled`` is false or absent (the app does not
    use client certificates; absent means false). Otherwise PASS when ``clientCertMode`` is
    Required; FAIL when Optional or OptionalInteractiveUser, because a caller the app expects
    to prove its identity with a certificate can then connect without one. Absent mode means
    Required, the API default."""
    ev = Evidence(snapshot)
    if not ev.flag("properties.clientCertEnabled", False):
        return not_applicable("The app does not use client certificates.")
    mode = ev.text("properties.clientCertMode", "Required", empty_is_default=True)
    if mode.lower() == "required":
        return ev.passed("Client certificates are required.")
    return ev.failed(f"Client certificates are {mode}: callers may connect without one.")


def _restriction_allows(rule: Mapping[str, Any], where: str) -> str | None:
    """Why an Allow access restriction lets the Internet reach the app directly, or None when
    it admits only a front (Front Door pinned by X-Azure-FDID) or a virtual-network subnet."""
    if str(rule.get("action", "Allow")).lower() != "allow":
        return None
    if rule.get("vnetSubnetResourceId"):
        return None
    address = rule.get("ipAddress")
    tag = str(rule.get("tag") or "Default").lower()
    if tag == "servicetag" and isinstance(address, str):
        if address.strip().lower() != _FRONT_DOOR_TAG:
            return f"service tag {address}"
        headers = rule.get("headers") or {}
        if not isinstance(headers, Mapping):
            raise MalformedResource(f"{where}.headers is not an object")
        pinned = any(str(k).lower() == _FRONT_DOOR_HEADER and v for k, v in headers.items())
        return None if pinned else "any Front Door profile (no X-Azure-FDID header)"
    if isinstance(address, str) and address.strip():
        return f"address {address.strip()}"
    return "an allow rule without a source"


@check(
    id="appservice_site_internet_only_through_front",
    title="Internet-facing PHI web apps accept traffic only through their front door or gateway",
    severity=Severity.HIGH,
    resource_types=SITES,
    hipaa=("164.312(a)(1)", "164.312(e)(1)"),
    phi_only=True,
    needs=("web_config",),
    guidance="Put the app behind Application Gateway (allow only its subnet) or Front Door "
    "(allow the AzureFrontDoor.Backend service tag with your profile's X-Azure-FDID header), "
    "set the access restrictions' unmatched-rule action to Deny, or disable public access and "
    "reach the app through a private endpoint.",
    limitations="The front's WAF policy mode is judged on the WAF policies (edge checks); which "
    "gateway sits in the allowed subnet is not verified. Main-site restrictions only: the SCM "
    "(Kudu) site's restrictions are not read.",
)
def appservice_site_internet_only_through_front(snapshot: Snapshot) -> Result:
    """PASS when ``properties.publicNetworkAccess`` is Disabled (no Internet path at all), or
    when the site config's access restrictions deny by default
    (``ipSecurityRestrictionsDefaultAction`` Deny, or a final Deny-all rule) and every Allow rule
    admits only a virtual-network subnet (an Application Gateway) or the
    AzureFrontDoor.Backend service tag pinned to a profile by an X-Azure-FDID header; FAIL when
    the app answers the Internet directly, because a WAF in front of a PHI app protects nothing
    that attackers can bypass (the P6 gap). Absent restrictions allow everything, the default."""
    ev = Evidence(snapshot)
    public = ev.text("properties.publicNetworkAccess", "Enabled", empty_is_default=True)
    if public.lower() == "disabled":
        return ev.passed("Public network access is disabled: no direct Internet path.")
    props = _web_config(snapshot)
    rules = _setting(ev, props, "ipSecurityRestrictions", [])
    if not isinstance(rules, list):
        raise MalformedResource(f"{WEB_CONFIG}.ipSecurityRestrictions is not a list")
    default = str(_setting(ev, props, "ipSecurityRestrictionsDefaultAction", "Allow"))
    open_rules: list[str] = []
    deny_all = False
    for index, rule in enumerate(
        sorted(rules, key=lambda r: r.get("priority", 0) if isinstance(r, Mapping) else 0)
    ):
        where = f"{WEB_CONFIG}.ipSecurityRestrictions[{index}]"
        if not isinstance(rule, Mapping):
            raise MalformedResource(f"{where} is not an object")
        if str(rule.get("action", "Allow")).lower() == "deny" and str(
            rule.get("ipAddress", "")
        ).strip().lower() in ("any", "0.0.0.0/0"):
            deny_all = True
            break
        why = _restriction_allows(rule, where)
        if why is not None:
            open_rules.append(f"{rule.get('name') or f'#{index}'} ({why})")
    ev.note("open_rules", open_rules)
    if open_rules:
        return ev.failed(f"The app admits the Internet directly: {open_rules[0]}.")
    if default.lower() != "deny" and not deny_all:
        return ev.failed("Unmatched traffic is allowed: the app answers the Internet directly.")
    return ev.passed("Only the front door or gateway can reach the app.")


# --- issue 14, area 7: automatic logoff (App Service authentication, config/authsettingsV2) -----

# phiguard's ceilings for an App Service authentication session (§164.312(a)(2)(iii) names no
# number; these follow common assessor practice for PHI applications).
MAX_SESSION_MINUTES = 60
MAX_REFRESH_HOURS = 1.0
_AUTH = "related.authsettings_v2.properties"


def _auth_settings(snapshot: Snapshot) -> Mapping[str, Any]:
    doc = snapshot.doc("authsettings_v2")
    if not isinstance(doc, Mapping):
        raise MalformedResource(f"related.authsettings_v2 is {type(doc).__name__}, not an object")
    props = doc.get("properties") or {}
    if not isinstance(props, Mapping):
        raise MalformedResource("related.authsettings_v2.properties is not an object")
    return props


def _auth_enabled(ev: Evidence, props: Mapping[str, Any]) -> bool:
    return ev.flag("platform.enabled", False, document=props, where=f"{_AUTH}.platform.enabled")


def _minutes(value: str, where: str) -> float:
    """``hh:mm:ss`` or ``d.hh:mm:ss`` (a .NET TimeSpan, as ARM writes it) in minutes."""
    text = value.strip()
    days = ""
    head = text.split(":", 1)[0]
    if "." in head:
        days, _, hours_part = head.partition(".")
        text = hours_part + text[len(head) :]
    parts = text.split(":")
    valid = len(parts) == 3 and all(p.replace(".", "", 1).isdigit() for p in parts)
    if not valid or (days and not days.isdigit()):
        raise MalformedResource(f"{where} is {value!r}, not a time span")
    hours, minutes, seconds = (float(p) for p in parts)
    return (float(days) if days else 0.0) * 1440 + hours * 60 + minutes + seconds / 60


@check(
    id="appservice_site_auth_session_lifetime_limited",
    title=f"PHI web apps using App Service authentication end sessions within "
    f"{MAX_SESSION_MINUTES} minutes",
    severity=Severity.MEDIUM,
    resource_types=SITES,
    hipaa=("164.312(a)(2)(iii)",),
    phi_only=True,
    needs=("authsettings_v2",),
    guidance="Set Authentication > Session cookie expiration to a fixed time of at most 60 "
    "minutes (login.cookieExpiration: convention FixedTime, timeToExpiration 01:00:00 or "
    "less), or derive it from the identity provider's token lifetime.",
    limitations="The App Service session cookie expires at a fixed time, not after inactivity; "
    "idle timeouts inside the application and Entra Conditional Access sign-in frequency (which "
    "needs Microsoft Graph access, granted to the access review) are not read here.",
)
def appservice_site_auth_session_lifetime_limited(snapshot: Snapshot) -> Result:
    """NOT_APPLICABLE when App Service authentication is off (``platform.enabled`` false or
    absent: the app manages its sessions itself, if at all). Otherwise PASS when
    ``login.cookieExpiration.convention`` is IdentityProviderDerived (the session ends with the
    provider's token, 60-90 minutes for Entra ID) or FixedTime with ``timeToExpiration`` of at
    most 60 minutes; FAIL when longer, because a session left open on a shared workstation
    keeps PHI on screen and in reach. Absent cookieExpiration means FixedTime 08:00:00, the
    default."""
    ev = Evidence(snapshot)
    props = _auth_settings(snapshot)
    if not _auth_enabled(ev, props):
        return not_applicable("App Service authentication is off: the app manages its sessions.")
    base = f"{_AUTH}.login.cookieExpiration"
    convention = ev.text(
        "login.cookieExpiration.convention", "FixedTime", document=props, where=f"{base}.convention"
    )
    if convention.lower() == "identityproviderderived":
        return ev.passed("The session ends when the identity provider's token expires.")
    span = ev.text(
        "login.cookieExpiration.timeToExpiration",
        "08:00:00",
        document=props,
        where=f"{base}.timeToExpiration",
    )
    minutes = _minutes(span, f"{base}.timeToExpiration")
    if minutes <= MAX_SESSION_MINUTES:
        return ev.passed(f"Sessions end after {span} ({minutes:g} minutes).")
    return ev.failed(f"Sessions last {span}, more than {MAX_SESSION_MINUTES} minutes.")


@check(
    id="appservice_site_auth_token_refresh_limited",
    title="PHI web apps do not let App Service sessions be refreshed long after they expire",
    severity=Severity.LOW,
    resource_types=SITES,
    hipaa=("164.312(a)(2)(iii)",),
    phi_only=True,
    needs=("authsettings_v2",),
    guidance=f"Set login.tokenStore.tokenRefreshExtensionHours to {MAX_REFRESH_HOURS:g} or less "
    "(the default is 72), or turn the token store off if the app does not call downstream APIs "
    "as the user.",
    limitations="Refresh through the identity provider's own refresh tokens is governed in Entra "
    "ID, not here.",
)
def appservice_site_auth_token_refresh_limited(snapshot: Snapshot) -> Result:
    """NOT_APPLICABLE when App Service authentication is off. PASS when the token store is off
    (``login.tokenStore.enabled`` false: no refresh) or ``tokenRefreshExtensionHours`` is at
    most 1; FAIL when larger, because an expired session can then be silently renewed for days
    (72 hours by default), defeating automatic logoff. Absent enabled means false; absent hours
    mean 72, the default."""
    ev = Evidence(snapshot)
    props = _auth_settings(snapshot)
    if not _auth_enabled(ev, props):
        return not_applicable("App Service authentication is off: the app manages its sessions.")
    base = f"{_AUTH}.login.tokenStore"
    if not ev.flag("login.tokenStore.enabled", False, document=props, where=f"{base}.enabled"):
        return ev.passed("The token store is off, so sessions cannot be refreshed.")
    hours = ev.read_in(props, "login.tokenStore.tokenRefreshExtensionHours", 72.0, f"{base}.hours")
    if isinstance(hours, bool) or not isinstance(hours, int | float):
        raise MalformedResource(f"{base}.tokenRefreshExtensionHours is {hours!r}")
    if hours <= MAX_REFRESH_HOURS:
        return ev.passed(f"Expired sessions can be refreshed for at most {hours:g} hour(s).")
    return ev.failed(f"Expired sessions can be refreshed for {hours:g} hours.")


@check(
    id="appservice_site_auth_anonymous_denied",
    title="PHI web apps using App Service authentication refuse anonymous requests",
    severity=Severity.HIGH,
    resource_types=SITES,
    hipaa=("164.312(a)(1)", "164.312(d)"),
    phi_only=True,
    needs=("authsettings_v2",),
    guidance="Set Authentication > Unauthenticated requests to 'HTTP 302 Found redirect' or "
    "'HTTP 401/403' (globalValidation.requireAuthentication true).",
    limitations="Apps that authenticate users in their own code (MSAL) with App Service "
    "authentication off are NOT_APPLICABLE: their code is not visible through ARM.",
)
def appservice_site_auth_anonymous_denied(snapshot: Snapshot) -> Result:
    """NOT_APPLICABLE when App Service authentication is off. PASS when
    ``globalValidation.requireAuthentication`` is true or ``unauthenticatedClientAction`` is
    RedirectToLoginPage, Return401 or Return403; FAIL when anonymous requests are let through
    (AllowAnonymous), because any page of the PHI app that forgets its own check is then open
    to everyone. Absent requireAuthentication means false and absent action AllowAnonymous."""
    ev = Evidence(snapshot)
    props = _auth_settings(snapshot)
    if not _auth_enabled(ev, props):
        return not_applicable("App Service authentication is off: the app authenticates itself.")
    base = f"{_AUTH}.globalValidation"
    required = ev.flag(
        "globalValidation.requireAuthentication",
        False,
        document=props,
        where=f"{base}.requireAuthentication",
    )
    action = ev.text(
        "globalValidation.unauthenticatedClientAction",
        "AllowAnonymous",
        document=props,
        where=f"{base}.unauthenticatedClientAction",
    )
    if required or action.lower() in ("redirecttologinpage", "return401", "return403"):
        return ev.passed("Unauthenticated requests are refused or sent to sign in.")
    return ev.failed("Anonymous requests reach the app (AllowAnonymous).")
