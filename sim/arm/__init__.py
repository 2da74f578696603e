"""ARM semantics over the in-memory store: what management.azure.com answers, as documents go.

Covered (for every type, generically, plus the type-specific behaviour listed):

- GET/PUT/PATCH/DELETE by id for subscriptions, resource groups, resources, child resources and
  extension resources (``{scope}/providers/{ns}/{type}/{name}``); HEAD on resource groups;
  POST actions on a resource (``listKeys`` answers keys; any other action answers ``{}``).
- Lists: subscriptions, resource groups, ``/resources`` (generic shape; tracked child resources
  such as SQL databases too, named ``parent/child``; ``$filter`` on
  ``resourceType``/``tagName``/``tagValue``/``name``/``location``), a type by subscription or
  resource group, children under a parent, extension resources at a scope (diagnostic settings
  answer ``{"value": [...]}`` without paging), role and policy assignments at, above and below a
  scope (``$filter=atScope()``, ``principalId eq``, ``assignedTo()``). Paging with an absolute
  ``nextLink`` carrying ``$skiptoken``; ``$top`` lowers the page size.
- ``api-version`` required and well-formed, and registered for the type
  (:mod:`~sim.arm.versions`: 400 ``NoRegisteredProviderFound`` naming the supported versions,
  ``InvalidApiVersionParameter`` for ARM's own types; a type the table does not list accepts
  any version); ARM error bodies and codes; case-insensitive ids.
- ``GET /tenants``, ``/subscriptions/{s}/locations`` and the providers listing
  (``/subscriptions/{s}/providers[/{namespace}]`` with each type's api-versions; a namespace the
  estate holds but the version table does not is listed without types).
- Service-default singletons every parent answers without anyone writing them
  (:mod:`~sim.arm.defaults`: storage blob/file/queue/table services, SQL server and database
  policies, TDE, encryption protector, App Service auth settings, including
  ``config/authsettingsV2/list``, and the V1 view ``POST config/authsettings/list``; lists of
  singleton types hold them too), and a vault's keys and
  secrets (:mod:`~sim.arm.vault_items`: its written children, else a deterministic set the Key
  Vault data plane answers too).
- Version-dependent shapes (:mod:`~sim.arm.renderers`): documents are stored once in the newest
  shape and rendered per api-version (SQL TDE ``status`` before 2020-08-01-preview, diagnostic
  settings without category groups before 2021-05-01-preview).
- PUT creates (201; 200 for types whose API answers 200; 202 for storage accounts and disks)
  or replaces (200), keeping read-only properties; PATCH merges (RFC 7386, ``tags`` replaced)
  where the type's API has a PATCH (405 for security rules, subnets, diagnostic settings);
  DELETE answers 200 (with the deleted body for Microsoft.Authorization), 204 when absent;
  deleting cascades to children and extensions. ``etag`` on Microsoft.Network documents (and documents that carry one), changed on
  every write; ``If-Match`` / ``If-None-Match`` honoured (412 ``PreconditionFailed``). An NSG and
  its rules (a VNet and its subnets) share one etag, and the embedded list and the child
  documents are kept equal whichever one is written.
- Long-running operations: Microsoft.Network and Microsoft.Sql writes answer 200/201 with
  ``Azure-AsyncOperation`` (deletes 202 with both headers); storage accounts and disks answer 202
  with ``Location``; resource-group deletes 202 with ``Location``. Status monitors answer
  ``InProgress`` until ``lro_duration`` has passed, then ``Succeeded``.
- Events for every successful write, delete and action (two write events on a create).

Not modelled: RP validation of bodies, other version-dependent
shapes than the two above, ``systemData`` updates, ``Date`` headers, ARM's request-size and URL-length limits.
Documents are stored as given and never mutated: a write stores a new dict.

The service is one class in layers, each a module with one concern: :mod:`~sim.arm.core`
(the store, loading, checks and events every layer uses) ← :mod:`~sim.arm.operations`
(long-running operations) ← :mod:`~sim.arm.writes` (PUT, PATCH, DELETE, POST) ←
:mod:`~sim.arm.routes` (dispatch, GET and lists); :mod:`~sim.arm.model` holds the request and
response types and the per-type tables; :mod:`~sim.arm.versions`, :mod:`~sim.arm.defaults` and
:mod:`~sim.arm.renderers` hold what real ARM answers per type and version.
"""

from __future__ import annotations

from sim.arm.model import (
    ALWAYS_200,
    ALWAYS_201,
    API_VERSION_RE,
    ASSIGNMENT_TYPES,
    ASYNC_LRO,
    EMBEDDED_CHILDREN,
    EXTENSION_TYPES,
    GENERIC_KEYS,
    JSON,
    LOCATION_LRO,
    LRO_DELETE,
    NO_PATCH,
    NSG_READ_ONLY,
    PROVISIONING_STATE,
    READ_ONLY_PROPERTIES,
    ROLE_DEFINITIONS,
    STRONG_ETAGS,
    UNPAGED_LISTS,
    WEAK_ETAGS,
    ArmError,
    ArmOptions,
    ArmRequest,
    ArmResponse,
    Operation,
    error_body,
    iso_now,
)
from sim.arm.routes import ArmRoutes


class ArmService(ArmRoutes):
    """The tenant's ARM endpoint: documents, operations and the events writes produce."""


__all__ = [
    "ALWAYS_200",
    "ALWAYS_201",
    "API_VERSION_RE",
    "ASSIGNMENT_TYPES",
    "ASYNC_LRO",
    "EMBEDDED_CHILDREN",
    "EXTENSION_TYPES",
    "GENERIC_KEYS",
    "JSON",
    "LOCATION_LRO",
    "LRO_DELETE",
    "NO_PATCH",
    "NSG_READ_ONLY",
    "PROVISIONING_STATE",
    "READ_ONLY_PROPERTIES",
    "ROLE_DEFINITIONS",
    "STRONG_ETAGS",
    "UNPAGED_LISTS",
    "WEAK_ETAGS",
    "ArmError",
    "ArmOptions",
    "ArmRequest",
    "ArmResponse",
    "ArmService",
    "Operation",
    "error_body",
    "iso_now",
]
