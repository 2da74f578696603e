"""The demo's names: tenant, subscriptions and resource groups, the ids of its notable
resources, what is known to be wrong in it and the compliant twin of each failure pattern, and
the :class:`Demo` context its sections share."""

from __future__ import annotations

from dataclasses import dataclass

from sim.estate import monitoring, network
from sim.estate.common import Doc, guid, resource_id, sub_id
from sim.estate.governance import role_definition_id

DEMO_TENANT = guid("tenant", "contoso-health-shop")
DEMO_PROD = guid("subscription", "contoso-health-shop", "production")
DEMO_DEV = guid("subscription", "contoso-health-shop", "devtest")
PROD_LOC = "eastus2"
DEV_LOC = "eastus"

# Resource groups of the demo, by role.
RG_SHOP = "rg-chs-shop-prod"  # storefront: web + function app, Front Door and WAF policies
RG_PHI = "rg-chs-phi-prod"  # patient data: tagged data-classification=phi
RG_SECURITY = "rg-chs-security-prod"  # customer-managed keys
RG_MONITORING = "rg-chs-monitoring-prod"  # Log Analytics, audit storage, alerts
RG_NETWATCH = network.WATCHER_RG
RG_DEV = "rg-chs-shop-dev"
CUSTOM_ROLE = "CHS Operations (custom)"


def demo_ids() -> dict[str, str]:
    """Ids of the demo's notable resources (violations and their compliant twins)."""
    p, d = DEMO_PROD, DEMO_DEV
    return {
        "sub_prod": sub_id(p),
        "sub_dev": sub_id(d),
        "st_phi_docs": resource_id(p, RG_PHI, "Microsoft.Storage/storageAccounts", "stchsphidocs"),
        "st_phi_records": resource_id(
            p, RG_PHI, "Microsoft.Storage/storageAccounts", "stchsphirecords"
        ),
        "st_audit": resource_id(
            p, RG_MONITORING, "Microsoft.Storage/storageAccounts", "stchsauditprod"
        ),
        "st_dev": resource_id(d, RG_DEV, "Microsoft.Storage/storageAccounts", "stchsdevassets"),
        "disk_phi_data": resource_id(
            p, RG_PHI, "Microsoft.Compute/disks", "disk-vm-chs-phi-etl01-data"
        ),
        "disk_phi_os": resource_id(
            p, RG_PHI, "Microsoft.Compute/disks", "disk-vm-chs-phi-etl01-os"
        ),
        "vm_phi": resource_id(p, RG_PHI, "Microsoft.Compute/virtualMachines", "vm-chs-phi-etl01"),
        "sql_phi_smk": resource_id(p, RG_PHI, "Microsoft.Sql/servers", "sql-chs-phi-orders"),
        "sql_phi_cmk": resource_id(p, RG_PHI, "Microsoft.Sql/servers", "sql-chs-phi-records"),
        "kv_phi_app": resource_id(p, RG_PHI, "Microsoft.KeyVault/vaults", "kv-chs-phi-app"),
        "kv_cmk": resource_id(p, RG_SECURITY, "Microsoft.KeyVault/vaults", "kv-chs-cmk-prod"),
        "kv_dev": resource_id(d, RG_DEV, "Microsoft.KeyVault/vaults", "kv-chs-shop-dev"),
        "law_legacy": (
            f"/subscriptions/{p}/resourcegroups/{RG_MONITORING}/providers/"
            "microsoft.operationalinsights/workspaces/log-chs-legacy-prod"
        ),
        "law_audit": (
            f"/subscriptions/{p}/resourcegroups/{RG_MONITORING}/providers/"
            "microsoft.operationalinsights/workspaces/log-chs-audit-prod"
        ),
        "waf_fd_portal": resource_id(
            p,
            RG_SHOP,
            "Microsoft.Network/FrontDoorWebApplicationFirewallPolicies",
            "wafchspharmacyportal",
        ),
        "waf_fd_shop": resource_id(
            p,
            RG_SHOP,
            "Microsoft.Network/FrontDoorWebApplicationFirewallPolicies",
            "wafchsstorefront",
        ),
        "agw": resource_id(
            p, RG_PHI, "Microsoft.Network/applicationGateways", "agw-chs-patient-api"
        ),
        "waf_appgw": resource_id(
            p,
            RG_PHI,
            "Microsoft.Network/ApplicationGatewayWebApplicationFirewallPolicies",
            "wafchspatientapi",
        ),
        "nsg_phi_app": resource_id(
            p, RG_PHI, "Microsoft.Network/networkSecurityGroups", "nsg-chs-phi-app"
        ),
        "nsg_phi_data": resource_id(
            p, RG_PHI, "Microsoft.Network/networkSecurityGroups", "nsg-chs-phi-data"
        ),
        "nsg_dev": resource_id(
            d, RG_DEV, "Microsoft.Network/networkSecurityGroups", "nsg-chs-shop-dev"
        ),
        "app_dev": resource_id(d, RG_DEV, "Microsoft.Web/sites", "app-chs-shop-dev"),
        "app_portal": resource_id(p, RG_PHI, "Microsoft.Web/sites", "app-chs-pharmacy-portal"),
        "app_storefront": resource_id(p, RG_SHOP, "Microsoft.Web/sites", "app-chs-storefront"),
        "custom_role": role_definition_id(p, guid(p, "custom-role", CUSTOM_ROLE)),
    }


