"""Generated estates: N resources of a realistic mix, deterministic from a seed, with a seeded
fraction violating each failure pattern (for benchmarks and property tests)."""

from __future__ import annotations

import gc
import random
from collections.abc import Sequence

from sim.estate import (
    appservice,
    compute,
    edge,
    governance,
    keyvault,
    monitoring,
    network,
    sql,
    storage,
)
from sim.estate.common import PATTERNS, Doc, Estate, guid, resource_id, rg_id

# (kind, weight): the share of generated resources of each kind.
GENERATED_MIX: tuple[tuple[str, float], ...] = (
    ("storage", 0.18),
    ("nsg", 0.12),
    ("vnet", 0.05),
    ("keyvault", 0.08),
    ("sql_server", 0.04),
    ("sql_database", 0.08),
    ("web_app", 0.09),
    ("function_app", 0.05),
    ("disk", 0.12),
    ("vm", 0.04),
    ("private_endpoint", 0.05),
    ("workspace", 0.03),
    ("fd_waf", 0.02),
    ("appgw_waf", 0.02),
    ("afd_profile", 0.03),
)

_GEN_ROLES = (
    ("Reader", 0.38),
    ("Contributor", 0.22),
    ("Owner", 0.05),
    ("User Access Administrator", 0.02),
    ("Storage Blob Data Contributor", 0.13),
    ("Key Vault Secrets User", 0.12),
    ("Key Vault Administrator", 0.04),
    ("Key Vault Crypto Service Encryption User", 0.04),
)
_GEN_LOCATIONS = ("eastus2", "centralus", "westus3")


