"""Suite-wide settings. Hypothesis deadlines are wall-clock and the machines that run CI
are shared and noisy: a property test must fail for being wrong, never for being slow.

The ``project`` fixture every test folder uses comes from ``support.project`` (the
suite's harness, ``tests/support/``)."""

from __future__ import annotations

from hypothesis import settings

pytest_plugins = ["support.project"]

settings.register_profile("sealsync", deadline=None, print_blob=True)
settings.load_profile("sealsync")