def demo_ground_truth() -> dict[str, list[str]]:
    """Resources of :func:`demo_estate` known to violate each failure pattern, and — for every
    check of the catalog that fails anywhere in the demo — exactly the resources it fails.

    P3 note: the HITRUST/HIPAA initiative is assigned on the (non-PHI) dev/test subscription
    only — the classic "assigned on the wrong subscription" mistake — so the PHI production
    subscription has no baseline.
    """
    ids = demo_ids()
    extra = issue14_ground_truth()
    return {
        "P1": [ids["st_phi_docs"], ids["disk_phi_data"], *extra.pop("P1")],
        "P2": [ids["sql_phi_smk"], *extra.pop("P2")],
        "P3": [ids["sub_prod"]],
        "P4": [ids["kv_phi_app"]],
        "P5": [ids["kv_phi_app"], ids["st_phi_docs"], ids["law_legacy"], *extra.pop("P5")],
        "P6": [ids["waf_fd_portal"]],
        # pattern checks
        "storage_account_customer_managed_key_enabled": [ids["st_phi_docs"]],
        "compute_disk_customer_managed_key_enabled": [ids["disk_phi_data"]],
        "sql_server_tde_protector_customer_managed": [ids["sql_phi_smk"]],
        "governance_subscription_hipaa_initiative_assigned": [ids["sub_prod"]],
        "keyvault_vault_access_policies_not_broad": [ids["kv_phi_app"]],
        "keyvault_vault_audit_logs_enabled": [ids["kv_phi_app"]],
        "storage_account_blob_diagnostic_logs_enabled": [ids["st_phi_docs"]],
        "monitoring_workspace_total_retention_six_years": [ids["law_legacy"]],
        "monitoring_resource_audit_logs_enabled": [
            ids["law_legacy"],
            *extra.pop("monitoring_resource_audit_logs_enabled"),
        ],
        "edge_frontdoor_waf_policy_prevention_mode": [ids["waf_fd_portal"]],
        # the rest of what is wrong in the demo
        "network_nsg_management_ports_internet_closed": [ids["nsg_phi_app"]],
        "network_nsg_phi_internet_inbound_denied": [ids["nsg_phi_app"]],
        "storage_account_min_tls_1_2": [ids["st_dev"]],
        "storage_account_public_network_access_restricted": [ids["st_dev"]],
        "storage_account_private_endpoint_approved": [ids["st_phi_docs"]],
        "storage_account_blob_versioning_enabled": [ids["st_phi_docs"]],
        "storage_account_oauth_default_enabled": [ids["st_phi_docs"]],
        "appservice_site_https_only": [ids["app_dev"]],
        "appservice_site_ftps_only": [ids["app_dev"]],
        "monitoring_workspace_public_query_disabled": [ids["law_legacy"]],
        "monitoring_workspace_public_ingestion_disabled": [ids["law_legacy"]],
        "monitoring_workspace_local_auth_disabled": [ids["law_legacy"]],
        "monitoring_subscription_admin_activity_alert": [ids["sub_dev"]],
        "keyvault_vault_purge_protection_enabled": [ids["kv_phi_app"]],
        "keyvault_vault_rbac_authorization_enabled": [ids["kv_phi_app"], ids["kv_dev"]],
        "keyvault_vault_network_access_restricted": [ids["kv_phi_app"]],
        "keyvault_vault_private_endpoint_approved": [ids["kv_phi_app"]],
        "governance_custom_role_no_broad_permissions": [ids["custom_role"]],
        "governance_subscription_no_privileged_service_principal": [ids["sub_prod"]],
        **extra,
    }


