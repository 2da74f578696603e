"""Network remediations: close NSG rules that let the Internet in.

Only the offending rules are written, each as its own child resource
(``{nsg}/securityRules/{name}``, a PUT of the full rule body: ARM's PUT replaces the rule, and
security rules have no PATCH) with ``If-Match`` of the rule's etag, so a rule someone changed
since the read is never overwritten (ARM answers 412); a rule read without an etag is re-read and
compared before the write instead. Names,
priorities, ports, protocols and every other rule are kept.

Which rules offend is decided by the model the checks use (``shared.kernel.nsg``): the inbound Allow
rules that, through an Internet-wide source (``*``, ``Any``, ``Internet``, or a range of at least
a public /8 or IPv6 /32), decide some packet from the Internet once every higher-priority rule has
decided the packets it matches — to TCP/UDP management ports 22, 3389 and 5985-5986 on any NSG,
and to anything on PHI-scoped NSGs. A rule entirely shadowed is left alone: it exposes nothing. A
rule only partly shadowed (a Deny of one host, some source ports, one protocol) still exposes the
rest and is tightened. Tightening one rule can uncover a lower-priority one it used to shadow
(with the restrict strategy the packets it no longer matches fall through), so the plan is
computed to a fixed point: it tightens every rule that exposes the remediated kind once the
others are tightened, and the model then finds no such exposure left.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from checks.common import as_list
from remediations.paths import name_selector, parse_path
from remediations.plan import Change, PlanError, Write
from remediations.registry import RemediationOptions, is_phi, remediation
from shared.kernel import api_versions, nsg
from shared.kernel.snapshot import MalformedResource, Snapshot

NSG = "microsoft.network/networksecuritygroups"
RULES = "properties.securityRules"
RULE_API_VERSION = api_versions.for_type("microsoft.network/networksecuritygroups/securityrules")
_RULE_FIELDS = ("access", "sourceAddressPrefix", "sourceAddressPrefixes")
_READ_ONLY = frozenset({"provisioningState"})


def _rule_writes(snapshot: Snapshot, values: Mapping[str, Any]) -> list[Write]:
    """One PUT per rule: the rule's current body with the given fields set (None removes)."""
    fields: dict[str, dict[str, Any]] = {}
    paths: dict[str, list[str]] = {}
    for path, value in values.items():
        tokens = parse_path(path)
        shape = [kind for kind, _ in tokens]
        if shape != ["key", "key", "name", "key", "key"] or tokens[4][1] not in _RULE_FIELDS:
            raise PlanError(f"not a security rule field path: {path}")
        name = str(tokens[2][1])
        fields.setdefault(name.lower(), {})[str(tokens[4][1])] = value
        paths.setdefault(name.lower(), []).append(path)
    rules = as_list(snapshot.prop("securityRules"), RULES)
    writes: list[Write] = []
    for key, changes in fields.items():
        rule = next(
            (r for r in rules if isinstance(r, Mapping) and str(r.get("name", "")).lower() == key),
            None,
        )
        if rule is None:
            raise PlanError(f"security rule {key!r} no longer exists on {snapshot.id}")
        props = {
            k: copy.deepcopy(v)
            for k, v in dict(rule.get("properties") or {}).items()
            if k not in _READ_ONLY
        }
        seen = copy.deepcopy(props)
        for name, value in changes.items():
            if value is None:
                props.pop(name, None)
            else:
                props[name] = copy.deepcopy(value)
        target = _rule_target(snapshot.id, rule)
        etag = rule.get("etag")
        has_etag = isinstance(etag, str) and bool(etag)
        writes.append(
            Write(
                method="PUT",
                target_id=str(target),
                api_version=RULE_API_VERSION,
                body={"properties": props},
                paths=tuple(paths[key]),
                if_match=etag if has_etag else None,
                # A rule read without an etag (the published examples carry none) is written
                # only if, re-read, it still holds every property the PUT would replace.
                expect={} if has_etag else {"properties": seen},
            )
        )
    return writes


def _rule_target(nsg_id: str, rule: Mapping[str, Any]) -> str:
    """Where a rule's fix is written: always ``{nsg}/securityRules/{name}`` of the NSG that was
    read and judged, never an id the body names. A rule name that is no single id segment, or
    an embedded ``id`` naming anything else, makes the plan fail: the fix never lands on
    another resource than the one in scope."""
    from shared.kernel.resource_id import ResourceIdError, canonical, normalize

    name = str(rule.get("name", ""))
    target = f"{nsg_id}/securityRules/{name}"
    try:
        if "/" in name or canonical(target) != target:
            raise ResourceIdError(name)
    except ResourceIdError:
        raise PlanError(f"security rule name {name!r:.80} is not a single id segment") from None
    embedded = rule.get("id")
    if embedded is not None and (
        not isinstance(embedded, str) or normalize(embedded) != normalize(target)
    ):
        raise PlanError(f"security rule {name!r:.80}: its id does not belong to {nsg_id}")
    return target


def _restricted_sources(props: Mapping[str, Any], admin: tuple[str, ...]) -> dict[str, Any]:
    """The source fields once every Internet-wide source is replaced by the admin CIDRs."""
    prefix = props.get("sourceAddressPrefix")
    prefixes = as_list(props.get("sourceAddressPrefixes"), "sourceAddressPrefixes")
    kept = [
        s for s in [prefix, *prefixes] if isinstance(s, str) and s and not nsg.is_internet_wide(s)
    ]
    sources: list[str] = []
    for item in [*kept, *admin]:
        if item.lower() not in (s.lower() for s in sources):
            sources.append(item)
    if len(sources) == 1:
        out: dict[str, Any] = {"sourceAddressPrefix": sources[0]}
        if prefixes:
            out["sourceAddressPrefixes"] = []
        return out
    out = {"sourceAddressPrefixes": sources}
    if isinstance(prefix, str) and prefix:
        out["sourceAddressPrefix"] = None
    return out


