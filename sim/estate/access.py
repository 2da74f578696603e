"""Who can reach what: the demo's directory (Microsoft Graph users, groups, service principals),
its access-review additions (role assignments, PIM schedules), and a generated directory of any
size for benchmarks.

The directory is not part of :class:`~sim.estate.common.Estate` (Graph is not ARM): the
simulated tenant loads :func:`demo_directory` with the demo estate, and
:func:`generated_access` returns both the ARM documents and the directory it goes with.

Sign-in times are relative to the moment the directory is built (``now``), so "inactive for 90
days" means the same whenever the demo runs. No real personal data: names are invented, addresses
use the reserved ``.example`` domain.
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sim.estate import governance
from sim.estate.common import Doc, guid, rg_id, sub_id, ts
from sim.estate.demo_context import DEMO_PROD, RG_PHI, Demo, demo_ids

DOMAIN = "contosohealth.example"
# phiguard's own identity in the simulated tenant (sim.server.DEFAULT_OBJECT_ID).
PHIGUARD_OBJECT_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "phiguard-sim/default-app/sp"))
PHIGUARD_APP_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "phiguard-sim/default-app"))


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def user(
    oid: str,
    name: str,
    upn: str,
    *,
    guest: bool = False,
    enabled: bool = True,
    last_sign_in: datetime | None = None,
) -> Doc:
    """A Graph ``user`` with the properties the review selects (v1.0 names). Its
    ``signInActivity`` has the current shape, ``lastSuccessfulSignInDateTime`` included (Graph
    v1.0 since 2023-12; the review prefers it to the attempt times)."""
    sign_in = None
    if last_sign_in is not None:
        sign_in = {
            "lastSignInDateTime": _iso(last_sign_in),
            "lastSignInRequestId": guid(oid, "signin"),
            "lastNonInteractiveSignInDateTime": "0001-01-01T00:00:00Z",
            "lastNonInteractiveSignInRequestId": "",
            "lastSuccessfulSignInDateTime": _iso(last_sign_in),
            "lastSuccessfulSignInRequestId": guid(oid, "signin"),
        }
    return {
        "id": oid,
        "displayName": name,
        "userPrincipalName": upn,
        "mail": None if guest else upn,
        "userType": "Guest" if guest else "Member",
        "accountEnabled": enabled,
        "signInActivity": sign_in,
    }


def group(oid: str, name: str, members: list[str]) -> Doc:
    return {
        "id": oid,
        "displayName": name,
        "securityEnabled": True,
        "mailEnabled": False,
        "members": list(members),
    }


def service_principal(oid: str, name: str, *, managed: bool = False, app_id: str = "") -> Doc:
    return {
        "id": oid,
        "appId": app_id or guid(oid, "app"),
        "displayName": name,
        "servicePrincipalType": "ManagedIdentity" if managed else "Application",
        "accountEnabled": True,
        "appOwnerOrganizationId": None,
    }


def _people(now: datetime) -> dict[str, Doc]:
    def days(n: int) -> datetime:
        return now - timedelta(days=n)

    people = {
        "dana": ("Dana Ops", "dana.ops", 1),
        "lee": ("Lee Security", "lee.security", 3),
        "sam": ("Sam Oncall", "sam.oncall", 10),
        "ari": ("Ari Auditor", "ari.auditor", 20),
        "kim": ("Kim Developer", "kim.dev", 2),
        "max": ("Max Developer", "max.dev", 130),
        "contractor": ("ETL Contractor", "etl.contractor", 200),
    }
    out = {
        key: user(guid("principal", "user", upn), name, f"{upn}@{DOMAIN}", last_sign_in=days(ago))
        for key, (name, upn, ago) in people.items()
    }
    # The existing demo assignment names this contractor by its own GUID.
    out["contractor"]["id"] = guid("principal", "user", "etl-contractor")
    out["guest"] = user(
        guid("principal", "user", "partner-auditor"),
        "Pat Partner (Fabrikam)",
        f"pat_fabrikam.example#EXT#@{DOMAIN}",
        guest=True,
        last_sign_in=days(5),
    )
    return out


def demo_directory(now: float | None = None) -> dict[str, Any]:
    """The demo tenant's directory in Graph shapes, as ``GraphService.load`` takes it."""
    moment = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    c = Demo.create()
    ids = c.ids
    p = _people(moment)
    admins = guid("principal", "group", "cloud-platform-admins")
    breakglass = guid("principal", "group", "break-glass")
    return {
        "users": list(p.values()),
        "groups": [
            group(admins, "Cloud Platform Admins", [p["dana"]["id"], p["lee"]["id"], breakglass]),
            group(breakglass, "Break Glass Accounts", [p["sam"]["id"]]),
            group(
                guid("principal", "group", "compliance-auditors"),
                "Compliance Auditors",
                [p["ari"]["id"]],
            ),
            group(
                guid("principal", "group", "shop-developers"),
                "Shop Developers",
                [p["kim"]["id"], p["max"]["id"]],
            ),
            group(guid("principal", "group", "phi-data-readers"), "PHI Data Readers", []),
        ],
        "servicePrincipals": [
            service_principal(
                guid("principal", "service-principal", "chs-automation"), "chs-automation"
            ),
            service_principal(c.etl_sp, "chs-etl-pipeline"),
            service_principal(DEPLOY_SP, "chs-deploy-pipeline"),
            service_principal(c.portal_mi, "app-chs-pharmacy-portal", managed=True),
            service_principal(
                guid(ids["st_phi_records"], "identity"), "stchsphirecords", managed=True
            ),
            service_principal(
                guid(ids["sql_phi_cmk"], "identity"), "sql-chs-phi-records", managed=True
            ),
            service_principal(PHIGUARD_OBJECT_ID, "phiguard", managed=True, app_id=PHIGUARD_APP_ID),
        ],
    }


