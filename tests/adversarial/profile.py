"""The example budget of the adversarial suite.

``make test`` runs a bounded, derandomized number of examples so the whole directory stays well
under a minute on two cores (``pytest -n 2``). ``PHIGUARD_ADVERSARIAL_EXAMPLES=2000`` asks for a
deeper, randomized hunt: that many examples per pure-layer property, a tenth of it (at least the
default) per end-to-end property.

The settings objects are applied per test (``@PURE``, ``@E2E``), never loaded as the global
profile, so the rest of the suite keeps its own hypothesis settings.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

EXAMPLES_ENV = "PHIGUARD_ADVERSARIAL_EXAMPLES"

PURE_DEFAULT = 150
E2E_DEFAULT = 10


def _requested() -> int | None:
    raw = os.environ.get(EXAMPLES_ENV, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{EXAMPLES_ENV} must be a whole number, not {raw!r}") from None
    return max(1, value)


REQUESTED = _requested()
DEEP = REQUESTED is not None
PURE_EXAMPLES = REQUESTED if REQUESTED is not None else PURE_DEFAULT
E2E_EXAMPLES = max(E2E_DEFAULT, REQUESTED // 10) if REQUESTED is not None else E2E_DEFAULT

_SUPPRESSED = [
    HealthCheck.too_slow,
    HealthCheck.data_too_large,
    HealthCheck.filter_too_much,
    HealthCheck.large_base_example,
    HealthCheck.function_scoped_fixture,
]


def _settings(max_examples: int, *, shrink: bool = True) -> settings:
    phases = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target]
    if shrink:
        phases.append(Phase.shrink)
    return settings(
        max_examples=max_examples,
        deadline=None,
        # The default run is the same every time (a CI failure reproduces locally); the deep run
        # explores afresh each time it is asked for.
        derandomize=not DEEP,
        database=None,
        print_blob=True,
        suppress_health_check=_SUPPRESSED,
        phases=phases,
    )


PURE = _settings(PURE_EXAMPLES)
"""Pure layer: parsing, ids, tags, the engine. Many examples."""

SOME = _settings(max(1, PURE_EXAMPLES // 3))
"""Pure properties whose single example is heavier (huge or deep input)."""

E2E = _settings(E2E_EXAMPLES, shrink=DEEP)
"""Through the webhook handler and the trigger, against the sim and Azurite. Few examples; a
failure in the default run is reported as found (shrinking costs ARM and table round trips)."""

SWEEP = _settings(max(1, E2E_EXAMPLES // 2), shrink=DEEP)
"""The sweep of a whole subscription per example (about a second each): half as many."""
