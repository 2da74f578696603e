"""The demo's PHI resource group, ``rg-chs-phi-prod``: network, storage, key vault, SQL, private
endpoints, the ETL VM, gateways and patient data services. Each section returns its documents
(see :data:`sim.estate.demo.SECTIONS` for the order).
"""

from __future__ import annotations

from sim.estate import (
    compute,
    edge,
    health,
    keyvault,
    monitoring,
    network,
    sql,
    storage,
)
from sim.estate.common import Doc, resource_id
from sim.estate.demo_context import (
    PHI_TAGS,
    PROD_LOC,
    PROD_TAGS,
    RG_PHI,
    RG_SECURITY,
    Demo,
)


def phi_network(c: Demo) -> list[Doc]:
    """PHI network: RDP open to the Internet on the app subnet's NSG (what the demo fixes)."""
    p, ids = c.p, c.ids
    docs: list[Doc] = []
    app_subnet, appgw_subnet = c.phi_subnet("snet-app"), c.phi_subnet("snet-appgw")
    watcher = network.network_watcher(p, PROD_LOC)
    nsg_flow = f"{watcher['id']}/flowLogs/fl-nsg-chs-phi-app"
    docs += network.nsg(
        p,
        RG_PHI,
        "nsg-chs-phi-app",
        PROD_LOC,
        PHI_TAGS,
        [
            {
                "name": "AllowHttpsFromFrontDoor",
                "priority": 100,
                "source": "AzureFrontDoor.Backend",
                "port": "443",
                "description": "Front Door to the pharmacy portal.",
            },
            {
                "name": "AllowRdpInbound",
                "priority": 300,
                "source": "Internet",
                "port": "3389",
                "description": "Temporary vendor access to the ETL host.",
            },
        ],
        subnets=[app_subnet, appgw_subnet],
        flow_logs=[nsg_flow],
    )
    docs += network.nsg(
        p,
        RG_PHI,
        "nsg-chs-phi-data",
        PROD_LOC,
        PHI_TAGS,
        [
            {
                "name": "AllowSqlFromAppSubnet",
                "priority": 100,
                "source": "10.20.1.0/24",
                "port": "1433",
                "description": "Application subnet to SQL private endpoints.",
            },
            {
                "name": "DenyInternetInbound",
                "priority": 4000,
                "source": "Internet",
                "port": "*",
                "access": "Deny",
                "protocol": "*",
            },
        ],
        subnets=[c.phi_subnet("snet-data"), c.phi_subnet("snet-privateendpoints")],
    )
    docs += network.vnet(
        p,
        RG_PHI,
        "vnet-chs-phi-prod",
        PROD_LOC,
        PHI_TAGS,
        "10.20.0.0/16",
        [
            (
                "snet-app",
                "10.20.1.0/24",
                ids["nsg_phi_app"],
                ["Microsoft.KeyVault", "Microsoft.Storage"],
            ),
            ("snet-data", "10.20.2.0/24", ids["nsg_phi_data"], ["Microsoft.Storage"]),
            ("snet-privateendpoints", "10.20.3.0/24", ids["nsg_phi_data"], []),
            ("snet-appgw", "10.20.4.0/24", ids["nsg_phi_app"], []),
            ("AzureFirewallSubnet", "10.20.0.0/26", None, []),
        ],
    )
    for nsg_id in (ids["nsg_phi_app"], ids["nsg_phi_data"]):
        docs.append(
            monitoring.diagnostic_setting(
                nsg_id,
                "nsg-events-to-law",
                workspace_id=c.audit_ws_id,
                logs=[
                    monitoring.log("NetworkSecurityGroupEvent"),
                    monitoring.log("NetworkSecurityGroupRuleCounter"),
                ],
                metrics=(),
            )
        )
    docs.append(watcher)
    docs.append(
        network.flow_log(
            watcher["id"],
            "fl-nsg-chs-phi-app",
            PROD_LOC,
            target_id=ids["nsg_phi_app"],
            storage_id=ids["st_audit"],
            workspace=c.audit_ws[0],
            retention_days=0,
        )
    )
    docs.append(
        network.flow_log(
            watcher["id"],
            "fl-vnet-chs-phi-prod",
            PROD_LOC,
            target_id=c.phi_vnet,
            storage_id=ids["st_audit"],
            workspace=c.audit_ws[0],
            retention_days=0,
        )
    )
    return docs


