"""The demo's sections added for issue 14, each a violating resource next to its compliant twin
in the PHI resource group: the PHI data services beyond Storage and SQL (the twins logging to the
audit workspace), backup and recovery, ... ``demo_context`` names them and lists what each
fails."""

from __future__ import annotations

from sim.estate import (
    appservice,
    backup,
    compute,
    data_services,
    governance,
    health,
    monitoring,
    network,
    sql,
    storage,
)
from sim.estate.common import Doc, guid, resource_id
from sim.estate.demo_context import (
    MY,
    PG,
    PHI_TAGS,
    PROD_LOC,
    RG_MONITORING,
    RG_PHI,
    RG_SECURITY,
    Demo,
    backup_ids,
    data_service_ids,
    network_ids,
)

CMK_VAULT = "https://kv-chs-cmk-prod.vault.azure.net"  # the security group's CMK vault


ANY_IP = ".".join(["0"] * 4)  # a firewall rule's bound, not a socket address


def _cmk(name: str) -> str:
    return f"{CMK_VAULT}/keys/{name}"


def phi_data_services(c: Demo) -> list[Doc]:
    """Cosmos DB, PostgreSQL, MySQL, SQL MI, Redis, ACR, AI Search, Service Bus / Event Hubs and
    FHIR: one violator and one compliant twin each."""
    t, p = c.t, c.p
    ids = data_service_ids(p)
    tags = dict(PHI_TAGS)
    docs: list[Doc] = []
    audited: list[tuple[Doc, bool]] = []

    cosmos_bad = sql.cosmos_account(p, RG_PHI, "cosmos-chs-phi-notes", PROD_LOC, tags)
    bad = cosmos_bad["properties"]
    bad.update(
        {
            "disableKeyBasedMetadataWriteAccess": False,
            "disableLocalAuth": False,
            "minimalTlsVersion": "Tls",
            "ipRules": [{"ipAddressOrRange": "0.0.0.0"}],  # noqa: S104 - a firewall entry
            "backupPolicy": {
                "type": "Periodic",
                "periodicModeProperties": {
                    "backupIntervalInMinutes": 240,
                    "backupRetentionIntervalInHours": 8,
                    "backupStorageRedundancy": "Local",
                },
            },
        }
    )
    cosmos_ok = sql.cosmos_account(p, RG_PHI, "cosmos-chs-phi-rx", PROD_LOC, tags)
    cosmos_ok["properties"]["publicNetworkAccess"] = "Disabled"
    cosmos_ok["properties"]["keyVaultKeyUri"] = _cmk("cosmos-chs-phi-rx")
    audited += [(cosmos_bad, False), (cosmos_ok, True)]

    for provider, bad_name, ok_name in (
        (PG, "psql-chs-phi-intake", "psql-chs-phi-claims"),
        (MY, "mysql-chs-phi-legacy", "mysql-chs-phi-billing"),
    ):
        for name, secure in ((bad_name, False), (ok_name, True)):
            server = data_services.flexible_server(
                p, RG_PHI, provider, name, PROD_LOC, tags, secure=secure, cmk_key=_cmk(name)
            )
            audited.append((server, secure))
            on = "ON" if secure else "OFF"
            docs.append(
                data_services.server_parameter(
                    server["id"], provider, "require_secure_transport", on
                )
            )
            if provider == MY:
                docs.append(
                    data_services.server_parameter(server["id"], provider, "audit_log_enabled", on)
                )

    for name, secure in (("sqlmi-chs-phi-ehr", False), ("sqlmi-chs-phi-lab", True)):
        instance = data_services.managed_instance(
            p, RG_PHI, name, PROD_LOC, tags, t, subnet_id=c.phi_subnet("snet-data"), secure=secure
        )
        audited.append((instance, secure))
        key = f"kv-chs-cmk-prod_{name}_0123456789abcdef0123456789abcdef" if secure else None
        docs.append(data_services.mi_encryption_protector(instance["id"], key))

    for name, secure in (("redis-chs-phi-sessions", False), ("redis-chs-phi-cache", True)):
        audited.append(
            (data_services.redis_cache(p, RG_PHI, name, PROD_LOC, tags, secure=secure), secure)
        )
    for name, secure in (("acrchsphibuild", False), ("acrchsphiprod", True)):
        registry = data_services.container_registry(
            p, RG_PHI, name, PROD_LOC, tags, secure=secure, cmk_key=_cmk(name)
        )
        audited.append((registry, secure))
    for name, secure in (("srch-chs-phi-notes", False), ("srch-chs-phi-records", True)):
        audited.append(
            (data_services.search_service(p, RG_PHI, name, PROD_LOC, tags, secure=secure), secure)
        )
    audited += [
        (
            data_services.messaging_namespace(
                p, RG_PHI, "ServiceBus", "sb-chs-phi-orders", PROD_LOC, tags, secure=False
            ),
            False,
        ),
        (
            data_services.messaging_namespace(
                p,
                RG_PHI,
                "EventHub",
                "evh-chs-phi-telemetry",
                PROD_LOC,
                tags,
                secure=True,
                cmk_vault=CMK_VAULT,
            ),
            True,
        ),
    ]

    workspace = ids["fhir_ok"].rsplit("/fhirservices/", 1)[0]
    fhir_bad = health.fhir_service(workspace, "fhirresearch", PROD_LOC, tags, t)
    fhir_bad["properties"]["publicNetworkAccess"] = "Enabled"
    fhir_bad["properties"]["corsConfiguration"] = {
        "origins": ["*"],
        "headers": ["*"],
        "methods": ["GET", "POST"],
        "allowCredentials": False,
    }
    fhir_ok = health.fhir_service(workspace, "fhirclinical", PROD_LOC, tags, t)
    fhir_ok["properties"]["encryption"] = {
        "customerManagedKeyEncryption": {"keyEncryptionKeyUrl": _cmk("fhirclinical")}
    }
    audited += [(fhir_bad, True), (fhir_ok, True)]

    out: list[Doc] = []
    for resource, logged in audited:
        out.append(resource)
        if logged:
            out.append(
                monitoring.diagnostic_setting(
                    resource["id"],
                    "audit-to-law",
                    workspace_id=c.audit_ws_id,
                    logs=[monitoring.log(group="allLogs")],
                )
            )
    return out + docs  # the server parameters and TDE protectors after their parents


