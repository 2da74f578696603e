"""Edge checks: Web Application Firewall policies (Front Door, Application Gateway) and Front Door
custom domain TLS.

A WAF policy is its own ARM resource, linked to the Front Door endpoints or Application Gateways
it protects. These checks judge the policy itself, wherever it is linked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from checks.common import Evidence, as_list
from checks.registry import check, register_policy_definitions
from shared.kernel.findings import Result, Severity, not_assessed
from shared.kernel.snapshot import MalformedResource, Snapshot

register_policy_definitions(
    {
        # Azure/azure-policy built-in-policies/policyDefinitions/Network/WAF_AFD_Mode_Audit.json
        "425bea59-a659-4cbb-8d31-34499bd030b8": (
            "Web Application Firewall (WAF) should use the specified mode for Azure Front Door "
            "Service"
        ),
        # Azure/azure-policy built-in-policies/policyDefinitions/Network/WAF_AppGatewayMode_Audit.json
        "12430be1-6cc8-4527-a9a8-e3d38f250096": (
            "Web Application Firewall (WAF) should use the specified mode for Application Gateway"
        ),
        # Azure/azure-policy built-in-policies/policyDefinitions/CDN/
        # AFD_Standard_Premium_MinimumTls_Audit.json
        "679da822-78a7-4eff-8fff-a899454a9970": (
            "Azure Front Door Standard and Premium should be running minimum TLS version of 1.2"
        ),
        # Azure/azure-policy built-in-policies/policyDefinitions/Network/
        # AzureWAFonAFDShouldHaveRequestBodyInspectionEnabled.json
        "4598f028-de1f-4694-8751-84dceb5f86b9": (
            "Azure Web Application Firewall on Azure Front Door should have request body "
            "inspection enabled"
        ),
        # Azure/azure-policy built-in-policies/policyDefinitions/Network/
        # AzureWAFonAPPGWShouldHaveRequestBodyInspectionEnabled.json
        "ca85ef9a-741d-461d-8b7a-18c2da82c666": (
            "Azure Web Application Firewall on Azure Application Gateway should have request "
            "body inspection enabled"
        ),
    }
)

FRONT_DOOR_WAF = "microsoft.network/frontdoorwebapplicationfirewallpolicies"
APP_GATEWAY_WAF = "microsoft.network/applicationgatewaywebapplicationfirewallpolicies"
AFD_CUSTOM_DOMAIN = "microsoft.cdn/profiles/customdomains"

# Managed rule sets that carry the OWASP-class protections (SQL injection, XSS, LFI/RFI, ...).
# Bot manager and HTTP DDoS rule sets are useful additions but do not replace them.
FRONT_DOOR_CORE_RULE_SETS = frozenset({"defaultruleset", "microsoft_defaultruleset"})
APP_GATEWAY_CORE_RULE_SETS = frozenset({"owasp", "microsoft_defaultruleset"})

_WAF_HIPAA = ("164.312(a)(1)", "164.312(c)(1)", "164.308(a)(1)(ii)(B)")
_WAF_LINK_LIMITATION = (
    "The policy is judged whether or not it is linked to a Front Door endpoint or Application "
    "Gateway; which apps it protects is not visible in its own body. "
)


def _word(value: Any, where: str) -> str | None:
    """A string setting, lowercased; None when absent. Anything else is malformed."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedResource(f"{where} is {value!r}, expected a string")
    return value.strip().lower()


def _prevention_result(ev: Evidence, state_path: str, state_default: str | None) -> Result:
    state = _word(ev.prop(state_path, state_default), f"properties.{state_path}")
    mode = _word(ev.prop("policySettings.mode"), "properties.policySettings.mode")
    if state != "enabled":
        shown = "not reported" if state is None else state
        return ev.failed(f"The WAF policy state is {shown}, so requests bypass the WAF.")
    if mode != "prevention":
        shown = "not reported" if mode is None else mode
        return ev.failed(
            f"The WAF policy mode is {shown}, so matching attacks are only logged "
            "and still reach the application."
        )
    return ev.passed("The WAF policy is enabled and in Prevention mode.")