def _check_admin_cidrs(admin: tuple[str, ...]) -> None:
    if not admin:
        raise PlanError(
            "the restrict strategy needs admin CIDRs (PHIGUARD_REMEDIATION_ADMIN_CIDRS)"
        )
    for cidr in admin:
        if nsg.is_internet_wide(cidr):
            raise PlanError(
                f"admin CIDR {cidr!r} is Internet-wide, so restricting to it closes nothing"
            )
        try:
            nsg.parse_address_range(cidr, "admin CIDR")
        except MalformedResource:
            raise PlanError(f"admin CIDR {cidr!r} is not an address range") from None


def _with_fields(props: Mapping[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(props)
    for name, value in fields.items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out


def offending_rules(
    snapshot: Snapshot, options: RemediationOptions
) -> dict[int, tuple[nsg.Rule, dict[str, Any]]]:
    """Own rules to tighten (by index in ``securityRules``) and their new field values: every
    rule that exposes the remediated kind once all the others found are tightened."""
    phi = is_phi(snapshot)
    protocols = None if phi else nsg.PORT_PROTOCOLS
    ports = None if phi else nsg.MANAGEMENT_PORTS
    rules, _ = nsg.parse_rules(snapshot)
    tightened: dict[int, tuple[nsg.Rule, dict[str, Any]]] = {}
    while True:
        try:
            exposures = nsg.evaluate(rules)
        except nsg.TooComplex as exc:
            raise PlanError(f"the NSG's rules are too fragmented to plan a fix ({exc})") from None
        found = [e.rule for e in exposures if e.restrict(protocols, ports) is not None]
        if not found:
            return tightened
        for rule in found:
            if rule.default:
                raise PlanError(f"{rule.path} ({rule.name}) exposes the NSG and cannot be changed")
            if rule.index in tightened:
                raise PlanError(f"{rule.path} ({rule.name}) still exposes the NSG once tightened")
            if options.nsg_strategy == "deny":
                fields: dict[str, Any] = {"access": "Deny"}
            else:
                _check_admin_cidrs(options.admin_cidrs)
                fields = _restricted_sources(rule.raw, options.admin_cidrs)
            tightened[rule.index] = (rule, fields)
            replacement = nsg.parse_rule(
                {"name": rule.name, "properties": _with_fields(rule.raw, fields)},
                rule.path,
                rule.index,
            )
            assert replacement is not None  # still inbound
            rules = [replacement if r is rule else r for r in rules]


@remediation(
    id="network_nsg_restrict_internet_inbound",
    title="Close NSG rules that admit the Internet to management ports, or to anything on PHI",
    fixes=(
        "network_nsg_management_ports_internet_closed",
        "network_nsg_phi_internet_inbound_denied",
    ),
    resource_types=(NSG,),
    writes=(
        f"{RULES}[*].properties.access",
        f"{RULES}[*].properties.sourceAddressPrefix",
        f"{RULES}[*].properties.sourceAddressPrefixes",
    ),
    reversible=True,
    disruptive=(
        "Anyone reaching the affected machines from the Internet through these rules loses "
        "access: remote administration (SSH, RDP, WinRM) from outside the admin networks, and "
        "on PHI NSGs every service the rule exposed (a web front end published straight from "
        "the Internet stops answering until it is put behind a gateway). With the deny "
        "strategy the whole rule becomes Deny, which also blocks the rule's other ports."
    ),
    rbac_actions=("Microsoft.Network/networkSecurityGroups/securityRules/write",),
    default_mode="enforce",
    writes_for=_rule_writes,
    phi_only=False,
)
def network_nsg_restrict_internet_inbound(
    snapshot: Snapshot, options: RemediationOptions
) -> Change | None:
    """Rewrites each offending inbound Allow rule: the ``restrict`` strategy replaces its
    Internet-wide sources with the configured admin CIDRs, the ``deny`` strategy (default) sets
    its access to Deny. Safe because only the offending rules change, each under its etag, and
    the rollback restores the old access and sources. None when no rule offends."""
    if nsg.security_rules_absent(snapshot):
        return None  # the NSG's own rules are not visible (the checks are NOT_ASSESSED)
    offending = offending_rules(snapshot, options)
    if not offending:
        return None
    after: dict[str, Any] = {}
    names: list[str] = []
    for index in sorted(offending):
        rule, fields = offending[index]
        name = snapshot.prop(f"securityRules[{index}].name")
        if not isinstance(name, str) or not name:
            raise PlanError(f"{rule.path} has no name, so it cannot be written")
        names.append(name)
        base = f"{RULES}{name_selector(name)}.properties"
        for field, value in fields.items():
            after[f"{base}.{field}"] = value
    phi = is_phi(snapshot)
    how = (
        "set to Deny"
        if options.nsg_strategy == "deny"
        else f"restricted to {', '.join(options.admin_cidrs)}"
    )
    scope = "PHI NSG" if phi else "NSG"
    return Change(
        f"{len(names)} Internet inbound rule(s) of {scope} {snapshot.name} {how}: "
        + ", ".join(names),
        after,
    )
