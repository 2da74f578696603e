"""The rest of the demo: production monitoring and security, the apps, the edge, the shop
platform, and the dev/test subscription. Each section returns its documents (see
:data:`sim.estate.demo.SECTIONS` for the order).
"""

from __future__ import annotations

from sim.estate import (
    appservice,
    compute,
    edge,
    keyvault,
    monitoring,
    network,
    sql,
    storage,
)
from sim.estate.common import Doc, guid, resource_id
from sim.estate.demo_context import (
    DEV_LOC,
    DEV_TAGS,
    HIPAA_TAG,
    PHI_TAGS,
    PROD_LOC,
    PROD_TAGS,
    RG_DEV,
    RG_MONITORING,
    RG_PHI,
    RG_SECURITY,
    RG_SHOP,
    SHOP_TAGS,
    Demo,
)


def prod_monitoring(c: Demo) -> list[Doc]:
    """Monitoring: the audit workspace keeps six years (P5 twin), the legacy one 30 days (P5)."""
    t, p, ids = c.t, c.p, c.ids
    docs: list[Doc] = []
    legacy_ws = monitoring.workspace(
        p,
        RG_MONITORING,
        "log-chs-legacy-prod",
        PROD_LOC,
        {**PROD_TAGS, **HIPAA_TAG},
        retention=30,
        tables=[("AzureDiagnostics", 30, 30), ("AppServiceHTTPLogs", 30, 30)],
        public_network="Enabled",
        local_auth=True,
        created=40,
    )
    docs += c.audit_ws + legacy_ws
    pe_audit = resource_id(
        p, RG_PHI, "Microsoft.Network/privateEndpoints", "pe-stchsauditprod-blob"
    )
    docs.append(
        storage.account(
            p,
            RG_MONITORING,
            "stchsauditprod",
            PROD_LOC,
            {**PROD_TAGS, **HIPAA_TAG},
            t,
            cmk_vault="kv-chs-cmk-prod",
            cmk_key="cmk-storage-audit",
            private_endpoints=[pe_audit],
            created=20,
            sku="Standard_GZRS",  # issue 14: the audit archive survives a region
            immutable_days=2192,  # and is immutable (WORM) for six years, locked
        )
    )
    docs.append(storage.blob_service(ids["st_audit"], soft_delete_days=35, versioning=True))
    docs.append(
        monitoring.diagnostic_setting(
            f"{ids['st_audit']}/blobServices/default",
            "blob-audit-to-law",
            workspace_id=c.audit_ws_id,
            logs=[monitoring.log(group="audit")],
            metrics=("Transaction",),
        )
    )
    # The workspaces' own query audit (LAQueryLogs): only the audit workspace has it.
    docs.append(
        monitoring.diagnostic_setting(
            c.audit_ws_id,
            "law-query-audit",
            workspace_id=c.audit_ws_id,
            logs=[monitoring.log(group="audit")],
        )
    )
    action_group = monitoring.action_group(
        p,
        RG_MONITORING,
        "ag-chs-secops",
        "chssecops",
        "secops@contoso-health-shop.example",
    )
    docs.append(action_group)
    for name, operation, description in (
        (
            "alert-chs-policy-assignment-write",
            "Microsoft.Authorization/policyAssignments/write",
            "Policy assignment created or updated.",
        ),
        (
            "alert-chs-nsg-write",
            "Microsoft.Network/networkSecurityGroups/write",
            "Network security group created or updated.",
        ),
        (
            "alert-chs-nsg-rule-write",
            "Microsoft.Network/networkSecurityGroups/securityRules/write",
            "Network security group rule created or updated.",
        ),
    ):
        docs.append(
            monitoring.activity_log_alert(
                p,
                RG_MONITORING,
                name,
                operation=operation,
                action_group=action_group["id"],
                description=description,
            )
        )
    docs.append(
        monitoring.diagnostic_setting(
            ids["sub_prod"],
            "activity-log-to-audit",
            workspace_id=c.audit_ws_id,
            logs=[monitoring.log(category) for category in monitoring.ACTIVITY_LOG_CATEGORIES],
            metrics=(),
        )
    )
    docs.append(
        monitoring.diagnostic_setting(
            ids["sub_dev"],
            "activity-log-to-audit",
            workspace_id=c.audit_ws_id,
            logs=[
                monitoring.log("Administrative"),
                monitoring.log("Security"),
                monitoring.log("Policy"),
            ],
            metrics=(),
        )
    )
    return docs


