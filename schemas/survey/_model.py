"""The survey definition model (docs/spec/survey-language.md §2–§5).

These structs are what a loaded, checked form *is*. They are built by
:func:`schemas.survey.load_form` (which reports every problem of a bad document at once)
and by the XLSForm importer; code elsewhere treats them as immutable values.
"""

from __future__ import annotations

import hashlib
from typing import Literal

import msgspec

__all__ = [
    "ANSWER_TYPES",
    "CONTAINER_TYPES",
    "Choice",
    "Constraint",
    "Form",
    "IDENTITY_ROLES",
    "Item",
    "ItemType",
    "IdentityRole",
    "Text",
    "form_digest",
]

#: A bilingual (or n-lingual) text: language code → text. Every form language is required.
Text = dict[str, str]

ItemType = Literal[
    "text",
    "integer",
    "decimal",
    "boolean",
    "date",
    "year",
    "select_one",
    "select_multiple",
    "note",
    "group",
    "repeat",
]

#: Types whose items hold an answer in a response.
ANSWER_TYPES: frozenset[str] = frozenset(
    {"text", "integer", "decimal", "boolean", "date", "year", "select_one", "select_multiple"}
)
#: Types whose items hold other items.
CONTAINER_TYPES: frozenset[str] = frozenset({"group", "repeat"})

IdentityRole = Literal["name", "birth_year", "sex", "province_of_origin", "departure_year"]
IDENTITY_ROLES: tuple[str, ...] = (
    "name",
    "birth_year",
    "sex",
    "province_of_origin",
    "departure_year",
)


class Constraint(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One rule an answer must satisfy, with the message shown when it does not.

    Exactly one kind per constraint: a range (``min`` and/or ``max``), a length
    (``min_length`` and/or ``max_length``), a ``pattern`` (full-match regular expression)
    or an ``expr`` in the expression language, where ``.`` is the answer.
    """

    message: Text
    min: int | float | str | None = None
    max: int | float | str | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    expr: str | None = None

    @property
    def kind(self) -> str:
        if self.expr is not None:
            return "expr"
        if self.pattern is not None:
            return "pattern"
        if self.min_length is not None or self.max_length is not None:
            return "length"
        return "range"


class Choice(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One option of a choice list. ``properties`` are what choice filters test."""

    value: str
    label: Text
    properties: dict[str, str] = msgspec.field(default_factory=dict)


class Item(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A question, a note, a group or a repeat group."""

    name: str
    type: ItemType
    label: Text
    hint: Text | None = None
    required: bool | str = False
    relevant: str | None = None
    constraints: tuple[Constraint, ...] = ()
    choices: str | None = None
    choice_filter: str | None = None
    sensitive: bool = False
    identity: IdentityRole | None = None
    min_count: int | None = None
    max_count: int | None = None
    items: tuple[Item, ...] = ()


class Form(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A versioned form: ``id`` + integer ``version`` identify it everywhere."""

    id: str
    version: int
    title: Text
    languages: tuple[str, ...]
    default_language: str
    items: tuple[Item, ...]
    choices: dict[str, tuple[Choice, ...]] = msgspec.field(default_factory=dict)
    description: Text | None = None

    def walk(self) -> list[tuple[Item, tuple[Item, ...]]]:
        """Every item in document order, with its ancestors (outermost first)."""
        out: list[tuple[Item, tuple[Item, ...]]] = []

        def visit(items: tuple[Item, ...], parents: tuple[Item, ...]) -> None:
            for it in items:
                out.append((it, parents))
                if it.items:
                    visit(it.items, (*parents, it))

        visit(self.items, ())
        return out

    def item(self, name: str) -> Item:
        """The item called ``name`` (names are unique in a form)."""
        for it, _ in self.walk():
            if it.name == name:
                return it
        raise KeyError(name)

    def identity_items(self) -> dict[str, Item]:
        """Identity role → item, for the respondent-matching fields."""
        return {it.identity: it for it, _ in self.walk() if it.identity is not None}


def form_digest(form: Form) -> str:
    """SHA-256 (hex) of the form's canonical msgpack encoding: equal forms, equal digests."""
    return hashlib.sha256(msgspec.msgpack.encode(form)).hexdigest()
