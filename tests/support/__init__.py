"""Helpers that tests in several folders share (importable as ``support``: the suite's
root conftest puts ``tests/`` on the path; scripts outside pytest insert it themselves)."""
