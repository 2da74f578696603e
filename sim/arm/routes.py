"""Routes: which handler answers a request (api-version checks, operation monitors, method and
path kind), and the read side: GET and HEAD by id, lists with paging, ``$filter`` and ``$top``,
and the generic ``/resources`` shape."""

from __future__ import annotations

import re
import uuid
from typing import Any, NamedTuple

from sim import ids
from sim.arm import renderers, vault_items, versions
from sim.arm.defaults import ALIAS_LISTS, default_members, default_singleton, read_alias
from sim.arm.model import (
    API_VERSION_RE,
    ASSIGNMENT_TYPES,
    EXTENSION_TYPES,
    GENERIC_KEYS,
    ROLE_DEFINITIONS,
    UNPAGED_LISTS,
    ArmError,
    ArmRequest,
    ArmResponse,
    error_body,
    to_json,
)
from sim.arm.writes import ArmWrites
from sim.ids import RESOURCE_GROUP_TYPE, Target
from sim.store import Entry


class ArmRoutes(ArmWrites):
    """Dispatches requests; answers reads itself and hands writes to :class:`ArmWrites`."""

    def handle(self, req: ArmRequest) -> ArmResponse:
        try:
            version = req.api_version
            if not version:
                raise ArmError(
                    400,
                    "MissingApiVersionParameter",
                    "The api-version query parameter (?api-version=) is required for all requests.",
                )
            if not API_VERSION_RE.match(version):
                raise ArmError(
                    400,
                    "InvalidApiVersionParameter",
                    f"The api-version '{version}' is invalid. The supported versions are "
                    "'2025-01-01,2024-11-01,2024-05-01,2024-04-01,2023-08-01,2023-04-01,"
                    "2022-04-01,2021-05-01-preview,2021-04-01'.",
                )
            events: list[dict[str, Any]] = []
            with self.lock:
                self._finish_due()
                response = self._dispatch(req, events)
            if events:
                self._publish(events)
            if response.body and renderers.concerns(req.path):
                target = ids.parse(req.path)
                if target is not None and target.type_key:
                    response.body = renderers.render_body(target.type_key, version, response.body)
            return response
        except ArmError as err:
            return ArmResponse(err.status, error_body(err.code, err.message))

    def _dispatch(self, req: ArmRequest, events: list[dict[str, Any]]) -> ArmResponse:
        platform = self._platform(req)
        if platform is not None:
            return platform
        op = self._ops.get(ids.key(req.path))
        if op is not None and req.method in ("GET", "HEAD"):
            return self._operation_status(op, req)
        alias = read_alias(req.path) if req.method == "GET" else None
        target = ids.parse(alias or req.path)
        if target is None:
            raise ArmError(
                404,
                "InvalidResourceNamespace",
                f"The request path '{req.path}' is not a supported ARM path.",
            )
        method = req.method
        if method == "POST":
            # An action (``listKeys``, ``config/appsettings/list``) is checked against the type
            # of the resource it acts on.
            owner = ids.parse(req.path.rstrip("/").rsplit("/", 1)[0])
            if owner is not None and owner.kind in ("resource", "resource_group", "subscription"):
                versions.check(
                    _version_type(owner), req.api_version, lambda: self._location_of(owner)
                )
        else:
            versions.check(
                _version_type(target), req.api_version, lambda: self._location_of(target)
            )
        if method == "POST":
            return self._action(req, target, events)
        if target.kind in ("subscriptions", "resource_groups", "generic_list", "collection"):
            if method != "GET":
                raise ArmError(
                    405,
                    "MethodNotAllowed",
                    f"The requested method '{method}' is not allowed on a collection.",
                )
            return self._list(req, target)
        if target.kind == "subscription":
            if method != "GET":
                raise ArmError(
                    405,
                    "MethodNotAllowed",
                    f"The requested method '{method}' is not allowed on a subscription.",
                )
            return self._get(req, target)
        if method in ("GET", "HEAD"):
            return self._get(req, target)
        if method == "PUT":
            return self._put(req, target, events)
        if method == "PATCH":
            return self._patch(req, target, events)
        if method == "DELETE":
            return self._delete(req, target, events)
        raise ArmError(405, "MethodNotAllowed", f"The requested method '{method}' is not allowed.")

    # --- what every ARM client asks first: tenants, a subscription's locations ----------------

    def _platform(self, req: ArmRequest) -> ArmResponse | None:
        """``GET /tenants`` (Tenants_List) and ``GET /subscriptions/{id}/locations``
        (Subscriptions_ListLocations), in their published shapes; None for any other path."""
        path = req.path.rstrip("/").lower()
        providers = self._providers(req, path)
        if providers is not None:
            return providers
        if path == "/tenants":
            versions.check("microsoft.resources/tenants", req.api_version)
            if req.method != "GET":
                raise ArmError(405, "MethodNotAllowed", "Only GET is allowed on /tenants.")
            # TenantIdDescription (subscriptions.json 2022-12-01, example GetTenants.json): the
            # home tenant carries its domains, country code and tenant type as well.
            tenant = {
                "id": f"/tenants/{self.tenant_id}",
                "tenantId": self.tenant_id,
                "countryCode": "US",
                "displayName": "Contoso (simulated)",
                "domains": ["contoso.onmicrosoft.com"],
                "tenantCategory": "Home",
                "defaultDomain": "contoso.onmicrosoft.com",
                "tenantType": "AAD",
            }
            return ArmResponse(200, to_json({"value": [tenant]}))
        parts = path.split("/")
        if len(parts) == 4 and parts[1] == "subscriptions" and parts[3] == "locations":
            versions.check("microsoft.resources/locations", req.api_version)
            if self.store.get(ids.key(f"/subscriptions/{parts[2]}")) is None:
                raise ArmError(
                    404,
                    "SubscriptionNotFound",
                    f"The subscription '{parts[2]}' could not be found.",
                )
            sub = req.path.rstrip("/").split("/")[2]
            return ArmResponse(
                200, to_json({"value": [_location(sub, region) for region in _LOCATIONS]})
            )
        return None

    def _providers(self, req: ArmRequest, path: str) -> ArmResponse | None:
        """``GET /subscriptions/{s}/providers[/{namespace}]`` and ``GET /providers[/{ns}]``
        (Providers_List / Providers_Get): each namespace of the version table, registered, with
        its resource types and their api-versions (newest first, as ARM lists them). Cloud
        Custodian picks the api-version of a generic read from this answer."""
        parts = path.split("/")
        if len(parts) == 4 and parts[1] == "subscriptions" and parts[3] == "providers":
            sub, namespace = parts[2], ""
        elif len(parts) == 5 and parts[1] == "subscriptions" and parts[3] == "providers":
            sub, namespace = parts[2], parts[4]
        elif parts[1:] == ["providers"]:
            sub, namespace = "", ""
        elif len(parts) == 3 and parts[1] == "providers":
            sub, namespace = "", parts[2]
        else:
            return None
        versions.check("microsoft.resources/providers", req.api_version)
        if req.method != "GET":
            raise ArmError(405, "MethodNotAllowed", "Only GET is allowed on providers.")
        if sub and self.store.get(ids.key(f"/subscriptions/{sub}")) is None:
            raise ArmError(
                404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found."
            )
        shown_sub = req.path.split("/")[2] if sub else ""
        found = versions.providers()
        listed = {p["namespace"].lower() for p in found}
        # Namespaces the estate holds but the version table does not: registered, without
        # types (a client then falls back to its own version, which such types accept).
        for held in sorted({t.split("/", 1)[0] for t in self.store.by_type if "/" in t}):
            if held not in listed:
                cased = self._namespace_casing(held)
                found.append({"namespace": cased, "types": []})
                listed.add(held)
        if namespace:
            provider = next((p for p in found if p["namespace"].lower() == namespace), None)
            if provider is None:
                raise ArmError(
                    404,
                    "InvalidResourceNamespace",
                    f"The resource namespace '{req.path.rstrip('/').split('/')[-1]}' is invalid.",
                )
            return ArmResponse(200, to_json(_provider_doc(provider, shown_sub)))
        return ArmResponse(200, to_json({"value": [_provider_doc(p, shown_sub) for p in found]}))

    def _namespace_casing(self, namespace_key: str) -> str:
        """A namespace as the estate's documents spell it."""
        for type_key, keys in self.store.by_type.items():
            if type_key.startswith(namespace_key + "/") and keys:
                entry = self.store.docs.get(next(iter(keys)))
                if entry is not None and entry.target.type:
                    return entry.target.namespace
        return namespace_key

    def _location_of(self, target: Target) -> str:
        """The region a version error names: the document's, else its resource group's."""
        for path in (target.path, target.parent or ""):
            entry = self.store.get(ids.key(path)) if path else None
            location = entry.doc.get("location") if entry is not None else None
            if isinstance(location, str) and location:
                return location.replace(" ", "").lower()
        return ""

    # --- reads ----------------------------------------------------------------------------

    def _get(self, req: ArmRequest, target: Target) -> ArmResponse:
        entry = self.store.get(target.key)
        if target.kind == "subscription":
            if entry is None:
                raise ArmError(
                    404,
                    "SubscriptionNotFound",
                    f"The subscription '{target.subscription}' could not be found.",
                )
            return self._doc_response(entry)
        self._check_containers(target)
        if target.kind == "resource_group":
            if entry is None:
                if req.method == "HEAD":
                    return ArmResponse(404)
                raise ArmError(
                    404,
                    "ResourceGroupNotFound",
                    f"Resource group '{target.resource_group}' could not be found.",
                )
            return ArmResponse(204) if req.method == "HEAD" else self._doc_response(entry)
        if entry is None and target.type_key == ROLE_DEFINITIONS:
            entry = self._role_definition_anywhere(target)
        if entry is None and target.parent and self._exists(target.parent):
            default = default_singleton(target.type_key, target.path, target.name or "")
            if default is None:
                default = self._derived_vault_item(target)
            if default is not None:
                entry = Entry(default, target, '"default"')
        if entry is None:
            self._check_parent(target)
            if req.method == "HEAD":
                return ArmResponse(404)
            raise ArmError(404, "ResourceNotFound", self._not_found_message(target.path))
        if req.method == "HEAD":
            return ArmResponse(204)
        return self._doc_response(entry)

    def _role_definition_anywhere(self, target: Target) -> Entry | None:
        """Built-in role definitions answer at every scope, with the id of the requested scope."""
        name = (target.name or "").lower()
        for k in self.store.keys(self.store.by_type, ROLE_DEFINITIONS):
            entry = self.store.docs[k]
            if (entry.target.name or "").lower() == name:
                doc = dict(entry.doc)
                doc["id"] = target.path
                return Entry(doc, target, entry.etag)
        return None

    def _list(self, req: ArmRequest, target: Target) -> ArmResponse:
        token = req.query.get("$skiptoken")
        cursor: str | None = None
        offset = 0
        keys: list[str] | None = None
        if token:
            cursor, _, off = token.partition(".")
            try:
                offset = max(0, int(off))
            except ValueError:
                raise ArmError(
                    400, "InvalidSkipToken", f"The skip token '{token}' is invalid."
                ) from None
            keys = self._cursors.get(cursor)
            if keys is not None:
                self._cursors.move_to_end(cursor)
        generic = target.kind == "generic_list"
        if keys is None:
            keys = self._list_keys(req, target)
        unpaged = target.type_key in UNPAGED_LISTS
        size = self.options.page_size
        top = req.query.get("$top")
        if top:
            try:
                size = max(1, min(size, int(top)))
            except ValueError:
                raise ArmError(
                    400, "InvalidQueryParameterValue", f"The $top value '{top}' is invalid."
                ) from None
        page = keys if unpaged else keys[offset : offset + size]
        items: list[bytes] = []
        if offset == 0 and target.kind == "collection" and target.parent:
            items += self._unwritten_singletons(target, keys)
            if not keys:
                items += [to_json(d) for d in self._derived_vault_items(target)]
        for k in page:
            entry = self.store.get(k)
            if entry is None:
                continue
            items.append(to_json(self._generic(entry.doc, req)) if generic else entry.body)
        body = b'{"value":[' + b",".join(items) + b"]"
        if not unpaged and offset + size < len(keys):
            if cursor is None or cursor not in self._cursors:
                cursor = uuid.UUID(int=self._bits() & ((1 << 128) - 1), version=4).hex
                self._cursors[cursor] = keys
                while len(self._cursors) > self.options.cursor_cache:
                    self._cursors.popitem(last=False)
            params = {"api-version": req.api_version, "$skiptoken": f"{cursor}.{offset + size}"}
            if top:
                params["$top"] = top
            link = self._link(target.path, **params)
            body += b',"nextLink":' + to_json(link)
        return ArmResponse(200, body + b"}")

    def _unwritten_singletons(self, target: Target, keys: list[str]) -> list[bytes]:
        """The service defaults a list holds besides what was written (a server's
        ``vulnerabilityAssessments`` list answers ``default`` even when nobody set it)."""
        members = default_members(target.type_key, target.path)
        if not members or not self._exists(target.parent or ""):
            return []
        written = set(keys)
        return [to_json(doc) for doc in members if ids.key(doc["id"]) not in written]

    def _derived_vault_items(self, target: Target) -> list[dict[str, Any]]:
        """A vault's keys or secrets when the estate wrote none (:mod:`sim.arm.vault_items`)."""
        kind = target.type_key.rsplit("/", 1)[-1]
        if target.type_key not in VAULT_ITEM_TYPES or not target.parent:
            return []
        vault = self.store.get(ids.key(target.parent))
        if vault is None or vault_items.stored(self.store, vault.doc, kind):
            return []
        return [
            vault_items.arm_document(vault.doc, item, kind)
            for item in vault_items.items(self.store, vault.doc, kind)
        ]

    def _derived_vault_item(self, target: Target) -> dict[str, Any] | None:
        if target.type_key not in VAULT_ITEM_TYPES:
            return None
        name = (target.name or "").lower()
        collection = ids.Target(
            "collection",
            target.path.rsplit("/", 1)[0],
            target.subscription,
            target.resource_group,
            type=target.type,
            parent=target.parent,
            depth=target.depth,
            scope_kind=target.scope_kind,
        )
        return next(
            (d for d in self._derived_vault_items(collection) if d["name"].lower() == name), None
        )

    def _generic(self, doc: dict[str, Any], req: ArmRequest) -> dict[str, Any]:
        out = {k: doc[k] for k in GENERIC_KEYS if k in doc}
        # A nested resource is named by its parents' names too ("server/database").
        rest = str(doc.get("id", "")).rsplit("/providers/", 1)[-1].split("/")
        if len(rest) > 3:
            out["name"] = "/".join(rest[2::2])
        expand = req.query.get("$expand", "").lower()
        props = doc.get("properties")
        if (
            "provisioningstate" in expand
            and isinstance(props, dict)
            and "provisioningState" in props
        ):
            out["provisioningState"] = props["provisioningState"]
        return out

    def _list_keys(self, req: ArmRequest, target: Target) -> list[str]:
        store = self.store
        if target.kind == "subscriptions":
            return store.keys(store.by_parent, ("", "microsoft.resources/subscriptions"))
        self._check_containers(target)
        sub = (target.subscription or "").lower()
        if target.kind == "resource_groups":
            return store.keys(
                store.by_parent,
                (ids.key(f"/subscriptions/{target.subscription}"), RESOURCE_GROUP_TYPE.lower()),
            )
        flt = req.query.get("$filter", "")
        if target.kind == "generic_list":
            pool = (
                store.keys(store.generic_rg, (sub, (target.resource_group or "").lower()))
                if target.resource_group
                else store.keys(store.generic_sub, sub)
            )
            return self._filter_generic(pool, flt) if flt else pool
        self._check_parent(target)
        t = target.type_key
        parent_key = target.parent_key
        if t in ALIAS_LISTS:
            return [
                k
                for k in store.keys(store.by_type, ALIAS_LISTS[t])
                if k.startswith(parent_key + "/")
            ]
        if t in ASSIGNMENT_TYPES or t == ROLE_DEFINITIONS:
            return self._assignments(target, parent_key, flt)
        if flt:
            raise ArmError(
                400, "InvalidFilterInQueryString", f"The $filter '{flt}' is not supported here."
            )
        if t in EXTENSION_TYPES or target.depth > 1 or target.scope_kind in ("resource", "tenant"):
            return store.keys(store.by_parent, (parent_key, t))
        if target.scope_kind == "subscription":
            return store.keys(store.by_sub, (sub, t))
        return store.keys(store.by_rg, (sub, (target.resource_group or "").lower(), t))

    def _filter_generic(self, pool: list[str], flt: str) -> list[str]:
        clauses = [c.strip() for c in re.split(r"\s+and\s+", flt.strip(), flags=re.I) if c]
        tests: list[tuple[str, str, str]] = []  # (field, value, tag name)
        tag_name = ""
        for clause in clauses:
            sub_m = re.fullmatch(r"substringof\('([^']*)',\s*name\)", clause, flags=re.I)
            if sub_m:
                tests.append(("substringof", sub_m.group(1).lower(), ""))
                continue
            m = re.fullmatch(r"(\w+)\s+eq\s+'([^']*)'", clause, flags=re.I)
            field_name = m.group(1).lower() if m else ""
            if (
                m is None
                or field_name not in ("resourcetype", "name", "location", "tagname", "tagvalue")
                or (field_name == "tagvalue" and not tag_name)
            ):
                raise ArmError(
                    400, "InvalidFilterInQueryString", f"The $filter '{flt}' is invalid."
                )
            if field_name == "tagname":
                tag_name = m.group(2).lower()
            tests.append((field_name, m.group(2), tag_name))
        return [k for k in pool if all(_generic_match(self.store.docs[k].doc, t) for t in tests)]

    def _management_groups_above(self, subscription: str | None) -> set[str]:
        """Keys of the management groups a subscription sits in, up to the root (management
        group documents name their subscriptions in ``properties.children`` and their parent in
        ``properties.details.parent``, as ManagementGroups_Get with ``$expand=children``)."""
        if not subscription:
            return set()
        docs = {
            k: self.store.docs[k].doc
            for k in self.store.keys(self.store.by_type, MANAGEMENT_GROUPS)
        }
        if not docs:
            return set()
        sub_key = ids.key(f"/subscriptions/{subscription}")
        found: set[str] = set()
        current = next((k for k, d in docs.items() if sub_key in _children(d)), "")
        while current and current not in found:
            found.add(current)
            current = _parent(docs[current]) if current in docs else ""
        return found

    def _assignments(self, target: Target, scope_key: str, flt: str) -> list[str]:
        at_scope = False
        principal: str | None = None
        definition: str | None = None
        for clause in [c.strip() for c in re.split(r"\s+and\s+", flt.strip(), flags=re.I) if c]:
            if clause.lower() == "atscope()":
                at_scope = True
                continue
            # The REST reference writes "principalId eq {id}": a quoted id (as the SDKs and
            # the CLI send it) or a bare GUID.
            m = re.fullmatch(
                r"(?:assignedTo\('([^']*)'\)|principalId\s+eq\s+(?:'([^']*)'|([0-9a-f-]{36})))",
                clause,
                flags=re.I,
            )
            d = re.fullmatch(r"policyDefinitionId\s+eq\s+'([^']*)'", clause, flags=re.I)
            if m:
                principal = (m.group(1) or m.group(2) or m.group(3) or "").lower()
            elif d:
                definition = d.group(1).lower()
            else:
                raise ArmError(
                    400, "InvalidFilterInQueryString", f"The $filter '{flt}' is invalid."
                )
        t = target.type_key
        if t == ROLE_DEFINITIONS:
            at_scope = True
        groups = self._management_groups_above(target.subscription)
        out = []
        for k in self.store.keys(self.store.by_type, t):
            entry = self.store.docs[k]
            doc_scope = entry.target.parent_key
            above = ids.is_ancestor(doc_scope, scope_key) or doc_scope in groups
            below = ids.is_ancestor(scope_key, doc_scope)
            if not (above or (below and not at_scope)):
                continue
            props = entry.doc.get("properties") or {}
            if principal is not None and str(props.get("principalId", "")).lower() != principal:
                continue
            if (
                definition is not None
                and str(props.get("policyDefinitionId", "")).lower() != definition
            ):
                continue
            out.append(k)
        return out


