"""The edge: Azure Front Door (Standard/Premium profiles, custom domains, security policies),
Front Door and Application Gateway WAF policies, Application Gateway and classic Front Door."""

from __future__ import annotations

from collections.abc import Sequence

from sim.estate.common import NETWORK, Doc, guid, header, net_etag, resource_id, ts


def afd_base(sub: str, rg: str) -> str:
    return f"/subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Cdn/profiles"


def afd_profile(sub: str, rg: str, name: str, tags: dict[str, str]) -> Doc:
    """Profiles_Get for Azure Front Door (Standard/Premium); CDN lower-cases ``resourcegroups``."""
    rid = f"{afd_base(sub, rg)}/{name}"
    return {
        **header(
            rid,
            name,
            "Microsoft.Cdn/profiles",
            "Global",
            tags,
            order=("name", "id", "type", "tags", "location"),
        ),
        "sku": {"name": "Premium_AzureFrontDoor"},
        "kind": "frontdoor",
        "properties": {
            "originResponseTimeoutSeconds": 60,
            "logScrubbing": {"state": "Enabled", "scrubbingRules": []},
            "frontDoorId": guid(rid, "frontDoorId"),
            "provisioningState": "Succeeded",
            "resourceState": "Active",
        },
    }


def afd_custom_domain(profile_id: str, name: str, host: str) -> Doc:
    return {
        **header(
            f"{profile_id}/customdomains/{name}",
            name,
            "Microsoft.Cdn/profiles/customdomains",
            order=NETWORK,
        ),
        "properties": {
            "hostName": host,
            "tlsSettings": {
                "certificateType": "ManagedCertificate",
                "minimumTlsVersion": "TLS12",
            },
            "validationProperties": {
                "validationToken": guid(profile_id, name, "validation").replace("-", ""),
                "expirationDate": ts(9000),
            },
            "azureDnsZone": None,
            "preValidatedCustomDomainResourceId": None,
            "domainValidationState": "Approved",
            "provisioningState": "Succeeded",
            "deploymentStatus": "NotStarted",
        },
    }


def afd_security_policy(profile_id: str, name: str, waf_id: str, domains: Sequence[str]) -> Doc:
    """SecurityPolicies_Get: links a Front Door WAF policy to custom domains."""
    return {
        **header(
            f"{profile_id}/securitypolicies/{name}",
            name,
            "Microsoft.Cdn/profiles/securitypolicies",
            order=NETWORK,
        ),
        "properties": {
            "parameters": {
                "type": "WebApplicationFirewall",
                "wafPolicy": {"id": waf_id},
                "associations": [
                    {"domains": [{"id": d} for d in domains], "patternsToMatch": ["/*"]}
                ],
            },
            "deploymentStatus": "NotStarted",
            "provisioningState": "Succeeded",
        },
    }


def fd_waf_policy(
    sub: str,
    rg: str,
    name: str,
    tags: dict[str, str],
    *,
    mode: str,
    enabled: bool = True,
    security_policies: Sequence[str] = (),
) -> Doc:
    """Policies_Get for a Front Door WAF policy (2024-02-01 field set)."""
    rid = resource_id(sub, rg, "Microsoft.Network/FrontDoorWebApplicationFirewallPolicies", name)
    return {
        **header(
            rid,
            name,
            "Microsoft.Network/frontdoorwebapplicationfirewallpolicies",
            "Global",
            tags,
            etag=net_etag(rid),
            order=("name", "id", "type", "etag", "tags", "location"),
        ),
        "properties": {
            "resourceState": "Enabled",
            "provisioningState": "Succeeded",
            "policySettings": {
                "enabledState": "Enabled" if enabled else "Disabled",
                "mode": mode,
                "redirectUrl": None,
                "customBlockResponseStatusCode": 403,
                "customBlockResponseBody": None,
                "requestBodyCheck": "Enabled",
                "logScrubbing": None,
            },
            "customRules": {
                "rules": [
                    {
                        "name": "RateLimitPerClient",
                        "priority": 10,
                        "enabledState": "Enabled",
                        "ruleType": "RateLimitRule",
                        "rateLimitDurationInMinutes": 1,
                        "rateLimitThreshold": 1000,
                        "matchConditions": [
                            {
                                "matchVariable": "RemoteAddr",
                                "selector": None,
                                "operator": "IPMatch",
                                "negateCondition": True,
                                "matchValue": ["10.0.0.0/8"],
                                "transforms": [],
                            }
                        ],
                        "action": "Block",
                    }
                ]
            },
            "managedRules": {
                "managedRuleSets": [
                    {
                        "ruleSetType": "Microsoft_DefaultRuleSet",
                        "ruleSetVersion": "2.1",
                        "ruleSetAction": "Block",
                        "exclusions": [],
                        "ruleGroupOverrides": [],
                    },
                    {
                        "ruleSetType": "Microsoft_BotManagerRuleSet",
                        "ruleSetVersion": "1.1",
                        "exclusions": [],
                        "ruleGroupOverrides": [],
                    },
                ]
            },
            "frontendEndpointLinks": [],
            "routingRuleLinks": [],
            "securityPolicyLinks": [{"id": s} for s in security_policies],
        },
        "sku": {"name": "Premium_AzureFrontDoor"},
    }


