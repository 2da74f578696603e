"""The demo estate, "Contoso Health Shop": :func:`demo_estate` lists the documents of the
tenant, then of each of its :data:`SECTIONS` (``demo_phi``, ``demo_platform``), then of
governance."""

from __future__ import annotations

from sim.estate import access, governance
from sim.estate.common import Doc, Estate, guid, rg_id
from sim.estate.demo_context import (
    CUSTOM_ROLE,
    DEV_LOC,
    DEV_TAGS,
    PHI_TAGS,
    PROD_LOC,
    PROD_TAGS,
    RG_DEV,
    RG_MONITORING,
    RG_NETWATCH,
    RG_PHI,
    RG_SECURITY,
    RG_SHOP,
    SHOP_TAGS,
    Demo,
    demo_ground_truth,
)
from sim.estate.demo_data import (
    defender_plans,
    phi_audit,
    phi_backup,
    phi_data_services,
    phi_network_remainder,
    phi_sessions,
)
from sim.estate.demo_phi import (
    phi_etl_vm,
    phi_gateways_and_fhir,
    phi_key_vault,
    phi_network,
    phi_private_endpoints,
    phi_sql,
    phi_storage,
)
from sim.estate.demo_platform import (
    dev_test,
    prod_apps,
    prod_edge,
    prod_monitoring,
    prod_security,
    shop_platform,
)

# The sections in the order their documents are listed (the estate's documents keep one order).
SECTIONS = (
    prod_monitoring,
    prod_security,
    phi_network,
    phi_storage,
    phi_key_vault,
    phi_sql,
    phi_private_endpoints,
    phi_etl_vm,
    prod_apps,
    prod_edge,
    phi_gateways_and_fhir,
    phi_data_services,
    phi_backup,
    phi_audit,
    defender_plans,
    phi_network_remainder,
    phi_sessions,
    shop_platform,
    dev_test,
)


def demo_estate() -> Estate:
    """Contoso Health Shop: an online pharmacy shop whose patient records are PHI.

    Subscriptions: *Contoso Health Shop - Production* (tagged ``data-classification: phi``) and
    *Contoso Health Shop - Dev/Test* (no PHI). Production resource groups:

    * ``rg-chs-shop-prod`` (front end): storefront web app, order-processing function app
      (``functionapp,linux``), Front Door Premium with two custom domains, two security policies
      and two WAF policies (tagged ``hipaa: true``: they front the pharmacy portal), the classic
      Front Door of the old storefront, the product-catalog Cosmos DB account, an AKS cluster;
    * ``rg-chs-phi-prod`` (tagged ``data-classification: phi``): patient-record and document
      storage, two SQL servers with a database each, the app key vault, the pharmacy portal, a
      VNet (app, data, private-endpoint, Application Gateway and firewall subnets) with two NSGs,
      four private endpoints, an ETL VM with its NIC and two disks, an Application Gateway with
      its WAF policy, Azure Firewall with its public IP, Azure API for FHIR and a Health Data
      Services workspace with a FHIR service;
    * ``rg-chs-security-prod``: the customer-managed-key vault and the disk encryption set;
    * ``rg-chs-monitoring-prod``: the audit and legacy Log Analytics workspaces (with tables),
      audit storage, an action group and three activity log alerts;
    * ``NetworkWatcherRG``: the network watcher with an NSG flow log and a VNet flow log.

    Dev/Test holds ``rg-chs-shop-dev``: a storage account, a web app, an NSG, a VNet and a vault.
    Governance: Defender's default initiative and an allowed-locations policy on production, the
    HITRUST/HIPAA initiative on dev/test only; built-in and one custom role definition; role
    assignments including Owner and Contributor on the PHI resource group.

    Known violations (:func:`demo_ground_truth`), each with a compliant twin
    (:func:`demo_compliant_twins`): P1 ``stchsphidocs`` uses Microsoft-managed keys and the ETL
    VM's data disk a platform key; P2 ``sql-chs-phi-orders`` has a service-managed TDE protector;
    P3 production lacks the HITRUST/HIPAA initiative; P4 ``kv-chs-phi-app`` grants a service
    principal keys ``all`` and ``purge``; P5 that vault and ``stchsphidocs`` send no diagnostic
    logs and ``log-chs-legacy-prod`` keeps 30 days; P6 the pharmacy portal's Front Door WAF
    policy is in Detection mode. Also: ``nsg-chs-phi-app`` allows RDP (3389) from the Internet
    (what the demo fixes), ``stchsdevassets`` accepts TLS 1.0, ``app-chs-shop-dev`` allows plain
    HTTP, and a custom role grants ``*``.
    """
    c = Demo.create()
    subscriptions = subscription_docs(c)
    docs: list[Doc] = [*subscriptions, *resource_groups(c)]
    for section in SECTIONS:
        docs += section(c)
    docs += policies(c)
    docs += roles(c)
    return Estate(
        tenant_id=c.t,
        subscriptions=subscriptions,
        documents=docs,
        ground_truth=demo_ground_truth(),
    )