@check(
    id="edge_frontdoor_waf_policy_prevention_mode",
    title="Front Door WAF policies are enabled and in Prevention mode",
    severity=Severity.HIGH,
    resource_types=(FRONT_DOOR_WAF,),
    hipaa=_WAF_HIPAA,
    azure_policy=("425bea59-a659-4cbb-8d31-34499bd030b8",),
    patterns=("P6",),
    guidance=(
        "Set policySettings.enabledState to Enabled and policySettings.mode to Prevention "
        "(Front Door WAF policy > Policy settings > Switch to prevention mode) once "
        "false positives seen in Detection mode are tuned out."
    ),
    limitations=(
        _WAF_LINK_LIMITATION + "Per-rule overrides that disable or log-only individual "
        "managed rules are not judged here."
    ),
)
def edge_frontdoor_waf_policy_prevention_mode(snapshot: Snapshot) -> Result:
    """PASS when ``policySettings.enabledState`` is Enabled and ``policySettings.mode`` is
    Prevention (case-insensitive); FAIL when the policy is Disabled (requests bypass the WAF) or
    in Detection mode (attacks are logged but still reach the PHI application) — failure
    pattern P6. Absent ``enabledState`` means Enabled: the Front Door WAF API (2024-02-01
    swagger, PolicySettings) says "Defaults to Enabled if not specified". Absent ``mode`` has no
    documented default, so it is treated as not Prevention."""
    return _prevention_result(Evidence(snapshot), "policySettings.enabledState", "Enabled")


@check(
    id="edge_appgw_waf_policy_prevention_mode",
    title="Application Gateway WAF policies are enabled and in Prevention mode",
    severity=Severity.HIGH,
    resource_types=(APP_GATEWAY_WAF,),
    hipaa=_WAF_HIPAA,
    azure_policy=("12430be1-6cc8-4527-a9a8-e3d38f250096",),
    patterns=("P6",),
    guidance=(
        "Set policySettings.state to Enabled and policySettings.mode to Prevention "
        "(Web Application Firewall policy > Policy settings) once false positives seen in "
        "Detection mode are tuned out."
    ),
    limitations=(
        _WAF_LINK_LIMITATION + "Gateways still using the legacy in-gateway WAF "
        "configuration (no WAF policy resource) are not covered by this check."
    ),
)
def edge_appgw_waf_policy_prevention_mode(snapshot: Snapshot) -> Result:
    """PASS when ``policySettings.state`` is Enabled and ``policySettings.mode`` is Prevention
    (case-insensitive); FAIL when the policy is Disabled or in Detection mode, because attacks
    against the PHI application are then only logged — failure pattern P6. The Application
    Gateway WAF API (2024-05-01 swagger, PolicySettings) documents no default for either
    property, so an absent ``state`` or ``mode`` is treated as not enabled / not Prevention."""
    return _prevention_result(Evidence(snapshot), "policySettings.state", None)


def _managed_rules_result(snapshot: Snapshot, core: frozenset[str], names: str) -> Result:
    ev = Evidence(snapshot)
    sets = as_list(
        ev.prop("managedRules.managedRuleSets"), "properties.managedRules.managedRuleSets"
    )
    enforcing: list[str] = []
    log_only: list[str] = []
    for index, item in enumerate(sets):
        where = f"properties.managedRules.managedRuleSets[{index}]"
        if not isinstance(item, Mapping):
            raise MalformedResource(f"{where} is not an object")
        rtype = _word(item.get("ruleSetType"), f"{where}.ruleSetType")
        if rtype not in core:
            continue
        label = f"{item.get('ruleSetType')} {item.get('ruleSetVersion', '')}".strip()
        if _word(item.get("ruleSetAction"), f"{where}.ruleSetAction") == "log":
            log_only.append(label)
        else:
            enforcing.append(label)
    if enforcing:
        return ev.passed(f"The policy uses the managed rule set {enforcing[0]}.")
    if log_only:
        return ev.failed(f"The managed rule set {log_only[0]} only logs matches.")
    return ev.failed(
        f"The policy has no {names} managed rule set, so OWASP-class attacks are not inspected."
    )


