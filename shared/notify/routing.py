"""Who is told: email recipients by severity, subscription, resource group and an owner tag.

Settings (parsed here, read by the caller from the environment):

``PHIGUARD_NOTIFY_EMAIL_TO``
    Recipients of every notice and of the digest: ``a@contoso.com,b@contoso.com``.
``PHIGUARD_NOTIFY_ROUTES``
    More recipients by scope, ``;``-separated ``<scope>:<value>=<addresses>`` with scope
    ``severity`` (``CRITICAL``...), ``subscription`` (an id) or ``resource_group`` (``<name>``
    in any subscription, or ``<subscription id>/<name>``); names case-insensitive::

        severity:CRITICAL=secops@contoso.com;resource_group:rg-phi-data=data-team@contoso.com
``PHIGUARD_NOTIFY_OWNER_TAG`` / ``PHIGUARD_NOTIFY_OWNER_DOMAINS``
    The tag naming a resource's owner (``owner``) and the domains an owner address may be in
    (``contoso.com,fabrikam.com``). Anyone who can tag a resource can set the tag, so an
    address outside these domains is ignored, and without domains owner routing is off.

An address must look like ``local@domain.tld`` (no display names, no spaces, no CR/LF); a
malformed one in the settings raises :class:`RoutingError` naming the setting, never silently
dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.kernel.errors import PhiguardError
from shared.kernel.findings import Severity

_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
SCOPES = ("severity", "subscription", "resource_group")


class RoutingError(PhiguardError, ValueError):
    """A routing setting cannot be read."""


def is_address(text: str) -> bool:
    return len(text) <= 254 and bool(_ADDRESS.match(text))


def parse_addresses(
    value: str | None, setting: str = "PHIGUARD_NOTIFY_EMAIL_TO"
) -> tuple[str, ...]:
    """``a@x.com, b@y.com`` → the addresses, lower-cased, in order, without repeats."""
    out: dict[str, None] = {}
    for part in (value or "").split(","):
        address = part.strip()
        if not address:
            continue
        if not is_address(address):
            raise RoutingError(f"{setting}: not an email address: {address[:80]!r}")
        out[address.lower()] = None
    return tuple(out)


def parse_domains(value: str | None) -> frozenset[str]:
    domains = set()
    for part in (value or "").split(","):
        domain = part.strip().lower().lstrip("@")
        if not domain:
            continue
        if not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", domain):
            raise RoutingError(f"PHIGUARD_NOTIFY_OWNER_DOMAINS: not a domain: {domain[:80]!r}")
        domains.add(domain)
    return frozenset(domains)


@dataclass(frozen=True)
class Route:
    scope: str
    value: str  # casefolded; resource_group: "name" or "subscription/name"
    recipients: tuple[str, ...]


def parse_routes(value: str | None) -> tuple[Route, ...]:
    """``PHIGUARD_NOTIFY_ROUTES`` (see the module's doc)."""
    routes = []
    for number, part in enumerate((value or "").split(";"), 1):
        part = part.strip()
        if not part:
            continue
        head, sep, addresses = part.partition("=")
        scope, colon, target = head.partition(":")
        scope = scope.strip().lower()
        target = target.strip()
        if not sep or not colon or not target or scope not in SCOPES:
            raise RoutingError(
                f"PHIGUARD_NOTIFY_ROUTES: route {number} must be <scope>:<value>=<addresses> "
                f"with scope one of {', '.join(SCOPES)}"
            )
        if scope == "severity":
            try:
                target = Severity(target.upper()).value
            except ValueError:
                raise RoutingError(
                    f"PHIGUARD_NOTIFY_ROUTES: route {number}: unknown severity {target[:20]!r}"
                ) from None
        recipients = parse_addresses(addresses, f"PHIGUARD_NOTIFY_ROUTES (route {number})")
        if not recipients:
            raise RoutingError(f"PHIGUARD_NOTIFY_ROUTES: route {number} names no address")
        routes.append(Route(scope, target.casefold(), recipients))
    return tuple(routes)


@dataclass(frozen=True)
class Routing:
    default: tuple[str, ...] = ()
    routes: tuple[Route, ...] = ()
    owner_tag: str = "owner"
    owner_domains: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_settings(cls, environ: Mapping[str, str]) -> Routing:
        """From the ``PHIGUARD_NOTIFY_*`` settings (see the module's doc)."""
        return cls(
            default=parse_addresses(environ.get("PHIGUARD_NOTIFY_EMAIL_TO")),
            routes=parse_routes(environ.get("PHIGUARD_NOTIFY_ROUTES")),
            owner_tag=(environ.get("PHIGUARD_NOTIFY_OWNER_TAG") or "owner").strip(),
            owner_domains=parse_domains(environ.get("PHIGUARD_NOTIFY_OWNER_DOMAINS")),
        )

    def owner_of(self, tags: Mapping[str, Any] | None) -> str:
        """The owner address from the owner tag (names case-insensitive), if it is one and in an
        allowed domain; else ""."""
        if not self.owner_domains or not isinstance(tags, Mapping):
            return ""
        for key, value in tags.items():
            if str(key).casefold() == self.owner_tag.casefold() and isinstance(value, str):
                address = value.strip()
                domain = address.rpartition("@")[2].lower()
                if is_address(address) and domain in self.owner_domains:
                    return address.lower()
        return ""

    def recipients(
        self,
        *,
        severity: Severity | None = None,
        subscription_id: str = "",
        resource_group: str = "",
        owner: str = "",
    ) -> tuple[str, ...]:
        """Everyone told about a notice with these attributes: the default recipients, every
        matching route, and the owner."""
        found: dict[str, None] = dict.fromkeys(self.default)
        sub, group = subscription_id.casefold(), resource_group.casefold()
        for route in self.routes:
            if (
                (
                    route.scope == "severity"
                    and severity is not None
                    and route.value == severity.value.casefold()
                )
                or (route.scope == "subscription" and sub and route.value == sub)
                or (
                    route.scope == "resource_group"
                    and group
                    and route.value in (group, f"{sub}/{group}")
                )
            ):
                found.update(dict.fromkeys(route.recipients))
        if owner and owner.rpartition("@")[2].lower() in self.owner_domains:
            found[owner.lower()] = None
        return tuple(found)

    def for_notice(self, notice: Any) -> tuple[str, ...]:
        """Recipients of a notice (``shared.notify.model``); a digest goes to the defaults."""
        resource = getattr(notice, "resource", None)
        if resource is None:
            return self.default
        return self.recipients(
            severity=getattr(notice, "severity", None),
            subscription_id=resource.subscription_id,
            resource_group=resource.resource_group,
            owner=resource.owner,
        )