def phi_backup(c: Demo) -> list[Doc]:
    """Backup and recovery: an immutable geo-redundant vault backing up the ETL VM, a legacy
    vault (locally redundant, no soft delete) whose protection of the reporting VM was stopped;
    long-term retention on the patient-records database only; share soft delete on the
    records and audit accounts only."""
    t, p, ids = c.t, c.p, c.ids
    names = backup_ids(p)
    tags = dict(PHI_TAGS)
    good = backup.recovery_vault(p, RG_PHI, "rsv-chs-phi-prod", PROD_LOC, tags, t, secure=True)
    bad = backup.recovery_vault(p, RG_PHI, "rsv-chs-phi-legacy", PROD_LOC, tags, t, secure=False)
    report_vm, report_os, report_nic = names["vm_report"], names["disk_report_os"], names["nic"]
    docs: list[Doc] = [
        good,
        bad,
        compute.disk(
            p,
            RG_PHI,
            report_os.rsplit("/", 1)[-1],
            PROD_LOC,
            tags,
            size_gb=128,
            des_id=resource_id(
                p, RG_SECURITY, "Microsoft.Compute/diskEncryptionSets", "des-chs-phi-prod"
            ),
            managed_by=report_vm,
            os_type="Windows",
            created=95,
        ),
        compute.virtual_machine(
            p,
            RG_PHI,
            report_vm.rsplit("/", 1)[-1],
            PROD_LOC,
            tags,
            t,
            os_disk=report_os,
            data_disks=[],
            nic_id=report_nic,
            encryption_at_host=True,
            created=95,
        ),
        network.nic(
            p,
            RG_PHI,
            report_nic.rsplit("/", 1)[-1],
            PROD_LOC,
            tags,
            subnet_id=c.phi_subnet("snet-app"),
            vm_id=report_vm,
            ip="10.20.1.5",
        ),
        *backup.vm_protection(good["id"], ids["vm_phi"], state="Protected", hours=9000),
        *backup.vm_protection(bad["id"], report_vm, state="ProtectionStopped", hours=4000),
        backup.sql_ltr_policy(names["db_orders"], "PT0S", "PT0S", "PT0S"),
        backup.sql_ltr_policy(names["db_records"], "P12W", "P12M", "P6Y"),
        storage.file_service(ids["st_phi_records"], soft_delete_days=14, sku="Standard_GZRS"),
        storage.file_service(ids["st_audit"], soft_delete_days=14, sku="Standard_GZRS"),
        storage.file_service(ids["st_phi_docs"], soft_delete_days=None, sku="Standard_ZRS"),
    ]
    return docs