@check(
    id="edge_frontdoor_waf_managed_rules_enabled",
    title="Front Door WAF policies use the Microsoft default managed rule set",
    severity=Severity.HIGH,
    resource_types=(FRONT_DOOR_WAF,),
    hipaa=_WAF_HIPAA,
    guidance=(
        "Add the Microsoft_DefaultRuleSet (2.1 or newer) managed rule set with action Block "
        "(managed rules need the Front Door Premium or classic tier)."
    ),
    limitations=(
        _WAF_LINK_LIMITATION + "Rule group and rule overrides that disable parts of the "
        "set are not evaluated."
    ),
)
def edge_frontdoor_waf_managed_rules_enabled(snapshot: Snapshot) -> Result:
    """PASS when ``managedRules.managedRuleSets`` contains a core rule set (``DefaultRuleSet`` or
    ``Microsoft_DefaultRuleSet``, case-insensitive) whose ``ruleSetAction`` is not Log; FAIL when
    there is none (custom rules alone do not stop SQL injection or XSS aimed at ePHI) or every
    core set only logs. Absent ``managedRuleSets`` means none (Front Door Standard tier policies
    cannot have managed rules). An absent ``ruleSetAction`` is not judged: DefaultRuleSet 1.0
    uses per-rule actions."""
    return _managed_rules_result(snapshot, FRONT_DOOR_CORE_RULE_SETS, "DefaultRuleSet")


@check(
    id="edge_appgw_waf_managed_rules_enabled",
    title="Application Gateway WAF policies use an OWASP or Microsoft default managed rule set",
    severity=Severity.HIGH,
    resource_types=(APP_GATEWAY_WAF,),
    hipaa=_WAF_HIPAA,
    guidance="Add the Microsoft_DefaultRuleSet 2.1 (or OWASP 3.2) managed rule set to the policy.",
    limitations=(
        _WAF_LINK_LIMITATION + "Rule group and rule overrides that disable parts of the "
        "set are not evaluated."
    ),
)
def edge_appgw_waf_managed_rules_enabled(snapshot: Snapshot) -> Result:
    """PASS when ``managedRules.managedRuleSets`` contains an ``OWASP`` or
    ``Microsoft_DefaultRuleSet`` rule set (case-insensitive); FAIL when it has none — bot manager
    or DDoS rule sets alone do not inspect for SQL injection or XSS aimed at ePHI. Absent
    ``managedRuleSets`` means none (the API requires the list, so a missing list is reported,
    not assumed)."""
    return _managed_rules_result(snapshot, APP_GATEWAY_CORE_RULE_SETS, "OWASP or Microsoft default")