def appgw_waf_policy(
    sub: str,
    rg: str,
    name: str,
    location: str,
    tags: dict[str, str],
    *,
    mode: str,
    enabled: bool = True,
    gateways: Sequence[str] = (),
) -> Doc:
    """WebApplicationFirewallPolicies_Get (Application Gateway, 2024-05-01 field set)."""
    rid = resource_id(
        sub,
        rg,
        "Microsoft.Network/ApplicationGatewayWebApplicationFirewallPolicies",
        name,
    )
    return {
        **header(
            rid,
            name,
            "Microsoft.Network/applicationgatewaywebapplicationfirewallpolicies",
            location,
            tags,
            etag=net_etag(rid),
            order=("name", "id", "etag", "type", "tags", "location"),
        ),
        "properties": {
            "resourceState": "Enabled",
            "provisioningState": "Succeeded",
            "policySettings": {
                "state": "Enabled" if enabled else "Disabled",
                "mode": mode,
                "requestBodyEnforcement": True,
                "maxRequestBodySizeInKb": 128,
                "requestBodyInspectLimitInKB": 128,
                "fileUploadEnforcement": True,
                "fileUploadLimitInMb": 100,
                "requestBodyCheck": True,
                "jsChallengeCookieExpirationInMins": 30,
                "logScrubbing": {
                    "state": "Enabled",
                    "scrubbingRules": [
                        {
                            "state": "Enabled",
                            "matchVariable": "RequestIPAddress",
                            "selectorMatchOperator": "EqualsAny",
                        }
                    ],
                },
            },
            "customRules": [],
            "managedRules": {
                "managedRuleSets": [
                    {
                        "ruleSetType": "OWASP",
                        "ruleSetVersion": "3.2",
                        "ruleGroupOverrides": [],
                    },
                    {
                        "ruleSetType": "Microsoft_BotManagerRuleSet",
                        "ruleSetVersion": "1.0",
                        "ruleGroupOverrides": [],
                    },
                ],
                "exclusions": [],
            },
            "applicationGateways": [{"id": g} for g in gateways],
            "httpListeners": [],
            "pathBasedRules": [],
        },
    }


def application_gateway(
    sub: str,
    rg: str,
    name: str,
    location: str,
    tags: dict[str, str],
    *,
    subnet_id: str,
    waf_policy_id: str,
    backend_fqdn: str,
    private_ip: str,
) -> Doc:
    """ApplicationGateways_Get (2024-05-01 field set): a WAF_v2 gateway with a private frontend."""
    rtype = "Microsoft.Network/applicationGateways"
    rid = resource_id(sub, rg, rtype, name)
    etag = net_etag(rid)

    def child(kind: str, child_name: str, props: Doc) -> Doc:
        return {
            **header(
                f"{rid}/{kind}/{child_name}",
                child_name,
                f"{rtype}/{kind}",
                etag=etag,
                order=NETWORK,
            ),
            "properties": {"provisioningState": "Succeeded", **props},
        }

    return {
        **header(rid, name, rtype, location, tags, etag=etag, order=NETWORK),
        "zones": ["1", "2", "3"],
        "properties": {
            "provisioningState": "Succeeded",
            "resourceGuid": guid(rid, "resourceGuid"),
            "sku": {
                "name": "WAF_v2",
                "tier": "WAF_v2",
                "family": "Generation_2",
                "capacity": 2,
            },
            "operationalState": "Running",
            "gatewayIPConfigurations": [
                child(
                    "gatewayIPConfigurations",
                    "appGatewayIpConfig",
                    {"subnet": {"id": subnet_id}},
                )
            ],
            "sslCertificates": [],
            "trustedRootCertificates": [],
            "frontendIPConfigurations": [
                child(
                    "frontendIPConfigurations",
                    "appGwPrivateFrontendIp",
                    {
                        "privateIPAddress": private_ip,
                        "privateIPAllocationMethod": "Static",
                        "subnet": {"id": subnet_id},
                    },
                )
            ],
            "frontendPorts": [child("frontendPorts", "port_443", {"port": 443})],
            "backendAddressPools": [
                child(
                    "backendAddressPools",
                    "pool-pharmacy-portal",
                    {"backendAddresses": [{"fqdn": backend_fqdn}]},
                )
            ],
            "backendHttpSettingsCollection": [
                child(
                    "backendHttpSettingsCollection",
                    "https-settings",
                    {
                        "port": 443,
                        "protocol": "Https",
                        "cookieBasedAffinity": "Disabled",
                        "pickHostNameFromBackendAddress": True,
                        "requestTimeout": 30,
                    },
                )
            ],
            "httpListeners": [
                child(
                    "httpListeners",
                    "listener-https",
                    {
                        "frontendIPConfiguration": {
                            "id": f"{rid}/frontendIPConfigurations/appGwPrivateFrontendIp"
                        },
                        "frontendPort": {"id": f"{rid}/frontendPorts/port_443"},
                        "protocol": "Https",
                        "hostNames": [],
                        "requireServerNameIndication": False,
                    },
                )
            ],
            "requestRoutingRules": [
                child(
                    "requestRoutingRules",
                    "rule-pharmacy-portal",
                    {
                        "ruleType": "Basic",
                        "priority": 100,
                        "httpListener": {"id": f"{rid}/httpListeners/listener-https"},
                        "backendAddressPool": {
                            "id": f"{rid}/backendAddressPools/pool-pharmacy-portal"
                        },
                        "backendHttpSettings": {
                            "id": f"{rid}/backendHttpSettingsCollection/https-settings"
                        },
                    },
                )
            ],
            "probes": [],
            "sslPolicy": {
                "policyType": "Predefined",
                "policyName": "AppGwSslPolicy20220101S",
            },
            "enableHttp2": True,
            "firewallPolicy": {"id": waf_policy_id},
            "forceFirewallPolicyAssociation": True,
        },
    }