def prod_security(c: Demo) -> list[Doc]:
    """Security: the customer-managed-key vault (RBAC model, logged: P4 and P5 twin)."""
    t, p, ids = c.t, c.p, c.ids
    docs: list[Doc] = []
    pe_kv = resource_id(p, RG_PHI, "Microsoft.Network/privateEndpoints", "pe-kv-chs-cmk-prod")
    docs.append(
        keyvault.vault(
            p,
            RG_SECURITY,
            "kv-chs-cmk-prod",
            PROD_LOC,
            {**PROD_TAGS, "data-classification": "phi"},
            t,
            rbac=True,
            private_endpoints=[pe_kv],
            created=10,
        )
    )
    docs.append(
        monitoring.diagnostic_setting(
            ids["kv_cmk"],
            "kv-audit-to-law",
            workspace_id=c.audit_ws_id,
            logs=[monitoring.log(group="audit"), monitoring.log(group="allLogs")],
        )
    )
    return docs


def prod_apps(c: Demo) -> list[Doc]:
    """Apps: the pharmacy portal (PHI) and the storefront + order functions (front end)."""
    t, p, ids = c.t, c.p, c.ids
    docs: list[Doc] = []
    docs += appservice.site(
        p,
        RG_PHI,
        "app-chs-pharmacy-portal",
        PROD_LOC,
        PHI_TAGS,
        t,
        ftps="Disabled",
        public_network="Disabled",
        subnet_id=c.phi_subnet("snet-app"),
        plan="asp-chs-phi-prod",
    )
    docs.append(
        monitoring.diagnostic_setting(
            ids["app_portal"],
            "appsvc-to-law",
            workspace_id=c.audit_ws_id,
            logs=[
                monitoring.log("AppServiceHTTPLogs"),
                monitoring.log("AppServiceAuditLogs"),
                monitoring.log("AppServiceConsoleLogs"),
            ],
        )
    )
    docs += appservice.site(
        p,
        RG_SHOP,
        "app-chs-storefront",
        PROD_LOC,
        SHOP_TAGS,
        t,
        ftps="FtpsOnly",
        plan="asp-chs-shop-prod",
    )
    docs.append(
        monitoring.diagnostic_setting(
            ids["app_storefront"],
            "appsvc-to-law",
            workspace_id=c.audit_ws_id,
            logs=[
                monitoring.log("AppServiceHTTPLogs"),
                monitoring.log("AppServiceAuditLogs"),
            ],
        )
    )
    docs += appservice.site(
        p,
        RG_SHOP,
        "func-chs-orders",
        PROD_LOC,
        SHOP_TAGS,
        t,
        kind="functionapp,linux",
        ftps="Disabled",
        plan="asp-chs-func-prod",
    )
    return docs


def prod_edge(c: Demo) -> list[Doc]:
    """Edge: Front Door with two WAF policies; the pharmacy portal's is in Detection mode (P6)."""
    p, ids = c.p, c.ids
    docs: list[Doc] = []
    profile = edge.afd_profile(p, RG_SHOP, "afd-chs-prod", {**SHOP_TAGS, **HIPAA_TAG})
    domain_portal = edge.afd_custom_domain(
        profile["id"],
        "pharmacy-contoso-health-shop-example",
        "pharmacy.contoso-health-shop.example",
    )
    domain_shop = edge.afd_custom_domain(
        profile["id"],
        "www-contoso-health-shop-example",
        "www.contoso-health-shop.example",
    )
    sp_portal = edge.afd_security_policy(
        profile["id"], "sp-pharmacy-portal", ids["waf_fd_portal"], [domain_portal["id"]]
    )
    sp_shop = edge.afd_security_policy(
        profile["id"], "sp-storefront", ids["waf_fd_shop"], [domain_shop["id"]]
    )
    docs += [profile, domain_portal, domain_shop, sp_portal, sp_shop]
    docs.append(
        monitoring.diagnostic_setting(
            profile["id"],
            "afd-to-law",
            workspace_id=c.audit_ws_id,
            logs=[
                monitoring.log("FrontDoorAccessLog"),
                monitoring.log("FrontDoorWebApplicationFirewallLog"),
            ],
        )
    )
    docs.append(
        edge.fd_waf_policy(
            p,
            RG_SHOP,
            "wafchspharmacyportal",
            {**SHOP_TAGS, **HIPAA_TAG},
            mode="Detection",
            security_policies=[sp_portal["id"]],
        )
    )
    docs.append(
        edge.fd_waf_policy(
            p,
            RG_SHOP,
            "wafchsstorefront",
            {**SHOP_TAGS, **HIPAA_TAG},
            mode="Prevention",
            security_policies=[sp_shop["id"]],
        )
    )
    agw_id = resource_id(p, RG_PHI, "Microsoft.Network/applicationGateways", "agw-chs-patient-api")
    docs.append(
        edge.appgw_waf_policy(
            p,
            RG_PHI,
            "wafchspatientapi",
            PROD_LOC,
            PHI_TAGS,
            mode="Prevention",
            gateways=[agw_id],
        )
    )
    return docs