def demo_compliant_twins() -> dict[str, list[str]]:
    """For each pattern, resources of :func:`demo_estate` that are set up correctly for it.

    Every twin is PHI-scoped except P3's, the dev/test subscription, which carries the
    initiative (evaluate it with PHI scope forced on to see it pass).
    """
    ids = demo_ids()
    d = data_service_ids(DEMO_PROD)
    return {
        "P1": [
            ids["st_phi_records"],
            ids["disk_phi_os"],
            *(d[k] for k in ("cosmos_ok", "pg_ok", "mysql_ok", "fhir_ok")),
        ],
        "P2": [ids["sql_phi_cmk"], d["sqlmi_ok"]],
        "P3": [ids["sub_dev"]],
        "P4": [ids["kv_cmk"], ids["kv_dev"]],
        "P5": [ids["kv_cmk"], ids["st_phi_records"], ids["law_audit"], d["mysql_ok"]],
        "P6": [ids["waf_fd_shop"], ids["waf_appgw"]],
    }


PROD_TAGS = {"environment": "production", "cost-center": "chs-ecommerce"}
PHI_TAGS = {**PROD_TAGS, "workload": "patient-records"}
SHOP_TAGS = {**PROD_TAGS, "workload": "storefront"}
DEV_TAGS = {"environment": "dev", "cost-center": "chs-ecommerce"}
HIPAA_TAG = {"hipaa": "true"}


@dataclass(frozen=True)
class Demo:
    """What the demo's sections share: tenant (``t``), production (``p``) and dev/test (``d``)
    subscriptions, the notable ids, and the audit workspace every audit log goes to."""

    t: str
    p: str
    d: str
    ids: dict[str, str]
    audit_ws: list[Doc]  # the six-year audit workspace and its tables

    @classmethod
    def create(cls) -> Demo:
        audit_ws = monitoring.workspace(
            DEMO_PROD,
            RG_MONITORING,
            "log-chs-audit-prod",
            PROD_LOC,
            {**PROD_TAGS, **HIPAA_TAG},
            retention=90,
            tables=[
                ("AzureActivity", 90, 2192),
                ("AzureDiagnostics", 90, 2192),
                ("StorageBlobLogs", 90, 2192),
            ],
        )
        return cls(DEMO_TENANT, DEMO_PROD, DEMO_DEV, demo_ids(), audit_ws)

    @property
    def audit_ws_id(self) -> str:
        return str(self.audit_ws[0]["id"])

    @property
    def phi_vnet(self) -> str:
        return resource_id(self.p, RG_PHI, "Microsoft.Network/virtualNetworks", "vnet-chs-phi-prod")

    def phi_subnet(self, name: str) -> str:
        return f"{self.phi_vnet}/subnets/{name}"

    @property
    def etl_sp(self) -> str:
        """The ETL pipeline's service principal (the broad access policy's and role's holder)."""
        return guid("principal", "service-principal", "chs-etl-pipeline")

    @property
    def portal_mi(self) -> str:
        """The pharmacy portal's managed identity."""
        return guid(self.ids["app_portal"], "identity")