class _Generator:
    """Builds a generated estate; see :func:`generated_estate` for the mix and the rules."""

    def __init__(self, resources: int, role_assignments: int, seed: int, rate: float) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.rate = rate
        self.resources = resources
        self.role_assignments = role_assignments
        self.tenant = guid("tenant", "generated", str(seed))
        self.docs: list[Doc] = []
        self.truth: dict[str, list[str]] = {p: [] for p in PATTERNS}
        self.subscriptions: list[Doc] = []
        self.groups: list[tuple[str, str, bool, str]] = []  # sub, rg, phi, location
        self.scopes: list[tuple[str, str, bool]] = []  # scope id, sub, phi
        self.workspaces: dict[str, Doc] = {}  # sub -> monitoring workspace
        self.cmk_vault: dict[str, tuple[str, str]] = {}  # sub -> (vault name, vault id)
        self.subnets: list[tuple[str, str, str]] = []  # sub, rg, subnet id
        self.counter = 0

    def violates(self) -> bool:
        return self.rng.random() < self.rate

    def name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.seed % 1000:03d}{self.counter:06d}"

    def build(self) -> Estate:
        n_subs = min(8, 2 + self.resources // 10_000)
        n_groups = max(2 * n_subs, self.resources // 200)
        for index in range(n_subs):
            self.subscription(index)
        for index in range(n_groups):
            sub = self.subscriptions[index % n_subs]["subscriptionId"]
            phi = index % 3 == 0
            location = _GEN_LOCATIONS[index % len(_GEN_LOCATIONS)]
            rg = f"rg-{'phi' if phi else 'app'}-{index:04d}"
            tags = {"environment": "production" if index % 5 else "dev"}
            if phi:
                tags["data-classification"] = "phi"
            self.docs.append(governance.resource_group(sub, rg, location, tags))
            self.groups.append((sub, rg, phi, location))
            self.scopes.append((rg_id(sub, rg), sub, phi))
        kinds = [k for k, _ in GENERATED_MIX]
        weights = [w for _, w in GENERATED_MIX]
        picks = self.rng.choices(kinds, weights=weights, k=self.resources)
        makers = {
            "storage": self.storage,
            "nsg": self.nsg,
            "vnet": self.vnet,
            "keyvault": self.keyvault,
            "sql_server": self.sql_server,
            "sql_database": self.sql_database,
            "web_app": self.web_app,
            "function_app": self.function_app,
            "disk": self.disk,
            "vm": self.vm,
            "private_endpoint": self.private_endpoint,
            "workspace": self.workspace,
            "fd_waf": self.fd_waf,
            "appgw_waf": self.appgw_waf,
            "afd_profile": self.afd_profile,
        }
        n_groups_total = len(self.groups)
        for kind in picks:
            group = self.groups[self.rng.randrange(n_groups_total)]
            makers[kind](*group)
        self.roles()
        truth = {k: v for k, v in self.truth.items() if v or k in PATTERNS}
        return Estate(self.tenant, self.subscriptions, self.docs, truth)

    # scaffolding per subscription: monitoring workspace, CMK vault, alerts, watcher, policy
    def subscription(self, index: int) -> None:
        sub = guid("subscription", "generated", str(self.seed), str(index))
        t = self.tenant
        phi = index % 2 == 0
        tags = {"environment": "production" if phi else "dev"}
        if phi:
            tags["data-classification"] = "phi"
        doc = governance.subscription(
            sub,
            t,
            f"Generated {index:02d}{' (PHI)' if phi else ''}",
            tags,
            "EnterpriseAgreement_2014-09-01",
        )
        self.subscriptions.append(doc)
        self.docs.append(doc)
        self.scopes.append((doc["id"], sub, phi))
        location = _GEN_LOCATIONS[0]
        rg = "rg-platform"
        self.docs.append(governance.resource_group(sub, rg, location, {"workload": "platform"}))
        self.docs.append(governance.resource_group(sub, network.WATCHER_RG, location, {}))
        ws = monitoring.workspace(
            sub,
            rg,
            f"log-platform-{index:02d}",
            location,
            {"hipaa": "true"},
            retention=90,
            tables=[("AzureActivity", 90, 2192), ("AzureDiagnostics", 90, 2192)],
        )
        self.docs += ws
        self.workspaces[sub] = ws[0]
        self.docs.append(self.diag(ws[0]["id"], [monitoring.log(group="audit")]))
        vault = f"kv-cmk-{self.seed % 1000:03d}-{index:02d}"
        vault_doc = keyvault.vault(
            sub, rg, vault, location, {"data-classification": "phi"}, t, rbac=True
        )
        self.docs.append(vault_doc)
        self.cmk_vault[sub] = (vault, vault_doc["id"])
        self.docs.append(self.diag(vault_doc["id"], [monitoring.log(group="audit")]))
        self.docs.append(
            compute.disk_encryption_set(
                sub,
                rg,
                "des-platform",
                location,
                {},
                vault_id=vault_doc["id"],
                vault_name=vault,
                key="cmk-disks",
            )
        )
        ag = monitoring.action_group(sub, rg, "ag-secops", "secops", "secops@generated.example")
        self.docs.append(ag)
        self.docs.append(
            monitoring.activity_log_alert(
                sub,
                rg,
                "alert-policy-assignment-write",
                operation="Microsoft.Authorization/policyAssignments/write",
                action_group=ag["id"],
                description="Policy assignment changed.",
            )
        )
        self.docs.append(
            monitoring.diagnostic_setting(
                doc["id"],
                "activity-log",
                workspace_id=ws[0]["id"],
                logs=[monitoring.log(c) for c in monitoring.ACTIVITY_LOG_CATEGORIES],
                metrics=(),
            )
        )
        self.docs.append(network.network_watcher(sub, location))
        if not phi or not self.violates():
            self.docs.append(
                governance.policy_assignment(
                    doc["id"],
                    guid(sub, "hipaa").replace("-", "")[:24],
                    "HITRUST/HIPAA",
                    governance.HIPAA_INITIATIVE_ID,
                    t,
                    location=location,
                )
            )
        else:
            self.truth["P3"].append(doc["id"])
        self.docs.append(
            governance.policy_assignment(
                doc["id"],
                "SecurityCenterBuiltIn",
                f"ASC Default (subscription: {sub})",
                governance.MCSB_ID,
                t,
            )
        )
        for role in governance.BUILT_IN_ROLES:
            self.docs.append(governance.role_definition(sub, role))

    def diag(self, parent_id: str, logs: Sequence[Doc], name: str = "to-law") -> Doc:
        sub = parent_id.split("/", 3)[2]
        return monitoring.diagnostic_setting(
            parent_id, name, workspace_id=self.workspaces[sub]["id"], logs=logs
        )

    def tags(self, phi: bool) -> dict[str, str]:
        return (
            {"environment": "production", "owner": "team-" + "abcdefgh"[self.counter % 8]}
            if not phi
            else {"environment": "production", "workload": "patient-data"}
        )

    def remember(self, rid: str, sub: str, phi: bool) -> None:
        if len(self.scopes) < 50_000:
            self.scopes.append((rid, sub, phi))

    def storage(self, sub: str, rg: str, phi: bool, location: str) -> None:
        name = self.name("st")
        p1 = phi and self.violates()
        p5 = phi and self.violates()
        vault = self.cmk_vault[sub][0]
        account = storage.account(
            sub,
            rg,
            name,
            location,
            self.tags(phi),
            self.tenant,
            cmk_vault=vault if phi and not p1 else None,
            cmk_key=f"cmk-{name}",
            min_tls="TLS1_2" if self.rng.random() > 0.05 else "TLS1_0",
            created=self.counter % 5000,
        )
        rid = account["id"]
        self.docs.append(account)
        self.docs.append(
            storage.blob_service(rid, soft_delete_days=30 if phi else None, versioning=phi)
        )
        if not p5:
            self.docs.append(
                self.diag(
                    f"{rid}/blobServices/default",
                    [
                        monitoring.log("StorageRead"),
                        monitoring.log("StorageWrite"),
                        monitoring.log("StorageDelete"),
                    ],
                )
            )
        if p1:
            self.truth["P1"].append(rid)
        if p5:
            self.truth["P5"].append(rid)
        self.remember(rid, sub, phi)

    def nsg(self, sub: str, rg: str, phi: bool, location: str) -> None:
        name = self.name("nsg-")
        rules: list[network.RuleSpec] = [
            {
                "name": "AllowHttpsInbound",
                "priority": 100,
                "source": "Internet" if not phi else "AzureFrontDoor.Backend",
                "port": "443",
            },
            {"name": "AllowVnetSql", "priority": 200, "source": "VirtualNetwork", "port": "1433"},
        ]
        if self.rng.random() < 0.04:
            rules.append(
                {"name": "AllowRdpInbound", "priority": 300, "source": "Internet", "port": "3389"}
            )
        docs = network.nsg(sub, rg, name, location, self.tags(phi), rules)
        self.docs += docs
        if phi and self.violates():
            self.truth["P5"].append(docs[0]["id"])
        elif phi:
            self.docs.append(
                self.diag(docs[0]["id"], [monitoring.log("NetworkSecurityGroupEvent")])
            )

    def vnet(self, sub: str, rg: str, phi: bool, location: str) -> None:
        name = self.name("vnet-")
        second = self.counter % 250
        subnets: list[network.SubnetSpec] = [
            ("snet-app", f"10.{second}.1.0/24", None, ["Microsoft.Storage"]),
            ("snet-data", f"10.{second}.2.0/24", None, []),
        ]
        docs = network.vnet(sub, rg, name, location, self.tags(phi), f"10.{second}.0.0/16", subnets)
        self.docs += docs
        if len(self.subnets) < 10_000:
            self.subnets.append((sub, rg, docs[1]["id"]))

    def keyvault(self, sub: str, rg: str, phi: bool, location: str) -> None:
        name = f"kv-{self.seed % 1000:03d}-{self.counter + 1:07d}"
        self.counter += 1
        p4 = phi and self.violates()
        p5 = phi and self.violates()
        policies: list[Doc] = []
        if p4:
            policies.append(
                keyvault.access_policy(
                    self.tenant, guid(name, "sp"), ["all"], ["get", "list"], ["purge"]
                )
            )
        vault = keyvault.vault(
            sub,
            rg,
            name,
            location,
            self.tags(phi),
            self.tenant,
            rbac=not p4,
            access_policies=policies,
        )
        self.docs.append(vault)
        if not p5:
            self.docs.append(self.diag(vault["id"], [monitoring.log(group="audit")]))
        if p4:
            self.truth["P4"].append(vault["id"])
        if p5:
            self.truth["P5"].append(vault["id"])
        self.remember(vault["id"], sub, phi)

    def sql_server(self, sub: str, rg: str, phi: bool, location: str) -> None:
        p2 = phi and self.violates()
        docs = sql.server(
            sub,
            rg,
            self.name("sql-"),
            location,
            self.tags(phi),
            self.tenant,
            cmk_vault=self.cmk_vault[sub][0] if phi and not p2 else None,
            cmk_key="cmk-sql-tde",
            audit_storage="staudit",
        )
        self.docs += docs
        if p2:
            self.truth["P2"].append(docs[0]["id"])

    def sql_database(self, sub: str, rg: str, phi: bool, location: str) -> None:
        server = sql.server(
            sub,
            rg,
            self.name("sql-"),
            location,
            self.tags(phi),
            self.tenant,
            cmk_vault=self.cmk_vault[sub][0] if phi else None,
            cmk_key="cmk-sql-tde",
            audit_storage="staudit",
        )
        self.docs += server
        self.docs += sql.database(server[0]["id"], "sqldb-app", location, self.tags(phi))

    def web_app(self, sub: str, rg: str, phi: bool, location: str, kind: str = "app") -> None:
        docs = appservice.site(
            sub,
            rg,
            self.name("app-" if kind == "app" else "func-"),
            location,
            self.tags(phi),
            self.tenant,
            kind=kind,
            https_only=phi or self.rng.random() > 0.1,
            ftps="Disabled" if phi else "FtpsOnly",
        )
        self.docs += docs
        if phi and self.violates():
            self.truth["P5"].append(docs[0]["id"])
            return
        logs = (
            [monitoring.log("FunctionAppLogs")]
            if kind.startswith("functionapp")
            else [monitoring.log("AppServiceHTTPLogs"), monitoring.log("AppServiceAuditLogs")]
        )
        self.docs.append(self.diag(docs[0]["id"], logs))

    def function_app(self, sub: str, rg: str, phi: bool, location: str) -> None:
        self.web_app(sub, rg, phi, location, kind="functionapp,linux")

    def disk(self, sub: str, rg: str, phi: bool, location: str) -> None:
        p1 = phi and self.violates()
        des = (
            resource_id(sub, "rg-platform", "Microsoft.Compute/diskEncryptionSets", "des-platform")
            if phi and not p1
            else None
        )
        disk = compute.disk(
            sub,
            rg,
            self.name("disk-"),
            location,
            self.tags(phi),
            size_gb=256,
            des_id=des,
            created=self.counter % 5000,
        )
        self.docs.append(disk)
        if p1:
            self.truth["P1"].append(disk["id"])

    def vm(self, sub: str, rg: str, phi: bool, location: str) -> None:
        name = self.name("vm")
        vm_id = resource_id(sub, rg, "Microsoft.Compute/virtualMachines", name)
        p1 = phi and self.violates()
        des = (
            resource_id(sub, "rg-platform", "Microsoft.Compute/diskEncryptionSets", "des-platform")
            if phi and not p1
            else None
        )
        os_disk = compute.disk(
            sub,
            rg,
            f"{name}-os",
            location,
            self.tags(phi),
            size_gb=128,
            des_id=des,
            managed_by=vm_id,
            os_type="Windows",
        )
        nic_id = resource_id(sub, rg, "Microsoft.Network/networkInterfaces", f"nic-{name}")
        self.docs.append(
            compute.virtual_machine(
                sub,
                rg,
                name,
                location,
                self.tags(phi),
                self.tenant,
                os_disk=os_disk["id"],
                data_disks=[],
                nic_id=nic_id,
                encryption_at_host=phi,
            )
        )
        self.docs.append(os_disk)
        if p1:
            self.truth["P1"].append(os_disk["id"])

    def private_endpoint(self, sub: str, rg: str, phi: bool, location: str) -> None:
        if not self.subnets:
            self.vnet(sub, rg, phi, location)
        pe_sub, pe_rg, subnet = self.subnets[self.rng.randrange(len(self.subnets))]
        target = self.cmk_vault[pe_sub][1]
        status = "Approved" if self.rng.random() > 0.05 else "Pending"
        self.docs.append(
            network.private_endpoint(
                pe_sub,
                pe_rg,
                self.name("pe-"),
                location,
                self.tags(phi),
                subnet_id=subnet,
                target_id=target,
                group_id="vault",
                status=status,
            )
        )

    def workspace(self, sub: str, rg: str, phi: bool, location: str) -> None:
        tags = {"hipaa": "true"} if phi else {"environment": "production"}
        p5 = phi and self.violates()
        total = 30 if p5 or not phi else 2192
        retention = 30 if p5 or not phi else 90
        docs = monitoring.workspace(
            sub,
            rg,
            self.name("log-"),
            location,
            tags,
            retention=retention,
            tables=[("AzureDiagnostics", retention, total), ("AzureActivity", retention, total)],
        )
        self.docs += docs
        if p5:
            self.truth["P5"].append(docs[0]["id"])
        else:
            self.docs.append(self.diag(docs[0]["id"], [monitoring.log(group="audit")]))

    def fd_waf(self, sub: str, rg: str, phi: bool, location: str) -> None:
        p6 = phi and self.violates()
        waf = edge.fd_waf_policy(
            sub, rg, self.name("waf"), self.tags(phi), mode="Detection" if p6 else "Prevention"
        )
        self.docs.append(waf)
        if p6:
            self.truth["P6"].append(waf["id"])

    def appgw_waf(self, sub: str, rg: str, phi: bool, location: str) -> None:
        p6 = phi and self.violates()
        waf = edge.appgw_waf_policy(
            sub,
            rg,
            self.name("wafagw"),
            location,
            self.tags(phi),
            mode="Detection" if p6 else "Prevention",
        )
        self.docs.append(waf)
        if p6:
            self.truth["P6"].append(waf["id"])

    def afd_profile(self, sub: str, rg: str, phi: bool, location: str) -> None:
        profile = edge.afd_profile(sub, rg.lower(), self.name("afd-"), self.tags(phi))
        self.docs.append(profile)
        self.docs.append(
            self.diag(
                profile["id"],
                [
                    monitoring.log("FrontDoorAccessLog"),
                    monitoring.log("FrontDoorWebApplicationFirewallLog"),
                ],
            )
        )

    def roles(self) -> None:
        if not self.role_assignments:
            return
        names = [r for r, _ in _GEN_ROLES]
        weights = [w for _, w in _GEN_ROLES]
        kinds = ("User", "User", "Group", "ServicePrincipal")
        principals = max(10, self.role_assignments // 4)
        rng = self.rng
        for index in range(self.role_assignments):
            scope, sub, _phi = self.scopes[rng.randrange(len(self.scopes))]
            role = rng.choices(names, weights=weights)[0]
            principal = rng.randrange(principals)
            self.docs.append(
                governance.role_assignment(
                    scope,
                    sub,
                    governance.BUILT_IN_ROLES[role][0],
                    guid("principal", str(self.seed), str(principal)),
                    kinds[principal % 4],
                    name=guid("assignment", str(self.seed), str(index)),
                    created=index % 9000,
                )
            )


def generated_estate(
    resources: int,
    role_assignments: int = 0,
    seed: int = 0,
    *,
    violation_rate: float = 0.1,
) -> Estate:
    """A deterministic estate of ``resources`` resources and ``role_assignments`` assignments.

    Layout: ``min(8, 2 + resources // 10000)`` subscriptions (even-numbered ones tagged
    ``data-classification: phi``), ``max(2 * subscriptions, resources // 200)`` resource groups
    spread round-robin over them (every third tagged PHI), each resource in a random group.
    Each subscription also gets a platform group with a Log Analytics workspace (6-year tables),
    an RBAC key vault for customer-managed keys, an action group, an activity log alert, an
    activity-log diagnostic setting, a network watcher, the Defender default assignment, the
    built-in role definitions and — unless it is a P3 violator — the HITRUST/HIPAA initiative.

    Mix of the ``resources`` (shares of :data:`GENERATED_MIX`, with the documents each brings):
    storage accounts 18% (+ ``blobServices/default``, + a blob diagnostic setting), NSGs 12%
    (+ a ``securityRules`` document per rule, + a diagnostic setting when PHI), virtual networks
    5% (+ 2 subnets), key vaults 8% (+ diagnostic setting), SQL servers 4% (+ encryption protector
    and auditing settings), SQL databases 8% (each with its own server; + TDE), web apps 9% and
    function apps 5% (+ ``config/web`` + diagnostic setting), managed disks 12%, VMs 4% (+ an OS
    disk, customer-managed for PHI unless it violates P1), private endpoints 5%, Log Analytics workspaces 3% (+ 2 tables), Front Door WAF
    policies 2%, Application Gateway WAF policies 2%, Front Door profiles 3% (+ diagnostic
    setting). Roughly 2.7 documents per resource.

    Violations: each PHI-scoped resource that a pattern concerns violates it with probability
    ``violation_rate``: P1 Microsoft-managed storage keys or a platform-key disk; P2 a
    service-managed TDE protector; P3 a PHI subscription without the initiative; P4 an access
    policy with keys ``all`` and certificates ``purge``; P5 a vault, blob service, NSG or web app
    without diagnostic settings, or a workspace with 30-day tables and no audit setting of its
    own; P6 a WAF policy in Detection mode. ``ground_truth`` lists exactly those. Non-PHI
    resources never break P2-P6 outright (their vaults use RBAC, their WAFs prevent); they keep
    Microsoft-managed keys and short retention, which the patterns only forbid for PHI. About 4%
    of NSGs open RDP to the Internet and 5% of storage accounts accept TLS 1.0 (not in
    ``ground_truth``: no pattern covers them).
    """
    if resources < 0 or role_assignments < 0:
        raise ValueError("resources and role_assignments must not be negative")
    if not 0.0 <= violation_rate <= 1.0:
        raise ValueError("violation_rate must be between 0 and 1")
    generator = _Generator(resources, role_assignments, seed, violation_rate)
    # Hundreds of thousands of small dicts: cyclic GC passes would dominate the run time, and
    # nothing built here forms a cycle.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return generator.build()
    finally:
        if was_enabled:
            gc.enable()
