"""The vocabulary of the simulated ARM: requests, responses and errors, operations and options,
the per-type behaviour tables, and the small JSON helpers the layers share."""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sim.events import Caller

API_VERSION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(-(preview|privatepreview|alpha|beta))?$", re.I)
JSON = "application/json; charset=utf-8"

# Lists of these types include assignments at, above and (without atScope()) below the scope.
ASSIGNMENT_TYPES = {
    "microsoft.authorization/roleassignments",
    "microsoft.authorization/policyassignments",
    "microsoft.authorization/denyassignments",
    "microsoft.authorization/roleeligibilityschedules",
    "microsoft.authorization/roleassignmentschedules",
}
ROLE_DEFINITIONS = "microsoft.authorization/roledefinitions"
# Extension types listed at exactly one scope.
EXTENSION_TYPES = {
    "microsoft.insights/diagnosticsettings",
    "microsoft.authorization/locks",
    "microsoft.authorization/policyexemptions",
    "microsoft.security/pricings",
}
UNPAGED_LISTS = {"microsoft.insights/diagnosticsettings"}

# A pattern ending in "/" covers a namespace; any other names exactly one type.
ASYNC_LRO = ("microsoft.network/", "microsoft.sql/servers", "microsoft.sql/servers/databases")
LOCATION_LRO = {"microsoft.storage/storageaccounts", "microsoft.compute/disks"}
LRO_DELETE = (
    "microsoft.network/",
    "microsoft.sql/servers",
    "microsoft.sql/servers/databases",
    "microsoft.compute/disks",
)
ALWAYS_200 = {
    "microsoft.insights/diagnosticsettings",
    "microsoft.web/sites",
    "microsoft.web/sites/config",
    "microsoft.sql/servers/auditingsettings",
    "microsoft.sql/servers/encryptionprotector",
    "microsoft.sql/servers/databases/transparentdataencryption",
    "microsoft.storage/storageaccounts/blobservices",
    "microsoft.storage/storageaccounts/blobservices/containers/immutabilitypolicies",
    "microsoft.operationalinsights/workspaces/tables",
}
ALWAYS_201 = {"microsoft.authorization/policyassignments"}
# Types whose published REST API has no PATCH (Get, CreateOrUpdate, Delete, List only): a PATCH
# is refused with 405, so a change must be a PUT of the whole document. The message is the one
# the Network RP answers (azure-sdk-for-python network tests record it for a PATCH it lacks).
NO_PATCH = {
    "microsoft.network/networksecuritygroups/securityrules",
    "microsoft.network/virtualnetworks/subnets",
    "microsoft.insights/diagnosticsettings",
}
PROVISIONING_STATE = (
    "microsoft.network/",
    "microsoft.storage/storageaccounts",
    "microsoft.keyvault/vaults",
    "microsoft.operationalinsights/workspaces",
    "microsoft.compute/disks",
    "microsoft.cdn/",
    "microsoft.resources/resourcegroups",
)
# Types whose documents carry an etag: weak W/"guid" ones (Network) or quoted hex (Storage).
WEAK_ETAGS = ("microsoft.network/",)
STRONG_ETAGS = (
    "microsoft.storage/storageaccounts/blobservices/containers",
    "microsoft.storage/storageaccounts/blobservices/containers/immutabilitypolicies",
)
# Parent type -> (embedded list property, child type segment, child ARM type).
EMBEDDED_CHILDREN = {
    "microsoft.network/networksecuritygroups": (
        "securityRules",
        "securityRules",
        "Microsoft.Network/networkSecurityGroups/securityRules",
    ),
    "microsoft.network/virtualnetworks": (
        "subnets",
        "subnets",
        "Microsoft.Network/virtualNetworks/subnets",
    ),
}
READ_ONLY_PROPERTIES = {
    "creationTime",
    "resourceGuid",
    "primaryEndpoints",
    "secondaryEndpoints",
    "primaryLocation",
    "secondaryLocation",
    "statusOfPrimary",
    "statusOfSecondary",
    "keyCreationTime",
    "vaultUri",
    "hsmPoolResourceId",
    "defaultHostName",
    "hostNames",
    "enabledHostNames",
    "outboundIpAddresses",
    "possibleOutboundIpAddresses",
    "customerId",
    "fullyQualifiedDomainName",
    "defaultSecurityRules",
    "networkInterfaces",
    "flowLogs",
    "privateEndpointConnections",
    "createdDate",
    "modifiedDate",
}
NSG_READ_ONLY = {"subnets"}
GENERIC_KEYS = (
    "id",
    "name",
    "type",
    "kind",
    "location",
    "extendedLocation",
    "managedBy",
    "sku",
    "plan",
    "identity",
    "tags",
)


@dataclass
class ArmRequest:
    method: str
    path: str  # percent-decoded
    query: dict[str, str]  # lowercase names, first value
    headers: Mapping[str, str]  # lowercase names
    body: bytes
    url: str  # the URL as the client called it
    caller: Caller
    client_ip: str = "127.0.0.1"

    @property
    def api_version(self) -> str:
        return self.query.get("api-version", "")


@dataclass
class ArmResponse:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)


class ArmError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_body(code: str, message: str) -> bytes:
    import json

    return json.dumps({"error": {"code": code, "message": message}}).encode()


def to_json(obj: Any) -> bytes:
    import json

    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


def merge_patch(base: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(base) if isinstance(base, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def type_matches(patterns: tuple[str, ...], type_key: str) -> bool:
    return any(type_key.startswith(p) if p.endswith("/") else type_key == p for p in patterns)


def strip_etag_quotes(etag: str) -> str:
    e = etag.strip()
    if e.startswith("W/"):
        e = e[2:]
    return e.strip('"')


def iso_now(ts: float | None = None) -> str:
    t = time.gmtime(time.time() if ts is None else ts)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + "Z"


@dataclass
class Operation:
    op_id: str
    method: str
    resource_key: str
    type_key: str
    async_path: str
    location_path: str
    api_version: str
    started: float
    ready_at: float
    finish: Callable[[], None] | None
    status: str = "InProgress"
    ended: float = 0.0


@dataclass(frozen=True)
class ArmOptions:
    page_size: int = 100
    lro_retry_after: float = 1.0  # seconds, sent as Retry-After on LRO responses and monitors
    lro_duration: float = 0.0  # how long an LRO stays InProgress
    cursor_cache: int = 512
