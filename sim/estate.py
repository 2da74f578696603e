"""Estates: the resources a simulated tenant holds (the contract; filled in by the estate work)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Estate:
    """A tenant as flat ARM documents.

    ``documents`` holds every document a GET by id returns: resource groups, resources, child
    resources (``securityRules``, ``config/web``, TDE, ...) and extension resources (diagnostic
    settings, role and policy assignments), each with its full ``id``. ``ground_truth`` maps a
    failure pattern (``P1``..``P6``) or a check id to the ids of resources known to violate it.
    """

    tenant_id: str
    subscriptions: list[dict[str, Any]]
    documents: list[dict[str, Any]]
    ground_truth: dict[str, list[str]] = field(default_factory=dict)