# --- issue 14: the areas added to the catalog ----------------------------------------------------

PG = "Microsoft.DBforPostgreSQL"
MY = "Microsoft.DBforMySQL"


def data_service_ids(p: str) -> dict[str, str]:
    """Ids of the demo's data-service violators (``*_bad``) and compliant twins (``*_ok``)."""

    def rid(rtype: str, name: str) -> str:
        return resource_id(p, RG_PHI, rtype, name)

    hds = rid("Microsoft.HealthcareApis/workspaces", "hdwschsphi")
    return {
        "cosmos_bad": rid("Microsoft.DocumentDB/databaseAccounts", "cosmos-chs-phi-notes"),
        "cosmos_ok": rid("Microsoft.DocumentDB/databaseAccounts", "cosmos-chs-phi-rx"),
        "pg_bad": rid(f"{PG}/flexibleServers", "psql-chs-phi-intake"),
        "pg_ok": rid(f"{PG}/flexibleServers", "psql-chs-phi-claims"),
        "mysql_bad": rid(f"{MY}/flexibleServers", "mysql-chs-phi-legacy"),
        "mysql_ok": rid(f"{MY}/flexibleServers", "mysql-chs-phi-billing"),
        "sqlmi_bad": rid("Microsoft.Sql/managedInstances", "sqlmi-chs-phi-ehr"),
        "sqlmi_ok": rid("Microsoft.Sql/managedInstances", "sqlmi-chs-phi-lab"),
        "redis_bad": rid("Microsoft.Cache/Redis", "redis-chs-phi-sessions"),
        "redis_ok": rid("Microsoft.Cache/Redis", "redis-chs-phi-cache"),
        "acr_bad": rid("Microsoft.ContainerRegistry/registries", "acrchsphibuild"),
        "acr_ok": rid("Microsoft.ContainerRegistry/registries", "acrchsphiprod"),
        "search_bad": rid("Microsoft.Search/searchServices", "srch-chs-phi-notes"),
        "search_ok": rid("Microsoft.Search/searchServices", "srch-chs-phi-records"),
        "sb_bad": rid("Microsoft.ServiceBus/namespaces", "sb-chs-phi-orders"),
        "evh_ok": rid("Microsoft.EventHub/namespaces", "evh-chs-phi-telemetry"),
        "fhir_bad": f"{hds}/fhirservices/fhirresearch",
        "fhir_ok": f"{hds}/fhirservices/fhirclinical",
        "fhir_legacy": rid("Microsoft.HealthcareApis/services", "fhir-chs-legacy"),
        "fhir_patients": f"{hds}/fhirservices/fhirpatients",
    }


def backup_ids(p: str) -> dict[str, str]:
    """Ids of the demo's backup section (area 2)."""

    def rid(rtype: str, name: str) -> str:
        return resource_id(p, RG_PHI, rtype, name)

    return {
        "vault_ok": rid("Microsoft.RecoveryServices/vaults", "rsv-chs-phi-prod"),
        "vault_bad": rid("Microsoft.RecoveryServices/vaults", "rsv-chs-phi-legacy"),
        "vm_report": rid("Microsoft.Compute/virtualMachines", "vm-chs-phi-report01"),
        "disk_report_os": rid("Microsoft.Compute/disks", "disk-vm-chs-phi-report01-os"),
        "nic": rid("Microsoft.Network/networkInterfaces", "nic-vm-chs-phi-report01"),
        "db_orders": (
            rid("Microsoft.Sql/servers", "sql-chs-phi-orders")
            + "/databases/sqldb-prescription-orders"
        ),
        "db_records": (
            rid("Microsoft.Sql/servers", "sql-chs-phi-records") + "/databases/sqldb-patient-records"
        ),
        "st_docs": rid("Microsoft.Storage/storageAccounts", "stchsphidocs"),
    }