MANAGEMENT_GROUPS = "microsoft.management/managementgroups"
VAULT_ITEM_TYPES = frozenset(
    {"microsoft.keyvault/vaults/keys", "microsoft.keyvault/vaults/secrets"}
)

_ARM_KIND_TYPES = {
    "subscriptions": "microsoft.resources/subscriptions",
    "subscription": "microsoft.resources/subscriptions",
    "resource_groups": "microsoft.resources/resourcegroups",
    "resource_group": "microsoft.resources/resourcegroups",
    "generic_list": "microsoft.resources/resources",
}


def _version_type(target: Target) -> str:
    """The type whose registered api-versions a request must use."""
    return _ARM_KIND_TYPES.get(target.kind, target.type_key)


def _provider_doc(provider: dict[str, Any], subscription: str) -> dict[str, Any]:
    namespace = provider["namespace"]
    prefix = f"/subscriptions/{subscription}" if subscription else ""
    return {
        "id": f"{prefix}/providers/{namespace}",
        "namespace": namespace,
        "registrationState": "Registered",
        "registrationPolicy": "RegistrationRequired",
        "resourceTypes": [
            {
                "resourceType": rtype,
                "locations": [region.display for region in _LOCATIONS],
                "apiVersions": list(reversed(found)),
                "capabilities": "None",
            }
            for rtype, found in provider["types"]
        ],
    }


