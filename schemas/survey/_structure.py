"""Field-by-field conversion of a form document (docs/spec/survey-language.md §2, §4, §5).

The first pass of loading: a decoded document becomes a :class:`~schemas.survey.Form`
field by field, so that one bad field does not hide the next. Unknown and missing fields
and wrong types are reported with their path (§10); where a field cannot be converted a
placeholder stands in, so that the semantic pass (``_check``) still sees everything else.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from ..errors import Problem
from ._check import MAX_ITEMS, _Problems
from ._model import Choice, Constraint, Form, Item

__all__ = ["MAX_DEPTH"]

MAX_DEPTH = 8

Special = Callable[[Any, str, _Problems], Any]

_KEEP_WHEN_TYPE_FAILED = {
    "expr_syntax",
    "expr_function",
    "expr_dot",
    "expr_name",
    "unknown_reference",
    "bad_reference",
    "ambiguous_reference",
    "cycle",
    "missing_translation",
    "unknown_language",
    "empty_text",
    "too_long",
    "duplicate_name",
    "bad_name",
}


class _Structure:
    """Field-by-field conversion that reports every problem and keeps going.

    Where a field cannot be converted, a placeholder stands in so that the semantic pass
    can still check everything else; problems the placeholder itself would cause are
    suppressed afterwards (``suppress``).
    """

    def __init__(self) -> None:
        self.out = _Problems()
        self.failed: list[tuple[str, str]] = []  # (path of the struct, failed field)

    def convert(
        self,
        raw: Any,
        cls: type[msgspec.Struct],
        path: str,
        special: dict[str, Special],
        fallback: dict[str, Any],
    ) -> msgspec.Struct | None:
        out = self.out
        if not isinstance(raw, Mapping):
            out.add(path, "type", "expected a table")
            return None
        fields = _fields(cls)
        for key in raw:
            if key not in fields:
                out.add(f"{path}.{key}", "unknown_field", f"unknown field '{key}'")
        kwargs: dict[str, Any] = {}
        for name, f in fields.items():
            if name not in raw:
                if f.required:
                    out.add(
                        f"{path}.{name}", "missing_field", f"required field '{name}' is missing"
                    )
                    self.failed.append((path, name))
                    kwargs[name] = fallback[name]
                continue
            value = raw[name]
            if name in special:
                kwargs[name] = special[name](value, f"{path}.{name}", out)
                continue
            try:
                kwargs[name] = msgspec.convert(value, f.type)
            except msgspec.ValidationError as e:
                out.add(f"{path}.{name}", "type", _type_message(e))
                self.failed.append((path, name))
                if f.required:
                    kwargs[name] = fallback[name]
        return cls(**kwargs)

    def suppress(self, problems: list[Problem]) -> list[Problem]:
        """Drop semantic problems caused by placeholders."""
        keep: list[Problem] = []
        for p in problems:
            drop = False
            for spath, field in self.failed:
                if field == "*":
                    drop = p.path == spath or p.path.startswith((spath + ".", spath + "["))
                    if drop:
                        break
                    continue
                fpath = f"{spath}.{field}"
                if (
                    p.path == fpath
                    or p.path.startswith(fpath + ".")
                    or p.path.startswith(fpath + "[")
                ):
                    drop = field != "items"
                elif p.path == spath and p.code == "constraint_kind":
                    drop = True  # the failed field would have decided the kind
                elif field == "type" and (
                    p.path == spath
                    or (p.path.startswith(spath + ".") and not p.path.startswith(spath + ".items["))
                ):
                    drop = p.code not in _KEEP_WHEN_TYPE_FAILED
                if drop:
                    break
            if not drop:
                keep.append(p)
        return keep

    def list_of(self, conv: Callable[[Any, str], Any], standin: Callable[[], Any]) -> Special:
        def inner(raw: Any, path: str, out: _Problems) -> tuple[Any, ...]:
            if not isinstance(raw, list):
                out.add(path, "type", "expected an array of tables")
                return ()
            items = []
            for i, v in enumerate(raw):
                x = conv(v, f"{path}[{i}]")
                if x is None:
                    # An entry that is not a table keeps its place (a stand-in whose own
                    # problems are dropped), so that the paths check_form reports for
                    # the entries after it are their paths in the document.
                    self.failed.append((f"{path}[{i}]", "*"))
                    x = standin()
                items.append(x)
            return tuple(items)

        return inner

    def constraint(self, raw: Any, path: str) -> Constraint | None:
        return self.convert(raw, Constraint, path, {}, {"message": {}})  # type: ignore[return-value]

    def choice(self, raw: Any, path: str) -> Choice | None:
        return self.convert(  # type: ignore[return-value]
            raw, Choice, path, {}, {"value": f"_invalid_{len(self.failed)}", "label": {}}
        )

    def _standin_item(self) -> Item:
        return Item(name=f"_invalid_{len(self.failed)}", type="note", label={})

    def _standin_constraint(self) -> Constraint:
        return Constraint(message={}, expr="true()")

    def _standin_choice(self) -> Choice:
        return Choice(value=f"_invalid_{len(self.failed)}", label={})

    def item(self, raw: Any, path: str, depth: int = 0) -> Item | None:
        if depth > MAX_DEPTH:
            self.out.add(path, "too_deep", f"groups nested deeper than {MAX_DEPTH} levels")
            # A stand-in keeps the parent from looking empty; its own problems are dropped.
            self.failed.append((path, "*"))
            return Item(name=f"_invalid_{len(self.failed)}", type="note", label={})
        has_items = isinstance(raw, Mapping) and isinstance(raw.get("items"), list)
        fallback: dict[str, Any] = {
            "name": f"_invalid_{len(self.failed)}",
            "type": "group" if has_items else "text",
            "label": {},
        }
        return self.convert(  # type: ignore[return-value]
            raw,
            Item,
            path,
            {
                "constraints": self.list_of(self.constraint, self._standin_constraint),
                "items": self.list_of(lambda r, p: self.item(r, p, depth + 1), self._standin_item),
            },
            fallback,
        )

    def choices(self, raw: Any, path: str, out: _Problems) -> dict[str, tuple[Choice, ...]]:
        if not isinstance(raw, Mapping):
            out.add(path, "type", "expected a table of choice lists")
            return {}
        conv = self.list_of(self.choice, self._standin_choice)
        return {str(k): conv(v, f"{path}.{k}", out) for k, v in raw.items()}

    def form(self, raw: Any) -> Form | None:
        if isinstance(raw, Mapping) and _count_items(raw.get("items")) > MAX_ITEMS:
            # Refused before any item is converted or checked: a 4 MiB document holds
            # tens of thousands of items, and checking them all only to refuse the form
            # took minutes (the count is the whole verdict, as a size limit is).
            self.out.add("$.items", "too_many_items", f"more than {MAX_ITEMS} items")
            return None
        fallback = {
            "id": "invalid",
            "version": 1,
            "title": {},
            "languages": ("en",),
            "default_language": "en",
            "items": (),
        }
        return self.convert(  # type: ignore[return-value]
            raw,
            Form,
            "$",
            {"items": self.list_of(self.item, self._standin_item), "choices": self.choices},
            fallback,
        )


@functools.cache
def _fields(cls: type[msgspec.Struct]) -> dict[str, msgspec.structs.FieldInfo]:
    # msgspec.structs.fields re-evaluates the annotations on every call (about 0.4 ms);
    # once per class keeps a large form's conversion linear and fast.
    return {f.name: f for f in msgspec.structs.fields(cls)}


def _count_items(raw: Any, depth: int = 0) -> int:
    """How many items a raw ``items`` list holds, nested ones included, counting no
    further than ``MAX_ITEMS + 1`` nor deeper than groups may nest."""
    if not isinstance(raw, list) or depth > MAX_DEPTH:
        return 0
    n = 0
    for it in raw:
        n += 1
        if isinstance(it, Mapping):
            n += _count_items(it.get("items"), depth + 1)
        if n > MAX_ITEMS:
            break
    return n


def _type_message(e: msgspec.ValidationError) -> str:
    # msgspec names the expected type (never our secret data: forms hold none); drop the
    # "- at `$...`" suffix, since our path is more precise.
    return str(e).split(" - at ")[0]
