"""The catalog's coverage of issue 14's areas against the three references an assessor brings:
the Azure HITRUST/HIPAA policy initiative (a169a624), Prowler's ``hipaa_azure.json`` and
Powerpipe's HIPAA HITRUST 9.2 benchmark (which follows the initiative's automated policies).

Rendered into docs/CHECKS.md by :func:`shared.report.catalog_markdown`; every check id named
here must exist (a test holds it to the catalog). Prowler check names are those of
prowler-cloud/prowler ``prowler/compliance/azure/hipaa_azure.json``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Area:
    name: str
    checks: tuple[str, ...]  # check-id prefixes or ids phiguard covers the area with
    covered: str  # what phiguard judges fully, and how that compares with the references
    partial: str  # what it judges only in part
    invisible: str  # what ARM cannot show, and why


AREAS: tuple[Area, ...] = (
    Area(
        "1. PHI data services beyond Storage and SQL",
        (
            "cosmosdb_",
            "postgresql_",
            "mysql_",
            "sql_managed_instance_",
            "redis_",
            "containerregistry_",
            "search_",
            "messaging_",
            "health_",
            "monitoring_resource_audit_logs_enabled",
        ),
        "Cosmos DB, PostgreSQL / MySQL flexible servers, SQL managed instance, Redis, Container "
        "Registry, AI Search, Service Bus / Event Hubs and FHIR: public access, keys vs Entra "
        "ID, customer-managed keys, TLS minimums, audit logs. Initiative: only Cosmos DB CMK, "
        "public access and local auth, ACR CMK, AI Search public access, Service Bus local auth "
        "and Redis TLS-only have built-in twins (cited); Prowler: cosmosdb_account_*, "
        "containerregistry_not_publicly_accessible, aisearch_service_not_publicly_accessible, "
        "mysql_flexible_server_audit_log_enabled, postgresql_flexible_server_entra_id_* are all "
        "covered; Powerpipe: as the initiative.",
        "Firewall rules of PostgreSQL / MySQL / Service Bus (child documents) are not read, so a "
        "server with public access on FAILs whatever its rules; PostgreSQL log_checkpoints / "
        "log_connections (Prowler) are not read; Data Lake / Synapse are not in the catalog yet.",
        "Data-plane settings: Cosmos DB RBAC role assignments, per-index CMK of AI Search, "
        "database users and roles inside PostgreSQL / MySQL / SQL MI, Always Encrypted.",
    ),
    Area(
        "2. Backup and disaster recovery",
        (
            "backup_",
            "sql_database_long_term_retention_configured",
            "sql_database_geo_redundant_backup",
            "storage_account_geo_redundant",
            "storage_account_file_share_soft_delete_enabled",
            "cosmosdb_account_continuous_backup_enabled",
            "postgresql_flexible_server_geo_redundant_backup_enabled",
            "mysql_flexible_server_geo_redundant_backup_enabled",
        ),
        "Azure Backup of PHI VMs (initiative 013e242c, Prowler vm_backup_enabled), vault soft "
        "delete, locked immutability, geo-redundancy, cross-region restore and job-failure "
        "alerts (none in the initiative or Prowler), SQL LTR and backup redundancy, PHI storage "
        "GRS/GZRS and share soft delete (Prowler storage_geo_redundant_enabled, "
        "storage_ensure_file_shares_soft_delete_is_enabled), Cosmos continuous backup (Prowler "
        "cosmosdb_account_backup_policy_continuous), flexible-server geo-backup.",
        "Prowler's vm_sufficient_daily_backup_retention_period needs the backup policy "
        "documents, which are not read; a VM protected by a vault in another subscription "
        "FAILs.",
        "Whether restores work (restore tests are a procedure, §164.308(a)(7)(ii)(D)); backups "
        "made by agents or scripts outside Azure Backup.",
    ),
    Area(
        "3. Privileged access",
        (
            "governance_custom_role_no_broad_permissions",
            "governance_subscription_owner_count_in_range",
            "governance_subscription_no_standing_access_administrator",
            "governance_subscription_no_privileged_service_principal",
            "governance_subscription_privileged_roles_through_groups",
            "governance_subscription_no_classic_coadministrators",
        ),
        "Through ARM authorization, on every event and sweep of a PHI subscription: 2 to 3 "
        "owners at the subscription and above, no standing User Access Administrator or RBAC "
        "Administrator, no service principal with Owner / Contributor / access administrator, "
        "privileged roles through groups, no classic co-administrators, custom roles without "
        "'*' or role assignment. The weekly access review (issue 12) adds what needs Graph.",
        "Guests and deleted principals need Microsoft Graph: the access review judges them; "
        "a group counts as one owner here (its members are the review's).",
        "Entra MFA, security defaults and Conditional Access (Prowler entra_*) need Microsoft "
        "Graph, read by the access review when granted.",
    ),
    Area(
        "4. Audit controls complete",
        (
            "monitoring_subscription_alert_",
            "monitoring_subscription_activity_log_archive_immutable",
            "sql_server_audit_retention_six_years",
            "mysql_flexible_server_audit_log_enabled",
        ),
        "One alert check per operation (policy assignment write/delete, NSG write/delete, NSG "
        "rule write, SQL firewall write/delete, Key Vault delete, role assignment write; "
        "initiative b954148f per operation, Prowler monitor_alert_*), the activity log archive "
        "immutable and locked for six years, SQL audit retention of six years (Prowler and the "
        "initiative stop at 90 days), diagnostic logs of every PHI service of area 1.",
        "Only account-level immutability (immutableStorageWithVersioning) of the activity-log "
        "archive is read, not container policies, nor the archives of resource diagnostic "
        "settings; Prowler's security-solution alerts are not checked.",
        "Whether anyone reads the alerts (action groups' receivers) and whether logs were purged.",
    ),
    Area(
        "5. Threat protection and vulnerability management",
        ("defender_", "sql_server_vulnerability_assessment_enabled"),
        "Ten Defender plans (servers, storage, SQL, SQL on machines, open-source databases, "
        "Cosmos DB, Key Vault, App Service, containers, Resource Manager; each with its "
        "initiative / Powerpipe policy cited, Prowler defender_ensure_defender_for_*_is_on), "
        "security contact email, high-severity alert mail, owner notifications (Prowler "
        "defender_ensure_notify_*), SQL vulnerability assessment (express configuration).",
        "Defender for DNS / APIs and plan extensions are not judged; classic SQL VA "
        "(storage-account configuration, Prowler sqlserver_va_*) FAILs as not enabled.",
        "Endpoint protection inside VMs and system updates (Defender assessments, a data plane "
        "of Defender, not ARM resource properties); MCAS integration settings.",
    ),
    Area(
        "6. Network remainder",
        (
            "sql_server_firewall_",
            "network_vnet_region_network_watcher",
            "edge_appgw_ssl_policy_tls12",
            "appservice_site_cors_no_wildcard",
            "appservice_site_client_certificates_required",
            "appservice_site_internet_only_through_front",
            "compute_virtual_machine_jit_access_enabled",
            "network_nic_internet_facing_has_nsg",
        ),
        "SQL firewall Internet-wide rules and AllowAllWindowsAzureIps (Prowler "
        "sqlserver_unrestricted_inbound_access), Network Watcher per VNet region (Prowler "
        "network_watcher_enabled), App Gateway TLS policy and cipher suites, CORS '*' "
        "(initiative 5744710e), client certificates, PHI apps reachable only through their "
        "front (the P6 gap: Front Door pinned by X-Azure-FDID, an App Gateway subnet, or no "
        "public access), just-in-time access on PHI VMs, Internet-facing NICs of PHI systems "
        "filtered by an NSG on the NIC or its subnet.",
        "Whether the front in the allowed subnet really has a WAF in Prevention mode is judged "
        "on the WAF policies, not linked to the app; a VM exposed through a load balancer's "
        "public IP is not judged by the NIC check; JIT is asked of every PHI VM (Prowler vm_jit_access_enabled) "
        "while the initiative's b0f33259 asks it only of VMs with reachable management ports.",
        "Traffic that actually flows (flow logs show it after the fact).",
    ),
    Area(
        "7. Automatic logoff",
        ("appservice_site_auth_",),
        "App Service authentication (config/authsettingsV2) on PHI apps: session cookie of at "
        "most 60 minutes, refresh of expired sessions of at most one hour, anonymous requests "
        "refused. Neither the initiative nor Prowler checks session lifetime.",
        "The App Service cookie expires at a fixed time, not after inactivity; Bastion and VM "
        "session settings are not read.",
        "Idle timeouts in application code, and Entra Conditional Access sign-in frequency "
        "(Graph; read by the access review when granted, otherwise not assessed there).",
    ),
)
