"""How many examples the property tests run: a fast profile in CI, more on request.

``SIGHTLINT_FUZZ_EXAMPLES=10000 python -m pytest tests/test_cache_fuzz.py tests/test_generated.py``
runs the long profile. CI runs the fast profile: ``CI_EXAMPLES`` (200) examples per
property, which the issue asks for; a property whose examples are costly is made cheaper
in its generator, not given fewer examples.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings


CI_EXAMPLES = 200


def examples(ci: int = CI_EXAMPLES) -> int:
    """``ci`` examples, or ``SIGHTLINT_FUZZ_EXAMPLES`` if set (a positive integer)."""
    value = os.environ.get("SIGHTLINT_FUZZ_EXAMPLES", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else ci


def budget(ci: int = CI_EXAMPLES) -> settings:
    """Hypothesis settings for a property with ``ci`` examples in CI (no deadline: the
    machine may be shared; fixtures are per module and reset per example by the test)."""
    return settings(
        max_examples=examples(ci),
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large, HealthCheck.filter_too_much,
        ],
    )