def subscription_docs(c: Demo) -> list[Doc]:
    """Production (tagged ``data-classification: phi``) and dev/test."""
    prod_sub = governance.subscription(
        c.p,
        c.t,
        "Contoso Health Shop - Production",
        {"data-classification": "phi", "environment": "production"},
        "EnterpriseAgreement_2014-09-01",
    )
    dev_sub = governance.subscription(
        c.d, c.t, "Contoso Health Shop - Dev/Test", {"environment": "dev"}, "MSDNDevTest_2014-09-01"
    )
    return [prod_sub, dev_sub]


def resource_groups(c: Demo) -> list[Doc]:
    p, loc = c.p, PROD_LOC
    return [
        governance.resource_group(p, RG_SHOP, loc, SHOP_TAGS),
        governance.resource_group(p, RG_PHI, loc, {**PHI_TAGS, "data-classification": "phi"}),
        governance.resource_group(p, RG_SECURITY, loc, {**PROD_TAGS, "workload": "security"}),
        governance.resource_group(p, RG_MONITORING, loc, {**PROD_TAGS, "workload": "monitoring"}),
        governance.resource_group(p, RG_NETWATCH, loc, {}),
        governance.resource_group(c.d, RG_DEV, DEV_LOC, DEV_TAGS),
    ]


def policies(c: Demo) -> list[Doc]:
    """Governance: the HITRUST/HIPAA initiative sits on dev/test only (P3 on production)."""
    t, p, d, ids = c.t, c.p, c.d, c.ids
    return [
        governance.policy_assignment(
            ids["sub_prod"],
            "SecurityCenterBuiltIn",
            f"ASC Default (subscription: {p})",
            governance.MCSB_ID,
            t,
            created=5,
        ),
        governance.policy_assignment(
            ids["sub_prod"],
            "chs-allowed-locations",
            "Allowed locations",
            governance.ALLOWED_LOCATIONS_ID,
            t,
            parameters={"listOfAllowedLocations": {"value": ["eastus2", "centralus"]}},
            created=6,
        ),
        governance.policy_assignment(
            ids["sub_dev"],
            guid(d, "hipaa").replace("-", "")[:24],
            "HITRUST/HIPAA",
            governance.HIPAA_INITIATIVE_ID,
            t,
            location=DEV_LOC,
            created=7,
        ),
    ]


def roles(c: Demo) -> list[Doc]:
    """Role definitions and assignments, including broad ones on PHI scopes."""
    p, d, ids = c.p, c.d, c.ids
    docs: list[Doc] = [
        governance.role_definition(p, r)
        for r in (
            "Owner",
            "Contributor",
            "Reader",
            "Storage Blob Data Contributor",
            "Key Vault Crypto Service Encryption User",
        )
    ]
    docs += [governance.role_definition(d, r) for r in ("Owner", "Contributor")]
    custom = governance.custom_role(
        p,
        CUSTOM_ROLE,
        "Break-glass operations role created during the 2023 migration.",
        ["*"],
    )
    docs.append(custom)
    role = {name: spec[0] for name, spec in governance.BUILT_IN_ROLES.items()}
    admins = guid("principal", "group", "cloud-platform-admins")
    auditors = guid("principal", "group", "compliance-auditors")
    developers = guid("principal", "group", "shop-developers")
    contractor = guid("principal", "user", "etl-contractor")
    phi_rg = rg_id(p, RG_PHI)
    records_mi = guid(ids["st_phi_records"], "identity")
    sql_mi = guid(ids["sql_phi_cmk"], "identity")
    for scope, sub, role_guid, principal, kind, created in (
        (ids["sub_prod"], p, role["Owner"], admins, "Group", 1),
        (ids["sub_prod"], p, role["Reader"], auditors, "Group", 2),
        (
            ids["sub_prod"],
            p,
            custom["name"],
            guid("principal", "service-principal", "chs-automation"),
            "ServicePrincipal",
            3,
        ),
        (phi_rg, p, role["Owner"], contractor, "User", 400),
        (phi_rg, p, role["Contributor"], c.etl_sp, "ServicePrincipal", 401),
        (
            ids["st_phi_records"],
            p,
            role["Storage Blob Data Contributor"],
            c.portal_mi,
            "ServicePrincipal",
            402,
        ),
        (
            ids["kv_cmk"],
            p,
            role["Key Vault Crypto Service Encryption User"],
            records_mi,
            "ServicePrincipal",
            403,
        ),
        (
            ids["kv_cmk"],
            p,
            role["Key Vault Crypto Service Encryption User"],
            sql_mi,
            "ServicePrincipal",
            404,
        ),
        (ids["sub_dev"], d, role["Owner"], admins, "Group", 4),
        (ids["sub_dev"], d, role["Contributor"], developers, "Group", 5),
    ):
        docs.append(
            governance.role_assignment(scope, sub, role_guid, principal, kind, created=created)
        )
    return docs + access.demo_access_documents(c)