@check(
    id="edge_waf_policy_request_body_inspection_enabled",
    title="WAF policies inspect request bodies",
    severity=Severity.MEDIUM,
    resource_types=(FRONT_DOOR_WAF, APP_GATEWAY_WAF),
    hipaa=("164.312(c)(1)", "164.312(a)(1)"),
    azure_policy=("4598f028-de1f-4694-8751-84dceb5f86b9", "ca85ef9a-741d-461d-8b7a-18c2da82c666"),
    guidance=(
        "Turn on request body inspection (Front Door: policySettings.requestBodyCheck "
        "Enabled; Application Gateway: policySettings.requestBodyCheck true)."
    ),
    limitations=(
        "Body size limits (maxRequestBodySizeInKb, requestBodyInspectLimitInKB) are not "
        "judged; bodies beyond the inspection limit pass uninspected."
    ),
)
def edge_waf_policy_request_body_inspection_enabled(snapshot: Snapshot) -> Result:
    """PASS when ``policySettings.requestBodyCheck`` is Enabled (Front Door, a string) or true
    (Application Gateway, a boolean); FAIL when it is Disabled/false, because injection payloads
    posted in form or JSON bodies (where ePHI is usually submitted) then bypass the managed
    rules. Neither API documents a default, so an absent setting is treated as not enabled."""
    ev = Evidence(snapshot)
    value = ev.prop("policySettings.requestBodyCheck")
    where = "properties.policySettings.requestBodyCheck"
    if snapshot.type == APP_GATEWAY_WAF:
        if value is not None and not isinstance(value, bool):
            raise MalformedResource(f"{where} is {value!r}, expected true or false")
        enabled = value is True
    else:
        enabled = _word(value, where) == "enabled"
    if enabled:
        return ev.passed("The WAF inspects request bodies.")
    if value is None:
        return ev.failed(
            "The WAF policy does not report request body inspection, so it is not "
            "known to inspect bodies."
        )
    return ev.failed(
        "Request body inspection is off, so payloads in request bodies bypass the WAF rules."
    )


_TLS12_OR_NEWER = frozenset({"tls12", "tls13"})


@check(
    id="edge_frontdoor_custom_domain_min_tls12",
    title="Front Door custom domains require TLS 1.2 or newer",
    severity=Severity.HIGH,
    resource_types=(AFD_CUSTOM_DOMAIN,),
    hipaa=("164.312(e)(1)", "164.312(e)(2)(ii)"),
    azure_policy=("679da822-78a7-4eff-8fff-a899454a9970",),
    guidance=(
        "Set the custom domain's minimum TLS version to 1.2 (tlsSettings.minimumTlsVersion "
        "TLS12, or a TLSv1.2_2023 predefined policy)."
    ),
    limitations=(
        "Applies to Front Door Standard/Premium custom domains "
        "(Microsoft.Cdn/profiles/customDomains); classic CDN endpoint domains and the "
        "cipher suites offered are not judged."
    ),
)
def edge_frontdoor_custom_domain_min_tls12(snapshot: Snapshot) -> Result:
    """PASS when ``tlsSettings.minimumTlsVersion`` is TLS12 or TLS13; FAIL when it is TLS10 (or
    any older value), because TLS 1.0/1.1 have known weaknesses and do not protect ePHI in
    transit to current standards. Absent means TLS12: Front Door profiles created after
    September 2019 default to a TLS 1.2 minimum, and TLS 1.0/1.1 minimums are disallowed since
    1 March 2025 (Microsoft Learn, "End-to-end TLS with Azure Front Door" and "Azure Front Door
    TLS policy")."""
    ev = Evidence(snapshot)
    raw = ev.prop("tlsSettings.minimumTlsVersion", "TLS12")  # null is "not set": TLS12 too
    version = _word(raw, "properties.tlsSettings.minimumTlsVersion") or ""
    normalized = version.replace("_", "").replace(".", "").replace("v", "")
    if normalized in _TLS12_OR_NEWER:
        return ev.passed(f"The custom domain requires {raw} or newer.")
    return ev.failed(f"The custom domain accepts clients down to {raw}.")


# --- issue 14, area 6: Application Gateway TLS -----------------------------------------------------

APP_GATEWAYS = ("microsoft.network/applicationgateways",)
# Predefined policies and their minimum protocol (Application Gateway TLS policy overview).
_PREDEFINED_MIN_TLS = {
    "appgwsslpolicy20150501": "TLSv1_0",
    "appgwsslpolicy20170401": "TLSv1_1",
    "appgwsslpolicy20170401s": "TLSv1_2",
    "appgwsslpolicy20220101": "TLSv1_2",
    "appgwsslpolicy20220101s": "TLSv1_2",
}
_OK_PROTOCOLS = ("tlsv1_2", "tlsv1_3")
# Cipher suites without forward secrecy or with broken algorithms.
_WEAK_CIPHER_MARKS = ("_3DES_", "_RC4_", "TLS_RSA_WITH_", "_NULL_")