def network_ids(p: str) -> dict[str, str]:
    """Ids of the demo's network-remainder and session sections (areas 6 and 7)."""
    return {
        "app_intake": resource_id(p, RG_PHI, "Microsoft.Web/sites", "app-chs-phi-intake"),
        "vnet_dev": resource_id(
            DEMO_DEV, RG_DEV, "Microsoft.Network/virtualNetworks", "vnet-chs-shop-dev"
        ),
    }


_NETWORK_FAILS: dict[str, tuple[str, ...]] = {
    "app_intake": (
        "appservice_site_cors_no_wildcard",
        "appservice_site_client_certificates_required",
        "appservice_site_internet_only_through_front",
        "appservice_site_public_network_access_disabled",
        # area 7: 8-hour cookie, 72-hour refresh, anonymous requests let through
        "appservice_site_auth_session_lifetime_limited",
        "appservice_site_auth_token_refresh_limited",
        "appservice_site_auth_anonymous_denied",
    ),
    # Dev/test has a VNet in eastus but no Network Watcher there.
    "vnet_dev": ("network_vnet_region_network_watcher",),
}

_BACKUP_FAILS: dict[str, tuple[str, ...]] = {
    "vault_bad": (
        "backup_vault_soft_delete_enabled",
        "backup_vault_immutability_locked",
        "backup_vault_geo_redundant_storage",
        "backup_vault_job_failure_alerts_enabled",
    ),
    "vm_report": (
        "backup_virtual_machine_protected",
        "compute_virtual_machine_jit_access_enabled",  # area 6: JIT covers only the ETL VM
    ),
    "db_orders": ("sql_database_long_term_retention_configured",),
    "st_docs": (
        "storage_account_geo_redundant",
        "storage_account_file_share_soft_delete_enabled",
    ),
}

_AUDIT_FAILS: dict[str, tuple[str, ...]] = {
    "sub_prod": (
        "monitoring_subscription_alert_nsg_delete",
        # area 5: plans left on Free, owners not copied on alerts
        "defender_subscription_containers_plan_enabled",
        "defender_subscription_open_source_databases_plan_enabled",
        "defender_subscription_owner_alert_notifications",
    ),
    "sub_dev": ("monitoring_subscription_activity_log_archive_immutable",),
    "sql_phi_smk": (
        "sql_server_audit_retention_six_years",
        "sql_server_vulnerability_assessment_enabled",
        # area 6: AllowAllWindowsAzureIps and a vendor's 0.0.0.0-255.255.255.255 rule
        "sql_server_firewall_no_internet_wide_rule",
        "sql_server_firewall_azure_services_denied",
    ),
}