DEPLOY_SP = guid("principal", "service-principal", "chs-deploy-pipeline")
DELETED_USER = guid("principal", "user", "former-dba")  # in no directory: an orphan
SAM = guid("principal", "user", "sam.oncall")
GUEST = guid("principal", "user", "partner-auditor")


def demo_access_documents(c: Demo) -> list[Doc]:
    """What the access review finds in the demo beyond the catalog's roles: a service principal
    Owner of the PHI subscription, a guest on PHI, an orphaned assignment (its user deleted),
    phiguard's own Reader, and an on-call engineer who is Owner of the PHI data just in time
    (PIM eligible) — the compliant way."""
    p = c.p
    role = {name: spec[0] for name, spec in governance.BUILT_IN_ROLES.items()}
    phi_rg = rg_id(p, RG_PHI)
    docs: list[Doc] = [
        governance.role_definition(p, r)
        for r in ("User Access Administrator", "Key Vault Administrator")
    ]
    for scope, role_guid, principal, kind, created in (
        (sub_id(p), role["Owner"], DEPLOY_SP, "ServicePrincipal", 500),
        (phi_rg, role["Reader"], GUEST, "User", 501),
        (phi_rg, role["Contributor"], DELETED_USER, "User", 502),
        (sub_id(p), role["Reader"], PHIGUARD_OBJECT_ID, "ServicePrincipal", 503),
        (
            c.ids["kv_phi_app"],
            role["Key Vault Administrator"],
            guid("principal", "group", "cloud-platform-admins"),
            "Group",
            504,
        ),
    ):
        docs.append(
            governance.role_assignment(scope, p, role_guid, principal, kind, created=created)
        )
    docs.append(eligibility_schedule(phi_rg, p, role["Owner"], SAM, "User", created=505))
    return docs


def eligibility_schedule(
    scope: str,
    sub: str,
    role_guid: str,
    principal_id: str,
    principal_type: str,
    *,
    created: int = 0,
    days: int = 365,
) -> Doc:
    """RoleEligibilitySchedules_Get (2020-10-01 field set, as the published ListForScope)."""
    name = guid(scope, role_guid, principal_id, "eligible")
    start = ts(created)
    end = (datetime.strptime(start[:19], "%Y-%m-%dT%H:%M:%S") + timedelta(days=days)).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z"
    )
    return {
        "properties": {
            "scope": scope,
            "roleDefinitionId": governance.role_definition_id(sub, role_guid),
            "principalId": principal_id,
            "principalType": principal_type,
            "status": "Provisioned",
            "roleEligibilityScheduleRequestId": (
                f"{scope}/providers/Microsoft.Authorization/RoleEligibilityScheduleRequests/"
                + guid(name, "request")
            ),
            "startDateTime": start,
            "endDateTime": end,
            "memberType": "Direct",
            "createdOn": start,
            "updatedOn": start,
            "condition": None,
            "conditionVersion": None,
        },
        "name": name,
        "id": f"{scope}/providers/Microsoft.Authorization/roleEligibilitySchedules/{name}",
        "type": "Microsoft.Authorization/roleEligibilitySchedules",
    }


