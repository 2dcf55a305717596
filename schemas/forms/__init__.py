"""Forms shipped with sealsync (``schemas/forms/*.toml``, docs/spec/survey-language.md)."""

from __future__ import annotations

from importlib import resources

from .. import survey as _survey

__all__ = ["available", "shipped_form"]


def available() -> list[str]:
    """Ids of the shipped forms."""
    root = resources.files(__package__)
    return sorted(p.name.removesuffix(".toml") for p in root.iterdir() if p.name.endswith(".toml"))


def shipped_form(form_id: str) -> _survey.Form:
    """Load and check a shipped form by id, e.g. ``shipped_form("escapee-interview")``."""
    if form_id not in available():
        raise KeyError(f"no shipped form {form_id!r}; shipped: {', '.join(available())}")
    data = resources.files(__package__).joinpath(f"{form_id}.toml").read_bytes()
    return _survey.load_form(data, fmt="toml")