def classic_front_door(sub: str, rg: str, name: str, tags: dict[str, str], backend: str) -> Doc:
    """FrontDoors_Get (Front Door classic, 2021-06-01 field set)."""
    rid = resource_id(sub, rg, "Microsoft.Network/frontDoors", name)
    endpoint = f"{name}-azurefd-net"
    return {
        **header(rid, name, "Microsoft.Network/frontdoors", "Global", tags, order=NETWORK),
        "properties": {
            "resourceState": "Enabled",
            "provisioningState": "Succeeded",
            "cname": f"{name}.azurefd.net",
            "frontdoorId": guid(rid, "frontdoorId"),
            "friendlyName": name,
            "enabledState": "Enabled",
            "routingRules": [
                {
                    **header(
                        f"{rid}/routingRules/default-route",
                        "default-route",
                        "Microsoft.Network/Frontdoors/RoutingRules",
                    ),
                    "properties": {
                        "resourceState": "Enabled",
                        "frontendEndpoints": [{"id": f"{rid}/frontendEndpoints/{endpoint}"}],
                        "acceptedProtocols": ["Https"],
                        "patternsToMatch": ["/*"],
                        "enabledState": "Enabled",
                        "routeConfiguration": {
                            "@odata.type": (
                                "#Microsoft.Azure.FrontDoor.Models.FrontdoorForwardingConfiguration"
                            ),
                            "forwardingProtocol": "HttpsOnly",
                            "backendPool": {"id": f"{rid}/backendPools/storefront"},
                        },
                    },
                }
            ],
            "loadBalancingSettings": [
                {
                    "id": f"{rid}/loadBalancingSettings/lb",
                    "name": "lb",
                    "properties": {
                        "sampleSize": 4,
                        "successfulSamplesRequired": 2,
                        "additionalLatencyMilliseconds": 0,
                    },
                }
            ],
            "healthProbeSettings": [
                {
                    "id": f"{rid}/healthProbeSettings/probe",
                    "name": "probe",
                    "properties": {
                        "path": "/",
                        "protocol": "Https",
                        "intervalInSeconds": 30,
                        "enabledState": "Enabled",
                        "healthProbeMethod": "HEAD",
                    },
                }
            ],
            "backendPools": [
                {
                    "id": f"{rid}/backendPools/storefront",
                    "name": "storefront",
                    "properties": {
                        "backends": [
                            {
                                "address": backend,
                                "httpPort": 80,
                                "httpsPort": 443,
                                "enabledState": "Enabled",
                                "priority": 1,
                                "weight": 50,
                                "backendHostHeader": backend,
                            }
                        ],
                        "loadBalancingSettings": {"id": f"{rid}/loadBalancingSettings/lb"},
                        "healthProbeSettings": {"id": f"{rid}/healthProbeSettings/probe"},
                    },
                }
            ],
            "frontendEndpoints": [
                {
                    "id": f"{rid}/frontendEndpoints/{endpoint}",
                    "name": endpoint,
                    "properties": {
                        "hostName": f"{name}.azurefd.net",
                        "sessionAffinityEnabledState": "Disabled",
                        "sessionAffinityTtlSeconds": 0,
                        "webApplicationFirewallPolicyLink": None,
                    },
                }
            ],
            "backendPoolsSettings": {
                "enforceCertificateNameCheck": "Enabled",
                "sendRecvTimeoutSeconds": 30,
            },
        },
    }