class _Region(NamedTuple):
    name: str
    display: str
    geography: str  # metadata.geography
    group: str  # metadata.geographyGroup, and the "(...)" of regionalDisplayName
    latitude: str
    longitude: str
    physical: str
    paired: str


# The regions the estates use (and a few more), as Subscriptions_ListLocations names them: the
# Location / LocationMetadata shapes of subscriptions.json (2022-12-01), values as the published
# examples show them (GetLocations.json: eastus, eastus2; `az account list-locations` output in
# the Azure docs for the others). Coordinates are strings, as ARM sends them.
_LOCATIONS = (
    _Region(
        "eastus", "East US", "United States", "US", "37.3719", "-79.8164", "Virginia", "westus"
    ),
    _Region(
        "eastus2",
        "East US 2",
        "United States",
        "US",
        "36.6681",
        "-78.3889",
        "Virginia",
        "centralus",
    ),
    _Region(
        "westus2",
        "West US 2",
        "United States",
        "US",
        "47.233",
        "-119.852",
        "Washington",
        "westcentralus",
    ),
    _Region(
        "westus3",
        "West US 3",
        "United States",
        "US",
        "33.448376",
        "-112.074036",
        "Phoenix",
        "eastus",
    ),
    _Region(
        "centralus", "Central US", "United States", "US", "41.5908", "-93.6208", "Iowa", "eastus2"
    ),
    _Region(
        "westeurope",
        "West Europe",
        "Europe",
        "Europe",
        "52.3667",
        "4.9",
        "Netherlands",
        "northeurope",
    ),
    _Region(
        "northeurope",
        "North Europe",
        "Europe",
        "Europe",
        "53.3478",
        "-6.2597",
        "Ireland",
        "westeurope",
    ),
)


