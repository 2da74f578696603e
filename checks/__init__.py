"""The HIPAA check catalog: importing this package registers and validates every check."""

from __future__ import annotations

from checks import (  # noqa: F401 - imported for their registrations
    appservice,
    backup,
    compute,
    containerregistry,
    cosmosdb,
    defender,
    edge,
    governance,
    health,
    keyvault,
    messaging,
    monitoring,
    mysql,
    network,
    postgresql,
    redis,
    search,
    sql,
    storage,
)
from checks.registry import FAILURE_PATTERNS, Check, registered, validate

CATALOG: dict[str, Check] = validate(registered())

__all__ = ["CATALOG", "FAILURE_PATTERNS", "Check"]
