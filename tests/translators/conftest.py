"""The hypothesis settings of the property tests (test_properties_*.py).

- `ci`, the default: derandomized, so every run (a developer's, CI's) tries the same examples
  and a red build always means the change under test, never a new random draw; with no
  example database, so nothing is written into the work tree. A bug a property finds is
  kept as a plain regression test beside the others, not in a database. `max_examples`
  and the deadline keep both property files to a few seconds each on CI's 2 cores; the
  deadline is far above one example's few milliseconds, so only a blow-up (quadratic work
  on a small body) trips it.
- `explore`: random seeds and many more examples, to hunt for new bugs by hand:
  `MITMLLM_HYPOTHESIS=explore ./dev test -q tests/translators/test_properties_bodies.py`.
"""

from __future__ import annotations

import os
from datetime import timedelta

from hypothesis import HealthCheck, settings

_COMMON = {"database": None, "deadline": timedelta(seconds=2),
           "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}
settings.register_profile("ci", derandomize=True, max_examples=100, **_COMMON)
settings.register_profile("explore", derandomize=False, max_examples=3000, **_COMMON)
settings.load_profile(os.environ.get("MITMLLM_HYPOTHESIS", "ci"))