def _location(subscription: str, region: _Region) -> dict[str, Any]:
    """One ``Location`` of Subscriptions_ListLocations for ``subscription``."""
    base = f"/subscriptions/{subscription}/locations"
    return {
        "id": f"{base}/{region.name}",
        "name": region.name,
        "type": "Region",
        "displayName": region.display,
        "regionalDisplayName": f"({region.group}) {region.display}",
        "metadata": {
            "regionType": "Physical",
            "regionCategory": "Recommended",
            "geography": region.geography,
            "geographyGroup": region.group,
            "longitude": region.longitude,
            "latitude": region.latitude,
            "physicalLocation": region.physical,
            "pairedRegion": [{"name": region.paired, "id": f"{base}/{region.paired}"}],
        },
    }


def _children(doc: dict[str, Any]) -> list[str]:
    props = doc.get("properties") if isinstance(doc.get("properties"), dict) else {}
    assert isinstance(props, dict)
    return [
        ids.key(str(c.get("id")))
        for c in props.get("children") or []
        if isinstance(c, dict) and c.get("id")
    ]


def _parent(doc: dict[str, Any]) -> str:
    props = doc.get("properties") if isinstance(doc.get("properties"), dict) else {}
    assert isinstance(props, dict)
    details = props.get("details") if isinstance(props.get("details"), dict) else {}
    assert isinstance(details, dict)
    parent = details.get("parent") if isinstance(details.get("parent"), dict) else {}
    assert isinstance(parent, dict)
    return ids.key(str(parent["id"])) if parent.get("id") else ""


def _generic_match(doc: dict[str, Any], test: tuple[str, str, str]) -> bool:
    field_name, value, tag_name = test
    tags = doc.get("tags") if isinstance(doc.get("tags"), dict) else {}
    assert isinstance(tags, dict)
    if field_name == "substringof":
        return value in str(doc.get("name", "")).lower()
    if field_name == "resourcetype":
        return str(doc.get("type", "")).lower() == value.lower()
    if field_name == "name":
        return str(doc.get("name", "")).lower() == value.lower()
    if field_name == "location":
        return str(doc.get("location", "")).replace(" ", "").lower() == value.lower()
    if field_name == "tagname":
        return any(str(k).lower() == value.lower() for k in tags)
    return any(str(k).lower() == tag_name and v == value for k, v in tags.items())