def shop_platform(c: Demo) -> list[Doc]:
    """Shop platform (no PHI): product catalog, the container platform, the classic Front Door
    that still fronts the old storefront hostname."""
    t, p = c.t, c.p
    docs: list[Doc] = []
    docs.append(sql.cosmos_account(p, RG_SHOP, "cosmos-chs-catalog", PROD_LOC, SHOP_TAGS))
    docs.append(compute.aks_cluster(p, RG_SHOP, "aks-chs-shop", PROD_LOC, SHOP_TAGS, t))
    docs.append(
        edge.classic_front_door(
            p,
            RG_SHOP,
            "fd-chs-legacy-shop",
            SHOP_TAGS,
            "app-chs-storefront.azurewebsites.net",
        )
    )
    return docs


def dev_test(c: Demo) -> list[Doc]:
    """Dev/test: no PHI; TLS 1.0 storage, plain-HTTP web app, an RBAC vault."""
    t, d, ids = c.t, c.d, c.ids
    docs: list[Doc] = []
    dev_vnet = resource_id(d, RG_DEV, "Microsoft.Network/virtualNetworks", "vnet-chs-shop-dev")
    docs.append(
        storage.account(
            d,
            RG_DEV,
            "stchsdevassets",
            DEV_LOC,
            DEV_TAGS,
            t,
            min_tls="TLS1_0",
            default_action="Allow",
            public_network="Enabled",
            shared_key=True,
            infrastructure_encryption=False,
            oauth_default=False,
            created=100,
        )
    )
    docs.append(storage.blob_service(ids["st_dev"], soft_delete_days=None, versioning=False))
    docs += appservice.site(
        d,
        RG_DEV,
        "app-chs-shop-dev",
        DEV_LOC,
        DEV_TAGS,
        t,
        https_only=False,
        ftps="AllAllowed",
        identity=False,
        plan="asp-chs-shop-dev",
    )
    docs += network.nsg(
        d,
        RG_DEV,
        "nsg-chs-shop-dev",
        DEV_LOC,
        DEV_TAGS,
        [
            {
                "name": "AllowHttpsInbound",
                "priority": 100,
                "source": "Internet",
                "port": "443",
            },
            {
                "name": "AllowSshFromOffice",
                "priority": 200,
                "source": "198.51.100.0/24",
                "port": "22",
                "description": "Office egress range.",
            },
        ],
        subnets=[f"{dev_vnet}/subnets/snet-web"],
    )
    docs += network.vnet(
        d,
        RG_DEV,
        "vnet-chs-shop-dev",
        DEV_LOC,
        DEV_TAGS,
        "10.90.0.0/16",
        [
            ("snet-web", "10.90.1.0/24", ids["nsg_dev"], []),
        ],
    )
    docs.append(
        keyvault.vault(
            d,
            RG_DEV,
            "kv-chs-shop-dev",
            DEV_LOC,
            DEV_TAGS,
            t,
            rbac=False,
            access_policies=[
                keyvault.access_policy(
                    t,
                    guid("principal", "group", "shop-developers"),
                    ["get", "list"],
                    ["get", "list", "set"],
                    ["get", "list"],
                )
            ],
            public_network="Enabled",
            default_action="Allow",
            created=110,
        )
    )
    docs.append(
        monitoring.diagnostic_setting(
            ids["kv_dev"],
            "kv-audit-to-law",
            workspace_id=c.audit_ws_id,
            logs=[monitoring.log(group="audit")],
        )
    )
    return docs
