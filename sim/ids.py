"""ARM request paths: what a URL path addresses (a document or a collection) and where it hangs.

ARM ids are case-insensitive: every lookup goes through :func:`key`. A path is either a document
(subscription, resource group, resource, child resource, extension resource) or a collection of
documents of one type under a scope or parent (an odd number of segments after the namespace).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal[
    "subscriptions",  # /subscriptions
    "subscription",  # /subscriptions/{s}
    "resource_groups",  # /subscriptions/{s}/resourceGroups
    "resource_group",  # /subscriptions/{s}/resourceGroups/{rg}
    "generic_list",  # /subscriptions/{s}[/resourceGroups/{rg}]/resources
    "resource",  # .../providers/{ns}/{type}/{name}[/{type}/{name}]...
    "collection",  # .../providers/{ns}/{type}[/{name}/{type}]...
]

RESOURCE_GROUP_TYPE = "Microsoft.Resources/resourceGroups"
# Proxy (not tracked) types that can sit directly in a resource group: no location, and not
# listed by ``/resources``.
PROXY_TYPE_PREFIXES = (
    "microsoft.authorization/",
    "microsoft.insights/diagnosticsettings",
    "microsoft.resources/",
    "microsoft.security/",
    "microsoft.policyinsights/",
)
SUBSCRIPTION_TYPE = "Microsoft.Resources/subscriptions"


def key(path: str) -> str:
    """The case-insensitive identity of an id or path."""
    return "/" + path.strip().strip("/").lower()


@dataclass(frozen=True, slots=True)
class Target:
    """What a path addresses.

    ``type`` is the full ARM type (``Microsoft.Network/networkSecurityGroups/securityRules``) of the
    document, or of the collection's items, with the casing of the path. ``parent`` is the path the
    document hangs off: the resource group or subscription for a top-level resource, the parent
    resource for a child, the scope for an extension resource (None for subscriptions and the
    tenant root). ``depth`` counts the type segments after the last ``providers`` (1 for top-level
    and extension resources).
    """

    kind: Kind
    path: str
    subscription: str | None = None
    resource_group: str | None = None
    type: str | None = None
    name: str | None = None
    parent: str | None = None
    depth: int = 0
    scope_kind: Literal["tenant", "subscription", "resource_group", "resource"] = "tenant"
    key: str = ""  # filled in by __post_init__
    type_key: str = ""
    parent_key: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", key(self.path))
        object.__setattr__(self, "type_key", (self.type or "").lower())
        object.__setattr__(self, "parent_key", key(self.parent) if self.parent else "")

    @property
    def namespace(self) -> str:
        return (self.type or "").split("/", 1)[0]

    @property
    def generic_member(self) -> bool:
        """Listed by ``/resources``: a top-level resource directly in a resource group."""
        return (
            self.kind == "resource"
            and self.depth == 1
            and self.scope_kind == "resource_group"
            and not self.type_key.startswith(PROXY_TYPE_PREFIXES)
        )

    @property
    def generic_nested(self) -> bool:
        """A child resource in a resource group that ``/resources`` lists when it is tracked
        (has a location): ARM lists SQL databases and FHIR services, not security rules."""
        return (
            self.kind == "resource"
            and self.depth > 1
            and self.scope_kind == "resource_group"
            and not self.type_key.startswith(PROXY_TYPE_PREFIXES)
        )


def parse(path: str) -> Target | None:
    """Parses a decoded URL path; None when it is not an ARM path at all."""
    segs = [s for s in path.split("/") if s]
    clean = "/" + "/".join(segs)
    if not segs:
        return None
    sub: str | None = None
    rg: str | None = None
    i = 0
    scope_path = ""
    scope_kind: Literal["tenant", "subscription", "resource_group", "resource"] = "tenant"
    if segs[0].lower() == "subscriptions":
        if len(segs) == 1:
            return Target("subscriptions", clean, type=SUBSCRIPTION_TYPE)
        sub = segs[1]
        i = 2
        scope_path = "/" + "/".join(segs[:2])
        scope_kind = "subscription"
        if len(segs) == 2:
            return Target("subscription", clean, sub, type=SUBSCRIPTION_TYPE, name=sub)
        if segs[2].lower() == "resourcegroups":
            if len(segs) == 3:
                return Target(
                    "resource_groups", clean, sub, type=RESOURCE_GROUP_TYPE, parent=scope_path
                )
            rg = segs[3]
            i = 4
            parent = scope_path
            scope_path = "/" + "/".join(segs[:4])
            scope_kind = "resource_group"
            if len(segs) == 4:
                return Target(
                    "resource_group",
                    clean,
                    sub,
                    rg,
                    type=RESOURCE_GROUP_TYPE,
                    name=rg,
                    parent=parent,
                    scope_kind="subscription",
                )
        if segs[i].lower() == "resources" and len(segs) == i + 1:
            return Target("generic_list", clean, sub, rg, parent=scope_path, scope_kind=scope_kind)
    while True:
        if i >= len(segs) or segs[i].lower() != "providers" or len(segs) < i + 3:
            return None
        namespace = segs[i + 1]
        types: list[str] = []
        parent = scope_path
        j = i + 2
        restarted = False
        while j < len(segs):
            types.append(segs[j])
            full_type = namespace + "/" + "/".join(types)
            if j + 1 >= len(segs):
                return Target(
                    "collection",
                    clean,
                    sub,
                    rg,
                    type=full_type,
                    parent=parent,
                    depth=len(types),
                    scope_kind=scope_kind,
                )
            name = segs[j + 1]
            here = "/" + "/".join(segs[: j + 2])
            if j + 2 == len(segs):
                return Target(
                    "resource",
                    clean,
                    sub,
                    rg,
                    type=full_type,
                    name=name,
                    parent=parent,
                    depth=len(types),
                    scope_kind=scope_kind,
                )
            if segs[j + 2].lower() == "providers":
                scope_path = here
                scope_kind = "resource"
                i = j + 2
                restarted = True
                break
            parent = here
            j += 2
        if not restarted:  # pragma: no cover - the loop always returns or restarts
            return None


def type_of(doc_id: str) -> str | None:
    """The ARM type an id implies (with the id's casing), or None when it is not a document id."""
    target = parse(doc_id)
    if target is None or target.kind not in ("subscription", "resource_group", "resource"):
        return None
    return target.type


def is_ancestor(scope_key: str, other_key: str) -> bool:
    """True when ``scope_key`` is ``other_key`` or one of its ancestors (both normalized keys)."""
    if scope_key in ("", "/"):
        return True
    return other_key == scope_key or other_key.startswith(scope_key + "/")
