"""The evaluation engine: Snapshot in, findings out. Functions, CLI and tests all drive this."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from checks import CATALOG, Check
from shared.kernel.findings import Finding, Result, not_assessed
from shared.kernel.phi_scope import PhiScope
from shared.kernel.related import RELATED
from shared.kernel.resource_id import ResourceIdError
from shared.kernel.snapshot import MalformedResource, Snapshot

if TYPE_CHECKING:
    from shared.mutes import MuteRule
    from shared.selection import Selection


log = logging.getLogger("phiguard.engine")


@dataclass(frozen=True)
class NotAssessed:
    check_id: str
    missing: tuple[str, ...]


@dataclass(frozen=True)
class Evaluation:
    """The verdicts for one resource.

    ``findings`` holds one finding per applicable check. A check that could not judge is a
    ``NOT_ASSESSED`` finding naming what it lacked: the related documents the snapshot does not
    have (also listed in ``not_assessed``), or what the check itself found absent. It is never
    counted as PASS.
    """

    resource_id: str
    resource_type: str
    phi: bool
    findings: tuple[Finding, ...]
    not_assessed: tuple[NotAssessed, ...] = ()
    # The check ids the engine ran when a selection narrowed the catalog (None: all of it): the
    # store leaves the rows of other checks as they are instead of closing them.
    scope: frozenset[str] | None = None
    # The selection left out checks the deployment runs (a narrower ``scan``): the record must
    # not vouch for a full read of the resource (its marker's ``last_read_at`` stays), or an
    # event older than this read, which an unselected check would judge, is coalesced away.
    partial: bool = False
    # What the verdicts were decided on (:meth:`Engine.input_digest`); "" when not told.
    input_digest: str = ""


@cache
def code_fingerprint() -> str:
    """A digest of every source file of the packages that decide a verdict and the rows it is
    recorded as (``checks`` and ``shared``): a deployment of other code judges again whatever
    an earlier one judged. "" when a source cannot be read (then nothing is taken as judged)."""
    digest = hashlib.blake2b(digest_size=16)
    root = Path(__file__).resolve().parent.parent
    try:
        for package in ("checks", "shared"):
            sources = sorted((root / package).rglob("*.py"))
            if not sources:
                return ""
            for source in sources:
                digest.update(source.relative_to(root).as_posix().encode("utf-8"))
                digest.update(b"\0")
                digest.update(source.read_bytes())
                digest.update(b"\0")
    except OSError:
        return ""
    return digest.hexdigest()


class _SharedDocDigests:
    """Digests of the documents many resources share (a subscription's cross-resource lists,
    read once per sweep): each is serialised once while the reader keeps the same object,
    not once per resource that needs it."""

    def __init__(self, limit: int = 64) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        # id -> (the document, held so its id is not reused while kept; its digest)
        self._kept: dict[int, tuple[Any, bytes]] = {}

    def digest(self, document: Any) -> bytes:
        with self._lock:
            kept = self._kept.get(id(document))
            if kept is not None and kept[0] is document:
                return kept[1]
        value = hashlib.blake2b(_serialised(document), digest_size=16).digest()
        with self._lock:
            if len(self._kept) >= self._limit:
                self._kept.clear()
            self._kept[id(document)] = (document, value)
        return value


def _serialised(document: Any) -> bytes:
    # ARM's JSON decodes to dicts, lists, strings, numbers, booleans and None, whose repr is
    # exact and unambiguous; a lone surrogate is escaped by repr, so encoding cannot fail.
    return repr(document).encode("utf-8", "surrogatepass")


_SHARED_FETCHES = frozenset({"subscription_list"})


@dataclass
class Engine:
    catalog: Mapping[str, Check] = field(default_factory=lambda: CATALOG)
    phi_scope: PhiScope = field(default_factory=PhiScope)
    scope: frozenset[str] | None = None  # set by :meth:`selected` when a selection narrows
    partial: bool = False  # runs fewer checks than the deployment's (see Evaluation.partial)
    # The mute rules in force (shared.mutes), asked at every evaluation; None: nothing muted.
    mutes: Callable[[], Sequence[MuteRule]] | None = field(default=None, repr=False)
    mute_max_days: int = 180
    _by_type: dict[tuple[str, bool], tuple[Check, ...]] = field(default_factory=dict, repr=False)
    _shared_docs: _SharedDocDigests = field(default_factory=_SharedDocDigests, repr=False)
    # Whether evaluations carry Evaluation.input_digest (a store that remembers it).
    remember_inputs: bool = False
    _fingerprint_kept: tuple[tuple[Check, ...], object, str] | None = field(
        default=None, repr=False
    )
    _last_digest: threading.local = field(default_factory=threading.local, repr=False)
    _mute_digest: tuple[object, tuple[tuple[MuteRule, bytes], ...]] | None = field(
        default=None, repr=False
    )

    @classmethod
    def selected(
        cls,
        selection: Selection,
        phi_scope: PhiScope | None = None,
        catalog: Mapping[str, Check] | None = None,
    ) -> Engine:
        """An engine running only the selected checks (SelectionError names unknown ids or
        services, or a selection that matches no check)."""
        from shared.selection import SelectionError

        full = CATALOG if catalog is None else catalog
        scope = phi_scope or PhiScope()
        if selection.everything:
            return cls(catalog=full, phi_scope=scope)
        chosen = selection.apply(full)
        if not chosen:
            raise SelectionError("the selection matches no check")
        return cls(catalog=chosen, phi_scope=scope, scope=frozenset(chosen))

    def checks_for(self, resource_type: str, phi: bool) -> tuple[Check, ...]:
        """Checks that apply to a resource type; ``phi_only`` ones only to PHI resources."""
        cache_key = (resource_type.lower(), phi)
        found = self._by_type.get(cache_key)
        if found is None:
            found = tuple(
                c
                for c in self.catalog.values()
                if cache_key[0] in c.resource_types and (phi or not c.phi_only)
            )
            self._by_type[cache_key] = found
        return found

    def needs_for(self, resource_type: str, phi: bool) -> set[str]:
        """The related documents the reader must fetch for this resource, and nothing else."""
        return {n for c in self.checks_for(resource_type, phi) for n in c.needs}

    def supported_types(self) -> set[str]:
        return {t for c in self.catalog.values() for t in c.resource_types}

    def fingerprint(self) -> str:
        """What, besides a resource's documents, decides its verdicts here: the code, the checks
        run and the scope they are recorded under. "" (nothing vouched for) for a partial
        engine, whose evaluations never stand for the whole resource, when the code cannot be
        read, or when a check's function lives outside the ``checks`` package (its source is
        not in the code's digest)."""
        code = code_fingerprint()
        if not code or self.partial:
            return ""
        checks = []
        for check_id in sorted(self.catalog):
            check = self.catalog[check_id]
            module = str(getattr(check.func, "__module__", ""))
            if module != "checks" and not module.startswith("checks."):
                return ""
            checks.append((check_id, repr(check), module, check.func.__qualname__))
        scope = sorted(self.scope) if self.scope is not None else None
        return hashlib.blake2b(
            repr((code, checks, scope, self.mute_max_days)).encode("utf-8", "surrogatepass"),
            digest_size=16,
        ).hexdigest()

    def input_digest(self, snapshot: Snapshot, rules: Sequence[MuteRule] | None = None) -> str:
        """A digest of everything :meth:`evaluate` decides ``snapshot``'s verdicts on: the code
        and checks (:meth:`fingerprint`), the PHI scope decided, the resource's body, each
        related document it was given, and the mute rules that name the resource with whether
        each holds now (``rules``, those in force when not given). Checks are pure functions
        of the snapshot (``checks.registry``), so equal digests mean equal verdicts: a sweep
        that finds the digest its marker was recorded with can confirm the read without
        judging again (``StateStore.confirm_unchanged_input``). "" when the verdicts cannot be
        vouched for this way (see :meth:`fingerprint`)."""
        fingerprint = self._fingerprint()
        if not fingerprint:
            return ""
        if rules is None:
            rules = self.rules_in_force()
        digest = hashlib.blake2b(fingerprint.encode("ascii"), digest_size=16)
        digest.update(b"\1" if self.phi_scope.is_phi(snapshot) else b"\0")
        try:
            digest.update(_serialised(snapshot.resource))
            for key in sorted(snapshot.related):
                value = snapshot.related[key]
                digest.update(b"\0" + key.encode("utf-8") + b"\0")
                doc = RELATED.get(key)
                if doc is not None and doc.fetch in _SHARED_FETCHES:
                    digest.update(self._shared_docs.digest(value))
                else:
                    digest.update(_serialised(value))
        except (RecursionError, ValueError):
            # A document nested too deeply to write out (JSON decodes a little deeper than
            # repr writes), or an integer too long for repr: judged as any other, its record
            # vouching for nothing.
            value = ""
        else:
            digest.update(self._mutes_digest(rules, snapshot.id))
            value = digest.hexdigest()
        self._last_digest.value = (snapshot, rules, value)
        return value

    def _digest_for(self, snapshot: Snapshot, rules: Sequence[MuteRule]) -> str:
        """:meth:`input_digest` of ``snapshot`` with ``rules``: the one this thread just took
        (the pipeline asks before judging) when it was taken of the same objects."""
        last = getattr(self._last_digest, "value", None)
        if last is not None and last[0] is snapshot and last[1] is rules:
            return str(last[2])
        return self.input_digest(snapshot, rules)

    def _fingerprint(self) -> str:
        # The checks themselves (held, compared by identity): a catalog changed in place is
        # told apart.
        checks = tuple(self.catalog.values())
        settings = (self.scope, self.partial, self.mute_max_days)
        kept = self._fingerprint_kept
        if (
            kept is None
            or kept[1] != settings
            or len(kept[0]) != len(checks)
            or any(a is not b for a, b in zip(kept[0], checks, strict=True))
        ):
            value = self.fingerprint()
            if not value and not self.partial:
                log.warning(
                    "the engine cannot vouch for its code (sources unreadable, or a check "
                    "outside the checks package): every sweep judges every resource"
                )
            kept = (checks, settings, value)
            self._fingerprint_kept = kept
        return kept[2]

    def _mutes_digest(self, rules: Sequence[MuteRule], resource_id: str) -> bytes:
        """The rules that name the resource (by id or pattern, whatever their check), each
        with whether it holds now: a rule made for other resources is no input of this one."""
        if not rules:
            return b"mutes"
        from shared.kernel.clock import utcnow

        kept = self._mute_digest
        if kept is None or kept[0] is not rules:
            # In one order whatever order the store listed them in.
            described = sorted(
                (
                    (repr(sorted(r.to_json().items())).encode("utf-8", "surrogatepass"), r)
                    for r in rules
                ),
                key=lambda pair: pair[0],
            )
            ordered = tuple(
                (r, hashlib.blake2b(text, digest_size=16).digest()) for text, r in described
            )
            kept = (rules, ordered)
            self._mute_digest = kept
        now = utcnow()
        parts = [b"mutes"]
        for rule, rule_digest in kept[1]:
            if rule.covers(rule.check, resource_id):
                holds = rule.holds(now, self.mute_max_days)
                parts.append(rule_digest + (b"\1" if holds else b"\0"))
        return b"".join(parts)

    def rules_in_force(self) -> Sequence[MuteRule]:
        """The mute rules evaluations apply now (none without a mute source)."""
        return self.mutes() if self.mutes is not None else ()

    def evaluate(self, snapshot: Snapshot) -> Evaluation:
        """The verdicts for ``snapshot``; with :attr:`remember_inputs`, carrying the digest of
        what they were decided on (taken with the very mute rules applied)."""
        rules = self.rules_in_force()
        input_digest = self._digest_for(snapshot, rules) if self.remember_inputs else ""
        phi = self.phi_scope.is_phi(snapshot)
        try:
            rtype = snapshot.type
        except ResourceIdError as exc:
            raise MalformedResource(f"$.type: {exc}") from None
        findings: list[Finding] = []
        skipped: list[NotAssessed] = []
        for item in self.checks_for(rtype, phi):
            missing = tuple(n for n in item.needs if not snapshot.has(n))
            if missing:
                skipped.append(NotAssessed(item.id, missing))
                result = not_assessed(
                    f"Not assessed: the related document(s) {', '.join(missing)} could not be "
                    "read, so this check could not judge.",
                    {"missing": list(missing)},
                )
            else:
                result = item.run(snapshot)
            findings.append(
                Finding(
                    resource_id=snapshot.id,
                    resource_type=rtype,
                    check_id=item.id,
                    status=result.status,
                    severity=item.severity,
                    hipaa=item.hipaa,
                    title=item.title,
                    reason=result.reason,
                    evidence=result.evidence,
                    phi=phi,
                )
            )
        if rules:
            from shared.kernel.clock import utcnow
            from shared.mutes import apply_mutes

            findings = apply_mutes(findings, rules, utcnow(), self.mute_max_days)
        return Evaluation(
            snapshot.id,
            rtype,
            phi,
            tuple(findings),
            tuple(skipped),
            scope=self.scope,
            partial=self.partial,
            input_digest=input_digest,
        )

    def evaluate_all(self, snapshots: Iterable[Snapshot]) -> list[Evaluation]:
        return [self.evaluate(s) for s in snapshots]


def run_check(item: Check, snapshot: Snapshot) -> Result:
    """Runs one check (see :meth:`checks.registry.Check.run`)."""
    return item.run(snapshot)
