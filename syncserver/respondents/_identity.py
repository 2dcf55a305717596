"""The identity answers of one interview (docs/spec/respondent-matching.md §2).

A form names the questions that identify a respondent with identity roles
(survey-language.md §4.3). :func:`identity_answers` picks those answers out of a record;
the result is personal data and exists only in memory, during ingest, while the server
turns it into keyed pseudonyms. Its ``repr`` shows which roles were answered, never a value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from schemas.survey import Form

__all__ = ["IdentityAnswers", "identity_answers", "identity_roles"]


@dataclass(frozen=True, slots=True, repr=False)
class IdentityAnswers:
    """What an interview says about who the respondent is; any field may be missing."""

    name: str | None = None
    sex: str | None = None
    birth_year: int | None = None
    province_of_origin: str | None = None
    departure_year: int | None = None

    def __repr__(self) -> str:  # personal data: say only which roles are present
        present = [f for f in self.__slots__ if getattr(self, f) is not None]
        return f"IdentityAnswers({', '.join(present) or 'nothing'})"


def identity_roles(form: Form) -> dict[str, str]:
    """Identity role → question name, for the top level of ``form`` (roles are never in
    repeats, survey-language.md §4.3)."""
    return {role: item.name for role, item in form.identity_items().items()}


def _text(v: Any) -> str | None:
    return v if isinstance(v, str) and v.strip() else None


def _year(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def identity_answers(roles: Mapping[str, str], answers: Mapping[str, Any]) -> IdentityAnswers:
    """The identity answers of one record, by the roles of its form. Answers of the wrong
    type (which validation has already refused) count as missing."""

    def get(role: str) -> Any:
        name = roles.get(role)
        return None if name is None else answers.get(name)

    return IdentityAnswers(
        name=_text(get("name")),
        sex=_text(get("sex")),
        birth_year=_year(get("birth_year")),
        province_of_origin=_text(get("province_of_origin")),
        departure_year=_year(get("departure_year")),
    )
