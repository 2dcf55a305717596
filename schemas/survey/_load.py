"""Loading and checking form documents (docs/spec/survey-language.md §2–§7).

A form document is hostile until checked. :func:`load_form` reads TOML or YAML, converts
it field by field (so that one bad field does not hide the next), then checks names,
languages, choice lists, item-type rules, identity roles, every expression and the
relevance dependency graph. It raises one :class:`~schemas.errors.FormInvalid` carrying
*every* problem found, each with its path, or returns a :class:`~schemas.survey.Form`.

The field-by-field conversion is in ``_structure``, the checks (§10) in ``_check``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import yaml

from ..errors import FormInvalid, Problem
from ._check import check_form
from ._model import Form
from ._structure import _Structure

__all__ = ["MAX_FORM_BYTES", "check_form", "load_form", "parse_form"]

MAX_FORM_BYTES = 4 * 1024 * 1024


def parse_form(raw: Any, *, source: str | None = None) -> Form:
    """Build a form from a decoded document (a mapping), checking it completely."""
    st = _Structure()
    form = st.form(raw)
    problems = list(st.out.items)
    if form is not None:
        problems += st.suppress(check_form(form))
    if problems or form is None:
        raise FormInvalid(problems, source=source)
    return form


def load_form(source: str | Path | bytes, *, fmt: str | None = None) -> Form:
    """Load and check a form from a path (``.toml``, ``.yaml``/``.yml``) or from bytes.

    Raises :class:`~schemas.errors.FormInvalid` listing every problem with its path.
    """
    name: str | None = None
    if isinstance(source, bytes):
        data = source
        fmt = fmt or "toml"
    else:
        path = Path(source)
        name = path.name
        try:
            size = path.stat().st_size
            if size > MAX_FORM_BYTES:
                raise FormInvalid(
                    [
                        Problem(
                            path="$",
                            code="too_large",
                            message=f"form file over {MAX_FORM_BYTES} bytes",
                        )
                    ],
                    source=name,
                )
            data = path.read_bytes()
        except OSError as e:
            raise FormInvalid(
                [Problem(path="$", code="unreadable", message=f"cannot read file ({e.strerror})")],
                source=name,
            ) from None
        if fmt is None:
            suffix = path.suffix.lower()
            fmt = "yaml" if suffix in (".yaml", ".yml") else "toml"
    if len(data) > MAX_FORM_BYTES:
        raise FormInvalid(
            [Problem(path="$", code="too_large", message=f"form over {MAX_FORM_BYTES} bytes")],
            source=name,
        )
    return parse_form(_decode(data, fmt, name), source=name)


def _decode(data: bytes, fmt: str, name: str | None) -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FormInvalid(
            [Problem(path="$", code="encoding", message=f"not UTF-8 (byte {e.start})")],
            source=name,
        ) from None
    if fmt not in ("toml", "yaml"):
        raise ValueError(f"unknown form format {fmt!r}; use 'toml' or 'yaml'")
    try:
        if fmt == "toml":
            return tomllib.loads(text)
        # Aliases let a small file expand into an exponential tree: refuse them.
        if any(isinstance(t, yaml.AliasToken) for t in yaml.scan(text)):
            raise FormInvalid(
                [Problem(path="$", code="yaml_alias", message="YAML aliases are not allowed")],
                source=name,
            )
        return yaml.safe_load(text)
    except tomllib.TOMLDecodeError as e:
        raise FormInvalid(
            [Problem(path="$", code="syntax", message=f"TOML: {e}")], source=name
        ) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise FormInvalid(
            [Problem(path="$", code="syntax", message=f"YAML syntax error{where}")], source=name
        ) from None
    except RecursionError:
        raise FormInvalid(
            [Problem(path="$", code="too_deep", message="document nested too deeply")],
            source=name,
        ) from None
    except (yaml.YAMLError, ValueError, TypeError, AttributeError, OverflowError):
        # PyYAML's constructors raise plain errors for values such as 2021-02-30 or
        # !!int "x"; hostile input must still end as one FormInvalid.
        raise FormInvalid(
            [
                Problem(
                    path="$",
                    code="syntax",
                    message="YAML value cannot be read (a bad "
                    "date, number or tag); quote it as a string",
                )
            ],
            source=name,
        ) from None
