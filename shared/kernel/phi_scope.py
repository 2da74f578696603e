"""PHI scope: which resources hold PHI, and so get the ``phi_only`` checks.

Default rule (README "What it checks"): tag ``data-classification`` equal to ``phi`` or ``ephi``, or tag
``hipaa`` equal to ``true`` — names and values case-insensitive — on the resource or on its
resource group; or a subscription / resource group listed in configuration.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.kernel.resource_id import ResourceIdError, normalize, parse
from shared.kernel.snapshot import Snapshot

DEFAULT_TAG_RULES: tuple[tuple[str, frozenset[str]], ...] = (
    ("data-classification", frozenset({"phi", "ephi"})),
    ("hipaa", frozenset({"true"})),
)


def _tag_text(value: Any) -> str | None:
    """A tag value as text. Azure tag values are strings; a JSON scalar (from a file) reads as
    its text (``true`` → "true"). An object or array matches nothing and is never turned into
    text (a deeply nested one would raise RecursionError)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        try:
            return str(value)
        except ValueError:  # an integer of more than 4,300 digits
            return None
    return None


def _tags_match(tags: Any, rules: Iterable[tuple[str, frozenset[str]]]) -> bool:
    """Whether any tag matches a rule. Every tag is looked at: two spellings of one name
    (``HIPAA`` and ``hipaa``, which ARM, case-insensitive, never holds together) cannot hide a
    match by their order."""
    if not isinstance(tags, Mapping):
        return False
    rules = tuple(rules)
    for key, value in tags.items():
        text = _tag_text(value)
        if text is None:
            continue
        name, lowered = str(key).lower(), text.strip().lower()
        if any(name == rule and lowered in values for rule, values in rules):
            return True
    return False


@dataclass(frozen=True)
class PhiScope:
    tag_rules: tuple[tuple[str, frozenset[str]], ...] = DEFAULT_TAG_RULES
    subscriptions: frozenset[str] = field(default_factory=frozenset)
    resource_groups: frozenset[str] = field(default_factory=frozenset)  # normalized RG ids

    @classmethod
    def from_lists(
        cls,
        subscriptions: Iterable[str] = (),
        resource_groups: Iterable[str] = (),
        tag_rules: Iterable[tuple[str, Iterable[str]]] | None = None,
    ) -> PhiScope:
        rules = (
            DEFAULT_TAG_RULES
            if tag_rules is None
            else tuple(
                (name.lower(), frozenset(v.lower() for v in values)) for name, values in tag_rules
            )
        )
        return cls(
            tag_rules=rules,
            subscriptions=frozenset(s.strip().lower() for s in subscriptions if s.strip()),
            resource_groups=frozenset(normalize(g) for g in resource_groups if g.strip()),
        )

    def is_phi(self, snapshot: Snapshot) -> bool:
        if snapshot.phi is not None:
            return snapshot.phi
        if _tags_match(snapshot.resource.get("tags"), self.tag_rules):
            return True
        if snapshot.resource_group is not None and _tags_match(
            snapshot.resource_group.get("tags"), self.tag_rules
        ):
            return True
        if not (self.subscriptions or self.resource_groups):
            return False
        try:
            rid = parse(snapshot.id)
        except ResourceIdError:
            return False
        if rid.subscription and rid.subscription.lower() in self.subscriptions:
            return True
        rg = rid.resource_group_id
        return rg is not None and normalize(rg) in self.resource_groups