def phi_audit(c: Demo) -> list[Doc]:
    """Audit controls: the activity logs archived to storage (production to the immutable audit
    account, dev/test to its assets account, which is not immutable), and alerts on the
    sensitive operations of production — all but network security group deletes."""
    p, ids = c.p, c.ids
    docs: list[Doc] = [
        monitoring.diagnostic_setting(
            ids["sub_prod"],
            "activity-log-archive",
            workspace_id=None,
            storage_id=ids["st_audit"],
            logs=[monitoring.log(category) for category in monitoring.ACTIVITY_LOG_CATEGORIES],
            metrics=(),
        ),
        monitoring.diagnostic_setting(
            ids["sub_dev"],
            "activity-log-archive",
            workspace_id=None,
            storage_id=ids["st_dev"],
            logs=[monitoring.log("Administrative"), monitoring.log("Security")],
            metrics=(),
        ),
    ]
    action_group = monitoring.action_group(
        p, RG_MONITORING, "ag-chs-secops", "chssecops", "secops@contoso-health-shop.example"
    )
    for name, operation in (
        ("alert-chs-policy-assignment-delete", "Microsoft.Authorization/policyAssignments/delete"),
        ("alert-chs-sql-firewall-write", "Microsoft.Sql/servers/firewallRules/write"),
        ("alert-chs-sql-firewall-delete", "Microsoft.Sql/servers/firewallRules/delete"),
        ("alert-chs-keyvault-delete", "Microsoft.KeyVault/vaults/delete"),
        ("alert-chs-role-assignment-write", "Microsoft.Authorization/roleAssignments/write"),
    ):
        docs.append(
            monitoring.activity_log_alert(
                p,
                RG_MONITORING,
                name,
                operation=operation,
                action_group=action_group["id"],
                description=f"{operation} in production.",
            )
        )
    return docs


def defender_plans(c: Demo) -> list[Doc]:
    """Threat protection on production: every Defender plan on but Containers and open-source
    databases (left on Free since the 2023 migration), a security contact that gets high-severity
    alerts but does not copy the owners; SQL vulnerability assessment on the records server
    only."""
    p, ids = c.p, c.ids
    docs: list[Doc] = [
        governance.defender_pricing(
            p,
            plan,
            "Free" if plan in ("Containers", "OpenSourceRelationalDatabases") else "Standard",
        )
        for plan in governance.DEFENDER_PLANS
    ]
    docs.append(
        governance.security_contact(
            p, "secops@contoso-health-shop.example", minimal_severity="High", owners=False
        )
    )
    docs.append(governance.sql_vulnerability_assessment(ids["sql_phi_smk"], enabled=False))
    docs.append(governance.sql_vulnerability_assessment(ids["sql_phi_cmk"], enabled=True))
    return docs


def phi_network_remainder(c: Demo) -> list[Doc]:
    """Network remainder: just-in-time access on the ETL VM only; the orders SQL server admits
    every Azure service and, through a
    vendor's old rule, the whole Internet (the records server one office range); a patient
    intake web app answers the Internet directly, with CORS '*' and optional client
    certificates (the pharmacy portal, private, is its twin)."""
    t, p, ids = c.t, c.p, c.ids
    names = network_ids(p)
    docs: list[Doc] = [
        # Just-in-time access covers the ETL VM only, not the reporting VM added later.
        governance.jit_policy(p, RG_PHI, PROD_LOC, [ids["vm_phi"]]),
        sql.firewall_rule(ids["sql_phi_smk"], "AllowAllWindowsAzureIps", ANY_IP, ANY_IP),
        sql.firewall_rule(ids["sql_phi_smk"], "vendor-migration-2023", ANY_IP, "255.255.255.255"),
        sql.firewall_rule(ids["sql_phi_cmk"], "chs-office", "203.0.113.0", "203.0.113.255"),
    ]
    site, config = appservice.site(
        p,
        RG_PHI,
        names["app_intake"].rsplit("/", 1)[-1],
        PROD_LOC,
        dict(PHI_TAGS),
        t,
        public_network="Enabled",
        plan="asp-chs-phi-prod",
    )
    site["properties"]["clientCertEnabled"] = True
    site["properties"]["clientCertMode"] = "Optional"
    config["properties"]["cors"] = {"allowedOrigins": ["*"], "supportCredentials": False}
    config["properties"]["ipSecurityRestrictions"] = [
        {
            "ipAddress": "Any",
            "action": "Allow",
            "priority": 2147483647,
            "name": "Allow all",
            "description": "Allow all access",
        }
    ]
    config["properties"]["ipSecurityRestrictionsDefaultAction"] = "Allow"
    docs += [
        site,
        config,
        monitoring.diagnostic_setting(
            site["id"],
            "appsvc-to-law",
            workspace_id=c.audit_ws_id,
            logs=[monitoring.log("AppServiceHTTPLogs"), monitoring.log("AppServiceAuditLogs")],
        ),
    ]
    return docs


def phi_sessions(c: Demo) -> list[Doc]:
    """Automatic logoff: the pharmacy portal signs users in with Entra ID for 30-minute sessions
    refreshed at most an hour; the intake app keeps App Service's 8-hour cookie, 72-hour refresh
    and lets anonymous requests through."""
    t, p, ids = c.t, c.p, c.ids
    return [
        appservice.auth_settings_v2(
            ids["app_portal"],
            t,
            guid("app-registration", "pharmacy-portal"),
            session="00:30:00",
            refresh_hours=1.0,
            require_auth=True,
        ),
        appservice.auth_settings_v2(
            network_ids(p)["app_intake"],
            t,
            guid("app-registration", "patient-intake"),
            session="08:00:00",
            refresh_hours=72.0,
            require_auth=False,
        ),
    ]
