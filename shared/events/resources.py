"""Resource ids of events: cleaning, the resource a child or extension change affects (child →
parent), which affected types are worth evaluating, and which actions only read."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from functools import lru_cache

from shared.kernel.resource_id import ResourceIdError, canonical, parent, parse

SCOPE_TYPES = frozenset({"microsoft.resources/subscriptions", "microsoft.resources/resourcegroups"})
"""Affected types accepted whatever the supported set says (see :mod:`shared.events`)."""

LOOKUP_TYPES: Mapping[str, frozenset[str]] = {
    "microsoft.network/networkwatchers/flowlogs": frozenset(
        {
            "microsoft.network/networksecuritygroups",
            "microsoft.network/virtualnetworks",
            "microsoft.network/virtualnetworks/subnets",
            "microsoft.network/networkinterfaces",
        }
    ),
}
"""Types whose affected resource is named only in their body → the types it can be.

A change of such a type keeps its own id; it is accepted when one of the possible target types
is supported, and the pipeline reads it to find the target.
"""

# Child types whose checks live on the parent (one level up). Lowercase ARM types.
_CHILD_OF_PARENT = frozenset(
    {
        "microsoft.network/networksecuritygroups/securityrules",
        # The VNet's GET body embeds its subnets (NSG association is checked there).
        "microsoft.network/virtualnetworks/subnets",
        "microsoft.web/sites/config",
        "microsoft.web/sites/slots/config",
        "microsoft.storage/storageaccounts/blobservices",
        "microsoft.sql/servers/databases/transparentdataencryption",
        "microsoft.sql/servers/encryptionprotector",
        "microsoft.sql/servers/auditingsettings",
        "microsoft.sql/servers/extendedauditingsettings",
        "microsoft.sql/servers/administrators",
        "microsoft.sql/servers/azureadonlyauthentications",
        "microsoft.operationalinsights/workspaces/tables",
        # accessPolicies/{add,replace,remove} rewrite the vault's properties.accessPolicies.
        "microsoft.keyvault/vaults/accesspolicies",
        # Keys_CreateIfNotExist (PUT .../vaults/{v}/keys/{k}) is an ARM write; the vault's
        # checks read its key list (related "keyvault_keys").
        "microsoft.keyvault/vaults/keys",
        # Issue 14: related documents of the PHI data services, backup and SQL.
        "microsoft.sql/servers/firewallrules",
        "microsoft.sql/servers/sqlvulnerabilityassessments",
        "microsoft.sql/servers/databases/backuplongtermretentionpolicies",
        "microsoft.sql/managedinstances/encryptionprotector",
        "microsoft.sql/managedinstances/administrators",
        "microsoft.sql/managedinstances/azureadonlyauthentications",
        "microsoft.dbforpostgresql/flexibleservers/configurations",
        "microsoft.dbforpostgresql/flexibleservers/administrators",
        "microsoft.dbformysql/flexibleservers/configurations",
        "microsoft.storage/storageaccounts/fileservices",
    }
)
_SUBSCRIPTION_EVIDENCE = frozenset(
    {
        "microsoft.authorization/classicadministrators",
        "microsoft.authorization/policyassignments",
        "microsoft.insights/activitylogalerts",
        "microsoft.security/pricings",
        "microsoft.security/securitycontacts",
    }
)
# Extension resources whose change is a change of their scope (mapped again: a blob service's
# diagnostic setting → the storage account). The Tags API writes a scope's tags through
# {scope}/providers/Microsoft.Resources/tags/default (Tags_CreateOrUpdateAtScope), and tags
# decide the PHI scope.
_EXTENSIONS_OF_SCOPE = frozenset(
    {"microsoft.insights/diagnosticsettings", "microsoft.resources/tags"}
)
_PROTECTED_ITEM = (
    "microsoft.recoveryservices/vaults/backupfabrics/protectioncontainers/protecteditems"
)

# Action names (the segment before "/action", lowercase) that read and never change a resource.
_READ_ONLY_PREFIXES = ("list", "get", "read", "check", "query", "validate", "export")
_READ_ONLY_ACTIONS = frozenset(
    {
        "publishxml",  # Microsoft.Web/sites/publishxml/action: downloads a publish profile
        "whatif",  # Microsoft.Resources/deployments/whatIf/action
        "ipflowverify",  # Network Watcher diagnostics
        "nexthop",
        "securitygroupview",
        "topology",
        "connectivitycheck",
        "azurereachabilityreport",
        "availableproviderslist",
    }
)

_NEEDS_CLEANING = re.compile(r"\s|//")


def clean_resource_id(resource_id: str) -> str:
    """The id with whitespace around segments and empty segments removed; casing is kept.

    Lenient (for ids phiguard itself composed); event ids go through
    :func:`shared.kernel.resource_id.canonical`, which also refuses dot segments and stray characters.
    """
    if _NEEDS_CLEANING.search(resource_id) is None:
        stripped = resource_id.rstrip("/")
        return stripped if stripped.startswith("/") else "/" + stripped
    parts = [p.strip() for p in resource_id.split("/")]
    return "/" + "/".join(p for p in parts if p)


_CACHED_ID_LENGTH = 1024
"""Ids longer than this are mapped without being memoized: a hostile feed of huge distinct ids
(an event may be up to 1 MB) must not be held by the caches (as in
:func:`shared.kernel.resource_id.parse`)."""


def affected_resource(resource_id: str) -> str:
    """The id of the resource whose checks a change of ``resource_id`` affects (casing kept).

    * NSG security rule → the NSG; subnet → the virtual network; ``sites/x/config/*`` → the site;
      ``blobServices/default`` → the storage account; ``databases/x/transparentDataEncryption/*``
      → the database; SQL server ``encryptionProtector``, ``auditingSettings``,
      ``extendedAuditingSettings``, ``administrators``, ``azureADOnlyAuthentications`` → the
      server; ``workspaces/x/tables/y`` → the workspace; ``vaults/x/accessPolicies/*`` → the
      vault; ``vaults/x/keys/y`` → the vault; any ``…/privateEndpointConnections/x`` → the
      resource it belongs to.
    * ``{target}/providers/Microsoft.Insights/diagnosticSettings/x`` and
      ``{target}/providers/Microsoft.Resources/tags/default`` (the Tags API) → the target,
      mapped again (a blob service's setting → the storage account).
    * ``{scope}/providers/Microsoft.Authorization/roleAssignments/x`` → the scope.
    * Policy assignments, activity-log alerts and classic administrators → their subscription
      (subscription evidence).
    * Flow logs → the flow log itself: the target is only in its body (:data:`LOOKUP_TYPES`).
    * Defender plans and security contacts → their subscription.
    * An Azure Backup protected item of a VM (``…/protectedItems/VM;iaasvmcontainerv2;{rg};{vm}``)
      → the virtual machine it protects, in the vault's subscription.
    * Anything else → itself.

    Ids are read by position (:func:`shared.kernel.resource_id.parse`): a resource named
    ``providers`` is a name, not an extension boundary. Raises
    :class:`~shared.kernel.resource_id.ResourceIdError` for a string that is not an ARM id, and
    for a protected item whose name would compose a VM id with a dot or empty segment.
    """
    if len(resource_id) > _CACHED_ID_LENGTH:
        return _affected_resource(resource_id)
    return _affected_resource_cached(resource_id)


def _affected_resource(resource_id: str) -> str:
    rid = clean_resource_id(resource_id)
    parsed = parse(rid)
    rtype = parsed.type
    if rtype in _CHILD_OF_PARENT or rtype.endswith("/privateendpointconnections"):
        up = parent(rid)
        return up if up is not None else rid
    if rtype == _PROTECTED_ITEM and parsed.subscription is not None:
        vm = _protected_vm(rid, str(parsed.subscription))
        if vm is not None:
            return vm
    if rtype in _SUBSCRIPTION_EVIDENCE and parsed.subscription is not None:
        parts = [p for p in rid.split("/") if p]
        return "/" + "/".join(parts[:2])
    if rtype in _EXTENSIONS_OF_SCOPE or rtype == "microsoft.authorization/roleassignments":
        scope = parent(rid)
        if scope is None or scope == "/":
            return rid
        if rtype == "microsoft.authorization/roleassignments":
            return scope
        try:
            return affected_resource(scope)
        except ResourceIdError:
            return scope
    return rid


_affected_resource_cached = lru_cache(maxsize=8192)(_affected_resource)


def _protected_vm(resource_id: str, subscription: str) -> str | None:
    """The VM an Azure VM protected item names (``VM;iaasvmcontainerv2;{rg};{vm}``), or None.

    The name is text of the event, not an id: a group or VM name ``..`` would compose an id that
    an HTTP client resolves to another path, so such a name raises ResourceIdError.
    """
    name = resource_id.rstrip("/").rsplit("/", 1)[-1]
    parts = name.split(";")
    if len(parts) != 4 or parts[0].lower() != "vm" or not parts[2] or not parts[3]:
        return None
    group, vm = parts[2].strip(), parts[3].strip()
    if group in ("", ".", "..") or vm in ("", ".", ".."):
        raise ResourceIdError(
            f"protected item {name!r:.120} names no usable resource group and VM "
            "(empty or a dot segment)"
        )
    composed = (
        f"/subscriptions/{subscription}/resourceGroups/{group}/providers/"
        f"Microsoft.Compute/virtualMachines/{vm}"
    )
    return canonical(composed)


def _type_of(resource_id: str) -> str:
    if len(resource_id) > _CACHED_ID_LENGTH:
        return parse(resource_id).type
    return _type_of_cached(resource_id)


@lru_cache(maxsize=8192)
def _type_of_cached(resource_id: str) -> str:
    return parse(resource_id).type


def supported(resource_type: str, supported_types: Collection[str] | None = None) -> bool:
    """Whether changes of an affected resource of ``resource_type`` are worth evaluating.

    ``supported_types`` comes from the engine (``Engine().supported_types()``); None accepts all.
    Subscriptions and resource groups are always accepted (:data:`SCOPE_TYPES`); a lookup type
    (a flow log) is accepted when one of its possible targets is supported.
    """
    if supported_types is None:
        return True
    return _supported_in(resource_type.lower(), _lowered(supported_types))


def _lowered(types: Collection[str]) -> frozenset[str]:
    return frozenset(t.lower() for t in types)


def _lowered_or_none(values: Collection[str] | None) -> frozenset[str] | None:
    """None (accept all) for None or an empty collection."""
    return _lowered(values) if values else None


def _supported_in(rtype: str, types: frozenset[str]) -> bool:
    if rtype in types or rtype in SCOPE_TYPES:
        return True
    targets = LOOKUP_TYPES.get(rtype)
    return targets is not None and not targets.isdisjoint(types)


def is_read_only_action(operation_name: str) -> bool:
    """Whether an ARM operation only reads (a ``ResourceActionSuccess`` worth ignoring).

    Read-only: ``…/read``; ``…/{name}/action`` (or a bare trailing ``listKeys``) whose name
    starts with ``list``, ``get``, ``read``, ``check``, ``query``, ``validate`` or ``export``
    (``listKeys``, ``listAccountSas``, ``listServiceSas``, ``listCredentials``,
    ``listConnectionStrings``, ``getKeys``, ``exportTemplate`` …); a few named read-only actions
    (``publishxml``, ``whatIf``, Network Watcher diagnostics). Everything else — including
    ``regenerateKey`` — may change state.
    """
    segments = [s for s in operation_name.strip().lower().split("/") if s]
    if not segments:
        return False
    last = segments[-1]
    if last == "read":
        return True
    if last == "action":
        if len(segments) < 2:
            return False
        last = segments[-2]
    return last.startswith(_READ_ONLY_PREFIXES) or last in _READ_ONLY_ACTIONS


def _is_policy_evaluation(operation_name: str) -> bool:
    segments = operation_name.strip().lower().split("/")
    return (
        len(segments) == 4
        and segments[0] == "microsoft.authorization"
        and segments[1] == "policies"
        and segments[3] == "action"
    )
