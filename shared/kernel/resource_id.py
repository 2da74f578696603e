"""ARM resource ids: parsing, type inference and case-insensitive identity.

ARM ids are case-insensitive and both ``resourceGroups`` and ``resourcegroups`` occur in real
payloads, so every comparison goes through :func:`normalize`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from shared.kernel.errors import PhiguardError


class ResourceIdError(PhiguardError, ValueError):
    """An id that is not an ARM resource id."""


@dataclass(frozen=True)
class ResourceId:
    raw: str
    subscription: str | None
    resource_group: str | None
    type: str  # lowercase, e.g. "microsoft.network/networksecuritygroups/securityrules"
    name: str

    @property
    def key(self) -> str:
        return normalize(self.raw)

    @property
    def resource_group_id(self) -> str | None:
        if self.subscription is None or self.resource_group is None:
            return None
        return f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"


# Characters no ARM resource id holds: they would change the URL the id is read at (query,
# fragment, escapes, path separators of other systems) or the terminal it is printed on (C0,
# DEL and C1 controls: U+009B is a CSI), or cannot be sent at all (a lone surrogate, which a
# JSON body can carry as an escape, has no UTF-8 form).
_FORBIDDEN = (
    frozenset("?#%\\")
    | frozenset(chr(c) for c in range(0x20))
    | frozenset(chr(c) for c in range(0x7F, 0xA0))
    | frozenset(chr(c) for c in range(0xD800, 0xE000))
)


def canonical(resource_id: str) -> str:
    """The one form of an id that is read, judged and written: one leading slash, segments
    stripped of surrounding whitespace, no empty segments, no trailing slash; casing is kept
    (identity goes through :func:`normalize`).

    Raises :class:`ResourceIdError` for a dot segment (``.`` / ``..``: an HTTP client would
    resolve it and read another resource than the one whose scope is judged), for characters
    no ARM id holds (``?``, ``#``, ``%``, backslash, C0 / DEL / C1 control characters, lone
    surrogates), and for what :func:`parse` refuses.
    """
    if not isinstance(resource_id, str) or not resource_id.strip():
        raise ResourceIdError(f"resource id must be a non-empty string, got {resource_id!r:.120}")
    bad = sorted({c for c in resource_id if c in _FORBIDDEN})
    if bad:
        shown = ", ".join(ascii(c) for c in bad[:10])
        raise ResourceIdError(f"resource id holds characters no ARM id has ({shown})")
    parts = [p.strip() for p in resource_id.split("/")]
    kept = [p for p in parts if p]
    if any(p in (".", "..") for p in kept):
        raise ResourceIdError(f"resource id has a dot segment ('.' or '..'): {resource_id!r:.160}")
    rid = "/" + "/".join(kept)
    parse(rid)
    return rid


def normalize(resource_id: str) -> str:
    """The case-insensitive identity of an id: lowercase, no trailing slash, one leading slash."""
    return "/" + resource_id.strip().strip("/").lower()


def parse(resource_id: str) -> ResourceId:
    """Parses subscription, resource-group and resource ids, including nested and extension ids.

    The type of an extension resource (``{scope}/providers/Microsoft.Insights/diagnosticSettings/x``)
    is the extension's type, which is what ARM reports in its ``type`` field. Segments are read
    by position (:func:`_walk`): a resource may be named ``providers``, and anything but
    ``resourceGroups`` or ``providers`` after the subscription (or but ``providers`` after the
    resource group) is refused, naming the segment found.
    """
    if not isinstance(resource_id, str) or not resource_id.strip():
        raise ResourceIdError(f"resource id must be a non-empty string, got {resource_id!r:.120}")
    if len(resource_id) > _CACHED_ID_LENGTH:  # not held: a hostile feed of huge ids
        return _parse.__wrapped__(resource_id)
    return _parse(resource_id)


# A sweep parses each id several times (grouping, types, scope, keys): the answers are frozen.
# Only ids of a real length are kept, so the cache holds at most a few tens of MB.
_CACHED_ID_LENGTH = 1024


@functools.lru_cache(maxsize=16384)
def _parse(resource_id: str) -> ResourceId:
    parts = [p for p in resource_id.strip().split("/") if p]
    subscription, resource_group, providers_at, types = _walk(parts, resource_id)
    if not types:
        if resource_group is not None:
            return ResourceId(
                resource_id,
                subscription,
                resource_group,
                "microsoft.resources/resourcegroups",
                resource_group,
            )
        assert subscription is not None
        return ResourceId(
            resource_id, subscription, None, "microsoft.resources/subscriptions", subscription
        )
    rtype = "/".join([parts[providers_at + 1], *types]).lower()
    return ResourceId(resource_id, subscription, resource_group, rtype, parts[-1])


def _walk(parts: list[str], resource_id: str) -> tuple[str | None, str | None, int, list[str]]:
    """Reads an id's segments by position, as ARM does: (subscription, resource group, index
    of the ``providers`` segment that starts the last resource, that resource's types).

    The grammar (https://learn.microsoft.com/azure/azure-resource-manager/templates/
    template-functions-resource#resourceid and "Extension resource types"):
    ``[/subscriptions/{sub}[/resourceGroups/{rg}]]`` then any number of
    ``/providers/{namespace}/{type}/{name}[/{childType}/{childName}]...``, each one after the
    first an extension of the resource before it. ``providers`` is a keyword only where a
    type may stand: a resource may be named ``providers`` (a storage account name is any 3-24
    lowercase letters and digits). Returns index -1 and no types for a subscription or a
    resource group.
    """
    subscription: str | None = None
    resource_group: str | None = None
    i = 0
    if parts and parts[0].lower() == "subscriptions":
        if len(parts) < 2:
            raise ResourceIdError(f"subscription id missing in {resource_id!r:.200}")
        subscription, i = parts[1], 2
        if i < len(parts) and parts[i].lower() == "resourcegroups":
            if len(parts) < i + 2:
                raise ResourceIdError(f"resource group name missing in {resource_id!r:.200}")
            resource_group, i = parts[i + 1], i + 2
        if i == len(parts):
            return subscription, resource_group, -1, []
        if parts[i].lower() != "providers":
            after = "resource group" if resource_group is not None else "subscription"
            expected = (
                "'providers'" if resource_group is not None else "'resourceGroups' or 'providers'"
            )
            raise ResourceIdError(
                f"expected {expected} after the {after}, got {parts[i]!r:.80} in "
                f"{resource_id!r:.200}"
            )
    elif not parts or parts[0].lower() != "providers":
        raise ResourceIdError(
            f"not an ARM resource id (must start /subscriptions/ or /providers/): "
            f"{resource_id!r:.200}"
        )
    providers_at = i
    types: list[str] = []
    while i < len(parts):
        # parts[i] is "providers": a namespace, then type/name pairs up to the next "providers"
        # in a type position (an extension resource of everything before it).
        if len(parts) - i < 4 or parts[i + 2].lower() == "providers":
            raise ResourceIdError(
                f"no '/providers/<namespace>/<type>/<name>' part in {resource_id!r:.200}"
            )
        providers_at, types, i = i, [parts[i + 2]], i + 4
        while i < len(parts) and parts[i].lower() != "providers":
            if i + 1 == len(parts):
                # ".../providers/Microsoft.Authorization/policyAssignments" is a collection.
                raise ResourceIdError(
                    f"id ends in a collection, not a resource: {resource_id!r:.200}"
                )
            types.append(parts[i])
            i += 2
    return subscription, resource_group, providers_at, types


def parent(resource_id: str) -> str | None:
    """The id one level up: a child resource's parent, or an extension resource's scope.

    Read by position (see :func:`_walk`), so a resource named ``providers`` is no scope
    boundary. An id that does not parse is cut after its last ``providers`` part when that
    names one resource, else at its last two segments.
    """
    parts = [p for p in resource_id.strip().split("/") if p]
    if len(parts) <= 2:
        return None
    try:
        _, _, providers_at, types = _walk(parts, resource_id)
    except ResourceIdError:
        lowered = [p.lower() for p in parts]
        providers_at = max((i for i, p in enumerate(lowered) if p == "providers"), default=-1)
        types = ["?"] if providers_at >= 0 and len(parts) - providers_at == 4 else []
    if len(types) == 1:
        # {scope}/providers/{ns}/{type}/{name}: the parent is the scope.
        return "/" + "/".join(parts[:providers_at])
    return "/" + "/".join(parts[:-2])


def resource_type_of(document: dict[str, object]) -> str:
    """The lowercase ARM type of a document: its ``type`` field, else inferred from its ``id``.

    Some published GET bodies (security rules, Log Analytics tables, disk PUT responses) have no
    ``type``; ARM ids always carry it.
    """
    declared = document.get("type")
    if isinstance(declared, str) and "/" in declared:
        return declared.lower()
    rid = document.get("id")
    if not isinstance(rid, str):
        raise ResourceIdError("document has neither a 'type' nor a string 'id'")
    return parse(rid).type