_DATA_FAILS: dict[str, tuple[str, ...]] = {
    "cosmos_bad": (
        "cosmosdb_account_public_network_access_disabled",
        "cosmosdb_account_local_auth_disabled",
        "cosmosdb_account_customer_managed_key_enabled",
        "cosmosdb_account_min_tls_1_2",
        "cosmosdb_account_key_metadata_write_disabled",
        "cosmosdb_account_firewall_not_open",
        "cosmosdb_account_continuous_backup_enabled",
        "monitoring_resource_audit_logs_enabled",
    ),
    "pg_bad": (
        "postgresql_flexible_server_public_network_access_disabled",
        "postgresql_flexible_server_entra_auth_enabled",
        "postgresql_flexible_server_password_auth_disabled",
        "postgresql_flexible_server_customer_managed_key_enabled",
        "postgresql_flexible_server_secure_transport_required",
        "postgresql_flexible_server_geo_redundant_backup_enabled",
        "monitoring_resource_audit_logs_enabled",
    ),
    "mysql_bad": (
        "mysql_flexible_server_public_network_access_disabled",
        "mysql_flexible_server_customer_managed_key_enabled",
        "mysql_flexible_server_secure_transport_required",
        "mysql_flexible_server_audit_log_enabled",
        "mysql_flexible_server_geo_redundant_backup_enabled",
        "monitoring_resource_audit_logs_enabled",
    ),
    "sqlmi_bad": (
        "sql_managed_instance_public_endpoint_disabled",
        "sql_managed_instance_min_tls_1_2",
        "sql_managed_instance_entra_only_authentication",
        "sql_managed_instance_tde_protector_customer_managed",
        "monitoring_resource_audit_logs_enabled",
    ),
    "redis_bad": (
        "redis_cache_non_ssl_port_disabled",
        "redis_cache_min_tls_1_2",
        "redis_cache_public_network_access_disabled",
        "redis_cache_access_keys_disabled",
        "monitoring_resource_audit_logs_enabled",
    ),
    "acr_bad": (
        "containerregistry_registry_admin_user_disabled",
        "containerregistry_registry_anonymous_pull_disabled",
        "containerregistry_registry_public_network_access_disabled",
        "containerregistry_registry_customer_managed_key_enabled",
        "monitoring_resource_audit_logs_enabled",
    ),
    "search_bad": (
        "search_service_public_network_access_disabled",
        "search_service_local_auth_disabled",
        "search_service_customer_managed_key_enforced",
        "monitoring_resource_audit_logs_enabled",
    ),
    "sb_bad": (
        "messaging_namespace_local_auth_disabled",
        "messaging_namespace_min_tls_1_2",
        "messaging_namespace_public_network_access_disabled",
        "messaging_namespace_customer_managed_key_enabled",
        "monitoring_resource_audit_logs_enabled",
    ),
    "fhir_bad": (
        "health_fhir_public_network_access_disabled",
        "health_fhir_customer_managed_key_enabled",
        "health_fhir_cors_no_wildcard",
    ),
    # The FHIR servers that predate the catalog's CMK check use Microsoft-managed keys.
    "fhir_legacy": ("health_fhir_customer_managed_key_enabled",),
    "fhir_patients": ("health_fhir_customer_managed_key_enabled",),
}
_PATTERN_CHECKS = {
    "P1": (
        "cosmosdb_account_customer_managed_key_enabled",
        "postgresql_flexible_server_customer_managed_key_enabled",
        "mysql_flexible_server_customer_managed_key_enabled",
        "health_fhir_customer_managed_key_enabled",
    ),
    "P2": ("sql_managed_instance_tde_protector_customer_managed",),
    "P5": (
        "mysql_flexible_server_audit_log_enabled",
        "monitoring_resource_audit_logs_enabled",
        "monitoring_subscription_activity_log_archive_immutable",
        "sql_server_audit_retention_six_years",
    ),
}


def issue14_ground_truth() -> dict[str, list[str]]:
    """What the resources added for issue 14 fail: check id → ids, plus the P1/P2/P5 pattern
    members among them (``demo_ground_truth`` merges them)."""
    truth: dict[str, list[str]] = {}
    for names, fails in (
        (data_service_ids(DEMO_PROD), _DATA_FAILS),
        (backup_ids(DEMO_PROD), _BACKUP_FAILS),
        (demo_ids(), _AUDIT_FAILS),
        (network_ids(DEMO_PROD), _NETWORK_FAILS),
    ):
        for name, failing in fails.items():
            for check_id in failing:
                truth.setdefault(check_id, []).append(names[name])
    for pattern, members in _PATTERN_CHECKS.items():
        truth[pattern] = list(
            dict.fromkeys(rid for check_id in members for rid in truth.get(check_id, []))
        )
    return truth