def phi_storage(c: Demo) -> list[Doc]:
    """PHI storage: records use a customer-managed key and log blob access (P1/P5 twin);
    documents use Microsoft-managed keys and log nothing (P1, P5)."""
    t, p, ids = c.t, c.p, c.ids
    docs: list[Doc] = []
    pe_records = resource_id(
        p, RG_PHI, "Microsoft.Network/privateEndpoints", "pe-stchsphirecords-blob"
    )
    docs.append(
        storage.account(
            p,
            RG_PHI,
            "stchsphirecords",
            PROD_LOC,
            PHI_TAGS,
            t,
            cmk_vault="kv-chs-cmk-prod",
            cmk_key="cmk-storage-records",
            private_endpoints=[pe_records],
            subnet_rules=[c.phi_subnet("snet-app")],
            created=30,
            sku="Standard_GZRS",  # issue 14: the geo-redundancy twin
        )
    )
    docs.append(storage.blob_service(ids["st_phi_records"], soft_delete_days=35, versioning=True))
    docs.append(
        monitoring.diagnostic_setting(
            f"{ids['st_phi_records']}/blobServices/default",
            "blob-audit-to-law",
            workspace_id=c.audit_ws_id,
            logs=[
                monitoring.log("StorageRead"),
                monitoring.log("StorageWrite"),
                monitoring.log("StorageDelete"),
            ],
            metrics=("Transaction",),
        )
    )
    docs.append(
        storage.account(
            p,
            RG_PHI,
            "stchsphidocs",
            PROD_LOC,
            PHI_TAGS,
            t,
            oauth_default=False,
            created=35,
        )
    )
    docs.append(storage.blob_service(ids["st_phi_docs"], soft_delete_days=7, versioning=False))
    return docs


def phi_key_vault(c: Demo) -> list[Doc]:
    """PHI key vault with a legacy access policy: keys "all" + "purge" for a service principal."""
    t, p = c.t, c.p
    docs: list[Doc] = []
    docs.append(
        keyvault.vault(
            p,
            RG_PHI,
            "kv-chs-phi-app",
            PROD_LOC,
            PHI_TAGS,
            t,
            rbac=False,
            purge_protection=False,
            public_network="Enabled",
            default_action="Allow",
            created=45,
            access_policies=[
                keyvault.access_policy(
                    t,
                    c.etl_sp,
                    ["all"],
                    ["get", "list", "set", "delete", "purge"],
                    ["get", "list", "purge"],
                ),
                keyvault.access_policy(t, c.portal_mi, [], ["get", "list"], []),
            ],
        )
    )
    return docs


def phi_sql(c: Demo) -> list[Doc]:
    """PHI SQL: orders server on a service-managed protector (P2); records server on a CMK
    (twin)."""
    t, p, ids = c.t, c.p, c.ids
    docs: list[Doc] = []
    pe_sql = resource_id(p, RG_PHI, "Microsoft.Network/privateEndpoints", "pe-sql-chs-phi-records")
    docs += sql.server(
        p,
        RG_PHI,
        "sql-chs-phi-orders",
        PROD_LOC,
        PHI_TAGS,
        t,
        cmk_vault=None,
        audit_storage="stchsauditprod",
        audit_retention_days=90,  # issue 14: under the six years of §164.316(b)(2)(i)
    )
    docs += sql.database(
        ids["sql_phi_smk"], "sqldb-prescription-orders", PROD_LOC, PHI_TAGS, created=60
    )
    docs += sql.server(
        p,
        RG_PHI,
        "sql-chs-phi-records",
        PROD_LOC,
        PHI_TAGS,
        t,
        cmk_vault="kv-chs-cmk-prod",
        cmk_key="cmk-sql-tde",
        audit_storage="stchsauditprod",
        private_endpoints=[pe_sql],
    )
    docs += sql.database(
        ids["sql_phi_cmk"], "sqldb-patient-records", PROD_LOC, PHI_TAGS, created=65
    )
    return docs


def phi_private_endpoints(c: Demo) -> list[Doc]:
    """Private endpoints on the PHI VNet."""
    p, ids = c.p, c.ids
    docs: list[Doc] = []
    for name, target, group, ip in (
        ("pe-stchsphirecords-blob", ids["st_phi_records"], "blob", "10.20.3.4"),
        ("pe-sql-chs-phi-records", ids["sql_phi_cmk"], "sqlServer", "10.20.3.5"),
        ("pe-kv-chs-cmk-prod", ids["kv_cmk"], "vault", "10.20.3.6"),
        ("pe-stchsauditprod-blob", ids["st_audit"], "blob", "10.20.3.7"),
    ):
        docs.append(
            network.private_endpoint(
                p,
                RG_PHI,
                name,
                PROD_LOC,
                PHI_TAGS,
                subnet_id=c.phi_subnet("snet-privateendpoints"),
                target_id=target,
                group_id=group,
                ip=ip,
            )
        )
    return docs


