"""Loading and checking form documents (docs/spec/survey-language.md §2–§7).

A form document is hostile until checked. :func:`load_form` reads TOML or YAML, converts
it field by field (so that one bad field does not hide the next), then checks names,
languages, choice lists, item-type rules, identity roles, every expression and the
relevance dependency graph. It raises one :class:`~schemas.errors.FormInvalid` carrying
*every* problem found, each with its path, or returns a :class:`~schemas.survey.Form`.

The field-by-field conversion is in ``_structure``, the checks (§10) in ``_check``; each
problem then names the item it is in and, for a file, its line (``_locate``).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import yaml

from ..errors import FormInvalid, Problem
from ._check import check_form
from ._locate import locate
from ._model import Form
from ._structure import _Structure

__all__ = ["MAX_FORM_BYTES", "check_form", "load_form", "parse_form"]

MAX_FORM_BYTES = 4 * 1024 * 1024


def parse_form(raw: Any, *, source: str | None = None) -> Form:
    """Build a form from a decoded document (a mapping), checking it completely.

    Each problem names the item it is in (``Problem.item``)."""
    return _parse(raw, source, None, None)


def _parse(raw: Any, source: str | None, toml: str | None, node: yaml.Node | None) -> Form:
    st = _Structure()
    form = st.form(raw)
    problems = list(st.out.items)
    if form is not None:
        problems += st.suppress(check_form(form))
    if problems or form is None:
        raise FormInvalid(locate(problems, raw, toml=toml, node=node), source=source)
    return form


def load_form(source: str | Path | bytes, *, fmt: str | None = None) -> Form:
    """Load and check a form from a path (``.toml``, ``.yaml``/``.yml``) or from bytes.

    Raises :class:`~schemas.errors.FormInvalid` listing every problem with its path, the
    item it is in and its line in the file.
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
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FormInvalid(
            [Problem(path="$", code="encoding", message=f"not UTF-8 (byte {e.start})")],
            source=name,
        ) from None
    if fmt not in ("toml", "yaml"):
        raise ValueError(f"unknown form format {fmt!r}; use 'toml' or 'yaml'")
    if fmt == "toml":
        return _parse(_decode(text, fmt, name), name, text, None)
    node = _decode(text, fmt, name)
    return _parse(_construct(node, name), name, None, node)


_TOML_AT = re.compile(r"\(at line ([0-9]+), column [0-9]+\)")


def _decode(text: str, fmt: str, name: str | None) -> Any:
    """TOML text → the document; YAML text → its node tree (marks give the lines)."""
    try:
        if fmt == "toml":
            return tomllib.loads(text)
        # Aliases let a small file expand into an exponential tree: refuse them.
        for t in yaml.scan(text):
            if isinstance(t, yaml.AliasToken):
                raise FormInvalid(
                    [
                        Problem(
                            path="$",
                            code="yaml_alias",
                            message="YAML aliases are not allowed",
                            line=t.start_mark.line + 1,
                        )
                    ],
                    source=name,
                )
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except tomllib.TOMLDecodeError as e:
        at = _TOML_AT.search(str(e))
        raise FormInvalid(
            [
                Problem(
                    path="$",
                    code="syntax",
                    message=f"TOML: {e}",
                    line=int(at[1]) if at else None,
                )
            ],
            source=name,
        ) from None
    except yaml.MarkedYAMLError as e:
        raise _yaml_syntax(e, name) from None
    except RecursionError:
        raise _too_deep(name) from None
    except (yaml.YAMLError, ValueError, TypeError, AttributeError, OverflowError):
        raise _unreadable_value(name) from None


def _construct(node: yaml.Node | None, name: str | None) -> Any:
    """The document a YAML node tree stands for (what ``yaml.safe_load`` would give)."""
    if node is None:
        return None
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as e:
        raise _yaml_syntax(e, name) from None
    except RecursionError:
        raise _too_deep(name) from None
    except (yaml.YAMLError, ValueError, TypeError, AttributeError, OverflowError):
        raise _unreadable_value(name) from None
    finally:
        loader.dispose()


def _yaml_syntax(e: yaml.MarkedYAMLError, name: str | None) -> FormInvalid:
    mark = e.problem_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    return FormInvalid(
        [
            Problem(
                path="$",
                code="syntax",
                message=f"YAML syntax error{where}",
                line=mark.line + 1 if mark else None,
            )
        ],
        source=name,
    )


def _too_deep(name: str | None) -> FormInvalid:
    return FormInvalid(
        [Problem(path="$", code="too_deep", message="document nested too deeply")], source=name
    )


def _unreadable_value(name: str | None) -> FormInvalid:
    # PyYAML's constructors raise plain errors for values such as 2021-02-30 or
    # !!int "x"; hostile input must still end as one FormInvalid.
    return FormInvalid(
        [
            Problem(
                path="$",
                code="syntax",
                message="YAML value cannot be read (a bad date, number or tag); quote it as a "
                "string",
            )
        ],
        source=name,
    )