@check(
    id="edge_appgw_ssl_policy_tls12",
    title="Application Gateways accept only TLS 1.2 or newer with strong cipher suites",
    severity=Severity.HIGH,
    resource_types=APP_GATEWAYS,
    hipaa=("164.312(e)(1)", "164.312(e)(2)(ii)"),
    guidance="Set the gateway's SSL policy to the predefined AppGwSslPolicy20220101S (or a "
    "CustomV2 policy with minProtocolVersion TLSv1_2 and ECDHE cipher suites only).",
    limitations="Per-listener SSL profiles (sslProfiles) that override the gateway policy are not "
    "read. An absent policy is NOT_ASSESSED: its default depends on the API version the gateway "
    "was created with (AppGwSslPolicy20150501, TLS 1.0, before 2023-02-01).",
)
def edge_appgw_ssl_policy_tls12(snapshot: Snapshot) -> Result:
    """PASS when ``properties.sslPolicy`` names a predefined policy whose minimum is TLS 1.2
    (AppGwSslPolicy20170401S, 20220101, 20220101S), or a Custom/CustomV2 policy with
    ``minProtocolVersion`` TLSv1_2 or TLSv1_3 and no cipher suite without forward secrecy or
    with 3DES/RC4/NULL; FAIL when it admits TLS 1.0 or 1.1 (including a legacy
    ``disabledSslProtocols`` list that leaves them on) or a weak suite, because PHI crossing
    the gateway could then be read or altered. Absent ``sslPolicy``: NOT_ASSESSED, because the
    default depends on the API version the gateway was created with (see limitations)."""
    ev = Evidence(snapshot)
    policy = ev.prop("sslPolicy", None)
    if policy is None:
        return not_assessed(
            "The gateway reports no SSL policy; its default depends on the API version it was "
            "created with, so the minimum TLS version cannot be told.",
            {"properties.sslPolicy": {"absent": True}},
        )
    if not isinstance(policy, Mapping):
        raise MalformedResource("properties.sslPolicy is not an object")
    kind = str(policy.get("policyType") or "").lower()
    if kind == "predefined":
        name = str(policy.get("policyName") or "")
        minimum = _PREDEFINED_MIN_TLS.get(name.lower())
        if minimum is None:
            raise MalformedResource(f"properties.sslPolicy.policyName {name!r} is unknown")
        ev.note("properties.sslPolicy.policyName", name)
        if minimum.lower() in _OK_PROTOCOLS:
            return ev.passed(f"The predefined policy {name} requires TLS 1.2 or newer.")
        return ev.failed(f"The predefined policy {name} accepts {minimum}.")
    if kind in ("custom", "customv2"):
        minimum = ev.text("properties.sslPolicy.minProtocolVersion", "TLSv1_0")
        suites = as_list(policy.get("cipherSuites"), "properties.sslPolicy.cipherSuites")
        weak = [str(s) for s in suites if any(m in str(s).upper() for m in _WEAK_CIPHER_MARKS)]
        ev.note("weak_cipher_suites", weak)
        if minimum.lower() not in _OK_PROTOCOLS:
            return ev.failed(f"The custom policy accepts {minimum}.")
        if weak:
            return ev.failed(f"The custom policy allows a weak cipher suite ({weak[0]}).")
        return ev.passed("The custom policy requires TLS 1.2+ with strong cipher suites only.")
    disabled = {
        str(p).lower()
        for p in as_list(policy.get("disabledSslProtocols"), "properties.sslPolicy.disabled")
    }
    ev.note("properties.sslPolicy.disabledSslProtocols", sorted(disabled))
    if {"tlsv1_0", "tlsv1_1"} <= disabled:
        return ev.passed("TLS 1.0 and 1.1 are disabled on the gateway.")
    return ev.failed("The gateway's SSL policy leaves TLS 1.0 or 1.1 enabled.")