def phi_etl_vm(c: Demo) -> list[Doc]:
    """The ETL VM: OS disk on a customer-managed key (P1 twin), data disk on a platform key (P1)."""
    t, p, ids = c.t, c.p, c.ids
    docs: list[Doc] = []
    des = compute.disk_encryption_set(
        p,
        RG_SECURITY,
        "des-chs-phi-prod",
        PROD_LOC,
        PROD_TAGS,
        vault_id=ids["kv_cmk"],
        vault_name="kv-chs-cmk-prod",
        key="cmk-disks",
    )
    nic_id = resource_id(p, RG_PHI, "Microsoft.Network/networkInterfaces", "nic-vm-chs-phi-etl01")
    docs.append(des)
    docs.append(
        compute.disk(
            p,
            RG_PHI,
            "disk-vm-chs-phi-etl01-os",
            PROD_LOC,
            PHI_TAGS,
            size_gb=128,
            des_id=des["id"],
            managed_by=ids["vm_phi"],
            os_type="Windows",
            created=70,
        )
    )
    docs.append(
        compute.disk(
            p,
            RG_PHI,
            "disk-vm-chs-phi-etl01-data",
            PROD_LOC,
            PHI_TAGS,
            size_gb=512,
            managed_by=ids["vm_phi"],
            created=71,
        )
    )
    docs.append(
        compute.virtual_machine(
            p,
            RG_PHI,
            "vm-chs-phi-etl01",
            PROD_LOC,
            PHI_TAGS,
            t,
            os_disk=ids["disk_phi_os"],
            data_disks=[ids["disk_phi_data"]],
            nic_id=nic_id,
            encryption_at_host=True,
            created=70,
        )
    )
    docs.append(
        network.nic(
            p,
            RG_PHI,
            "nic-vm-chs-phi-etl01",
            PROD_LOC,
            PHI_TAGS,
            subnet_id=c.phi_subnet("snet-app"),
            vm_id=ids["vm_phi"],
            ip="10.20.1.4",
        )
    )
    return docs


def phi_gateways_and_fhir(c: Demo) -> list[Doc]:
    """Gateways and the hub firewall on the PHI VNet, each logging to the audit workspace."""
    t, p, ids = c.t, c.p, c.ids
    docs: list[Doc] = []
    pip = network.public_ip(p, RG_PHI, "pip-afw-chs-phi", PROD_LOC, PHI_TAGS)
    audited: list[tuple[Doc, list[Doc]]] = [
        (
            edge.application_gateway(
                p,
                RG_PHI,
                "agw-chs-patient-api",
                PROD_LOC,
                PHI_TAGS,
                subnet_id=c.phi_subnet("snet-appgw"),
                waf_policy_id=ids["waf_appgw"],
                backend_fqdn="app-chs-pharmacy-portal.azurewebsites.net",
                private_ip="10.20.4.10",
            ),
            [
                monitoring.log("ApplicationGatewayAccessLog"),
                monitoring.log("ApplicationGatewayFirewallLog"),
            ],
        ),
        (
            network.azure_firewall(
                p,
                RG_PHI,
                "afw-chs-phi",
                PROD_LOC,
                PHI_TAGS,
                subnet_id=c.phi_subnet("AzureFirewallSubnet"),
                public_ip_id=pip["id"],
                private_ip="10.20.0.4",
            ),
            [monitoring.log(group="allLogs")],
        ),
    ]

    # Patient data services: the legacy Azure API for FHIR and its Health Data Services successor.
    hds = health.health_workspace(p, RG_PHI, "hdwschsphi", PROD_LOC, PHI_TAGS)
    audited += [
        (
            health.fhir_api(p, RG_PHI, "fhir-chs-legacy", PROD_LOC, PHI_TAGS, t),
            [monitoring.log("AuditLogs")],
        ),
        (
            health.fhir_service(hds["id"], "fhirpatients", PROD_LOC, PHI_TAGS, t),
            [monitoring.log("AuditLogs")],
        ),
    ]
    docs += [pip, hds]
    for resource, logs in audited:
        docs.append(resource)
        docs.append(
            monitoring.diagnostic_setting(
                resource["id"], "audit-to-law", workspace_id=c.audit_ws_id, logs=logs
            )
        )
    return docs