# --- generated directories, for benchmarks -------------------------------------------------

PRIVILEGED = ("Owner", "Contributor", "User Access Administrator", "Key Vault Administrator")
COMMON = ("Reader", "Storage Blob Data Contributor", "Key Vault Secrets User")


@dataclass
class GeneratedAccess:
    subscriptions: list[Doc]
    documents: list[Doc]
    directory: dict[str, Any]


def generated_access(
    assignments: int = 100_000,
    scopes: int = 1_000,
    principals: int = 10_000,
    *,
    subscriptions: int = 4,
    seed: int = 0,
    now: float | None = None,
) -> GeneratedAccess:
    """``assignments`` role assignments over ``scopes`` resource groups (a third of them tagged
    PHI) in ``subscriptions`` subscriptions, held by ``principals`` directory objects (80% users
    of which 3% guests, 10% groups of up to 20 users, 10% service principals); 0.5% of the
    assignments name a principal the directory does not hold (orphans)."""
    rnd = random.Random(seed)
    moment = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    tenant = guid("tenant", "generated-access", str(seed))
    subs = [
        guid("subscription", "generated-access", str(seed), str(i)) for i in range(subscriptions)
    ]
    docs: list[Doc] = []
    sub_docs = [
        governance.subscription(s, tenant, f"Generated {i}", {}, "EnterpriseAgreement_2014-09-01")
        for i, s in enumerate(subs)
    ]
    docs += sub_docs
    for s in subs:
        docs += [governance.role_definition(s, r) for r in (*PRIVILEGED, *COMMON)]
    scope_ids: list[str] = []
    for i in range(scopes):
        s = subs[i % len(subs)]
        tags = {"data-classification": "phi"} if i % 3 == 0 else {"env": "prod"}
        rg = governance.resource_group(s, f"rg-gen-{i:04d}", "eastus2", tags)
        docs.append(rg)
        scope_ids.append(str(rg["id"]))
    n_users = principals * 8 // 10
    n_groups = principals // 10
    n_sps = principals - n_users - n_groups
    users = [
        user(
            guid("gen-user", str(seed), str(i)),
            f"User {i}",
            f"user{i}@{DOMAIN}",
            guest=rnd.random() < 0.03,
            enabled=rnd.random() > 0.02,
            last_sign_in=moment - timedelta(days=rnd.randint(0, 200)),
        )
        for i in range(n_users)
    ]
    groups = [
        group(
            guid("gen-group", str(seed), str(i)),
            f"Group {i}",
            [users[rnd.randrange(n_users)]["id"] for _ in range(rnd.randint(0, 20))],
        )
        for i in range(n_groups)
    ]
    sps = [
        service_principal(guid("gen-sp", str(seed), str(i)), f"app-{i}", managed=i % 2 == 0)
        for i in range(n_sps)
    ]
    pool: list[tuple[str, str]] = (
        [(str(u["id"]), "User") for u in users]
        + [(str(g["id"]), "Group") for g in groups]
        + [(str(sp["id"]), "ServicePrincipal") for sp in sps]
    )
    role = {name: spec[0] for name, spec in governance.BUILT_IN_ROLES.items()}
    names = [*PRIVILEGED, *COMMON]
    weights = [3, 10, 1, 2, 50, 20, 14]
    for i in range(assignments):
        scope = scope_ids[rnd.randrange(len(scope_ids))]
        sub = scope.split("/")[2]
        if rnd.random() < 0.005:
            principal, kind = guid("gen-deleted", str(seed), str(i)), "User"
        else:
            principal, kind = pool[rnd.randrange(len(pool))]
        role_name = rnd.choices(names, weights)[0]
        docs.append(
            governance.role_assignment(
                scope, sub, role[role_name], principal, kind, name=guid("gen-ra", str(seed), str(i))
            )
        )
    return GeneratedAccess(
        sub_docs,
        docs,
        {"users": users, "groups": groups, "servicePrincipals": sps},
    )


__all__ = [
    "DEMO_PROD",
    "GeneratedAccess",
    "demo_access_documents",
    "demo_directory",
    "demo_ids",
    "generated_access",
]
