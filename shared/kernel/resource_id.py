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
    is the extension's type, which is what ARM reports in its ``type`` field.
    """
    if not isinstance(resource_id, str) or not resource_id.strip():
        raise ResourceIdError(f"resource id must be a non-empty string, got {resource_id!r}")
    if len(resource_id) > _CACHED_ID_LENGTH:  # not held: a hostile feed of huge ids
        return _parse.__wrapped__(resource_id)
    return _parse(resource_id)


# A sweep parses each id several times (grouping, types, scope, keys): the answers are frozen.
# Only ids of a real length are kept, so the cache holds at most a few tens of MB.
_CACHED_ID_LENGTH = 1024


@functools.lru_cache(maxsize=16384)
def _parse(resource_id: str) -> ResourceId:
    parts = [p for p in resource_id.strip().split("/") if p]
    subscription: str | None = None
    resource_group: str | None = None
    rest = parts
    if len(parts) >= 2 and parts[0].lower() == "subscriptions":
        subscription = parts[1]
        if len(parts) == 2:
            return ResourceId(
                resource_id, subscription, None, "microsoft.resources/subscriptions", subscription
            )
        rest = parts[2:]
        if rest[0].lower() == "resourcegroups":
            if len(rest) < 2:
                raise ResourceIdError(f"resource group name missing in {resource_id!r}")
            resource_group = rest[1]
            rest = rest[2:]
            if not rest:
                return ResourceId(
                    resource_id,
                    subscription,
                    resource_group,
                    "microsoft.resources/resourcegroups",
                    resource_group,
                )
    elif not parts or parts[0].lower() != "providers":
        raise ResourceIdError(
            f"not an ARM resource id (must start /subscriptions/ or /providers/): {resource_id!r}"
        )
    last_provider = max((i for i, p in enumerate(rest) if p.lower() == "providers"), default=-1)
    if last_provider < 0 or len(rest) - last_provider < 4:
        raise ResourceIdError(f"no '/providers/<namespace>/<type>/<name>' part in {resource_id!r}")
    segments = rest[last_provider + 1 :]
    namespace, pairs = segments[0], segments[1:]
    if len(pairs) % 2:
        # ".../providers/Microsoft.Authorization/policyAssignments" is a collection, not a resource.
        raise ResourceIdError(f"id ends in a collection, not a resource: {resource_id!r}")
    types = [pairs[i] for i in range(0, len(pairs), 2)]
    name = pairs[-1]
    rtype = "/".join([namespace, *types]).lower()
    return ResourceId(resource_id, subscription, resource_group, rtype, name)


def parent(resource_id: str) -> str | None:
    """The id one level up: a child resource's parent, or an extension resource's scope."""
    parts = [p for p in resource_id.strip().split("/") if p]
    if len(parts) <= 2:
        return None
    lowered = [p.lower() for p in parts]
    last_provider = max((i for i, p in enumerate(lowered) if p == "providers"), default=-1)
    if last_provider >= 0 and len(parts) - last_provider == 4:
        # {scope}/providers/{ns}/{type}/{name}: the parent is the scope.
        return "/" + "/".join(parts[:last_provider])
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
