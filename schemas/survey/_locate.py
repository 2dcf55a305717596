"""Where a form's problems are, for the person who fixes them (survey-language.md §10).

A problem's path (``$.items[3].items[10].items[2].required``) is exact for programs but
cannot be found in a 1,000-line file by eye. :func:`locate` adds the name of the item
the problem is in (read from the decoded document, so even an item whose conversion
failed is named as written) and, for a TOML or YAML file, the line of the deepest part
of the path the file shows: the key itself (``required = …``) when it is there, else the
table or mapping it belongs in.

tomllib gives no positions, so :class:`_TomlLines` scans the text again: a tokenizer
over strings, comments, brackets and keys that follows ``[[items.items]]`` headers (the
n-th array-of-tables element of its parent) and ``key = value`` lines, inline tables
and arrays included. It runs only on text tomllib has already accepted, only when there
are problems, records only the paths asked for, stops when it has them all, and is
linear in the text (each token is matched once, with possessive quantifiers; nesting is
bounded). YAML nodes carry their marks: the loader keeps the node tree it composed the
document from, and it is walked along the paths asked for. Locating is a courtesy: if
anything in it fails, the problems are returned without lines, never replaced by
another error.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from typing import Any, Final

import msgspec
import yaml

from ..errors import Problem

__all__ = ["locate"]

_MAX_NESTING: Final = 200
_ITEMS: Final = re.compile(r"\$(?:\.items\[[0-9]+\])+")
_SEGMENT: Final = re.compile(r"\.([^.\[]+)|\[([0-9]+)\]")
_CUT: Final = re.compile(r"[.\[]")


class _GiveUp(Exception):
    """The text is not what the scanner expects (caught in :func:`locate`)."""


def locate(
    problems: list[Problem], raw: Any, *, toml: str | None = None, node: yaml.Node | None = None
) -> list[Problem]:
    """``problems`` with ``item`` (from the document ``raw``) and ``line`` (from the TOML
    text ``toml`` or the YAML node tree ``node``, when given) filled in."""
    if not problems:
        return problems
    wanted: set[str] = set()
    for p in problems:
        wanted.update(_prefixes(p.path))
        for m in _ITEMS.finditer(p.message):
            wanted.update(_prefixes(m[0]))
    wanted.discard("$")  # the whole document has no one line
    lines: dict[str, int] = {}
    try:
        if toml is not None:
            lines = _TomlLines(toml, wanted).scan()
        elif node is not None:
            lines = _yaml_lines(node, wanted)
    except Exception:  # a courtesy: the problems go out without lines, never lost
        lines = {}
    out = []
    for p in problems:
        item = _item_name(raw, p.path)
        line = next((lines[c] for c in _prefixes(p.path) if c in lines), None)
        message = p.message
        if lines:
            message = _ITEMS.sub(lambda m: _with_line(m[0], lines), message)
        out.append(msgspec.structs.replace(p, item=item, line=line, message=message))
    return out


def _prefixes(path: str) -> list[str]:
    """``$.a[1].b`` → ``$.a[1].b``, ``$.a[1]``, ``$.a``, ``$``: longest first."""
    cuts = [m.start() for m in _CUT.finditer(path)]
    return [path] + [path[:c] for c in reversed(cuts)]


def _with_line(path: str, lines: Mapping[str, int]) -> str:
    line = lines.get(path)
    return f"{path} (line {line})" if line is not None else path


def _item_name(raw: Any, path: str) -> str | None:
    """The name of the innermost item (or the choice list) ``path`` is in, as written."""
    if path.startswith("$.choices."):
        rest = path[len("$.choices.") :]
        name = re.split(r"[.\[]", rest, maxsplit=1)[0]
        return name or None
    m = _ITEMS.match(path)
    if m is None:
        return None
    node: Any = raw
    for key, index in _SEGMENT.findall(m[0]):
        if key:
            node = node.get(key) if isinstance(node, Mapping) else None
        elif isinstance(node, list) and int(index) < len(node):
            node = node[int(index)]
        else:
            return None
    name = node.get("name") if isinstance(node, Mapping) else None
    if isinstance(name, str | int | float) and not isinstance(name, bool):
        return str(name)
    return None


# ------------------------------------------------------------------------------- TOML

_TOKEN: Final = re.compile(
    r"""
      (?P<nl>\r?\n)
    | (?P<ws>[ \t]++)
    | (?P<comment>\#[^\n]*+)
    | (?P<mlb>\"\"\"(?:[^"\\]++|\\[\s\S]|"(?!""))*+"{3,5})
    | (?P<mll>'''(?:[^']++|'(?!''))*+'{3,5})
    | (?P<basic>"(?:[^"\\\n]++|\\.)*+")
    | (?P<literal>'[^'\n]*+')
    | (?P<punct>[\[\]{}=,.])
    | (?P<bare>[A-Za-z0-9_+\-:]++)
    """,
    re.VERBOSE,
)


class _TomlLines:
    """Lines of the paths in ``wanted``, from TOML text that tomllib has accepted."""

    def __init__(self, text: str, wanted: Iterable[str]) -> None:
        self.text = text
        self.wanted = set(wanted)
        self.found: dict[str, int] = {}
        self.pos = 0
        self.line = 1
        self.kind = ""
        self.tok = ""
        self.aot: dict[str, int] = {}  # array-of-tables path → elements so far

    # tokens ------------------------------------------------------------------------

    def advance(self) -> None:
        """Move to the next token (kind "" at the end of the text)."""
        if self.kind == "nl":
            self.line += 1
        elif self.kind in ("mlb", "mll"):
            self.line += self.tok.count("\n")
        if self.pos >= len(self.text):
            self.kind, self.tok = "", ""
            return
        m = _TOKEN.match(self.text, self.pos)
        if m is None:
            raise _GiveUp
        self.kind, self.tok, self.pos = m.lastgroup or "", m[0], m.end()

    def skip(self, *, newlines: bool) -> None:
        """Skip blanks and comments (and newlines, inside arrays)."""
        while self.kind in ("ws", "comment") or (newlines and self.kind == "nl"):
            self.advance()

    def expect(self, tok: str) -> None:
        if self.tok != tok:
            raise _GiveUp
        self.advance()

    def record(self, path: str, line: int) -> None:
        if path in self.wanted and path not in self.found:
            self.found[path] = line

    # grammar -----------------------------------------------------------------------

    def scan(self) -> dict[str, int]:
        self.advance()
        table = "$"
        while self.kind and len(self.found) < len(self.wanted):
            self.skip(newlines=True)
            if not self.kind:
                break
            line = self.line
            if self.tok == "[":
                table = self.header(line)
            else:
                self.pair(table, line, 0)
            self.skip(newlines=False)
            if self.kind not in ("nl", ""):
                raise _GiveUp
        return self.found

    def header(self, line: int) -> str:
        self.advance()
        array = self.tok == "["  # "[[" (a table name cannot begin with "[")
        if array:
            self.advance()
        self.skip(newlines=False)
        keys = self.keys()
        self.expect("]")
        if array:
            self.expect("]")
        path = "$"
        for k in keys[:-1]:
            path = self.child(f"{path}.{k}", line)
        path = f"{path}.{keys[-1]}"
        self.record(path, line)
        if array:
            n = self.aot.get(path, 0)
            self.aot[path] = n + 1
            path = f"{path}[{n}]"
            self.record(path, line)
        return path

    def child(self, path: str, line: int) -> str:
        """``path``, or its last element if it is an array of tables."""
        self.record(path, line)
        n = self.aot.get(path)
        return f"{path}[{n - 1}]" if n else path

    def keys(self) -> list[str]:
        """A dotted key; leaves the token after it."""
        out = [self.key()]
        self.skip(newlines=False)
        while self.tok == ".":
            self.advance()
            self.skip(newlines=False)
            out.append(self.key())
            self.skip(newlines=False)
        return out

    def key(self) -> str:
        kind, tok = self.kind, self.tok
        if kind == "bare":
            key = tok
        elif kind == "literal":
            key = tok[1:-1]
        elif kind == "basic":
            key = tok[1:-1] if "\\" not in tok else str(tomllib.loads(f"k = {tok}")["k"])
        else:
            raise _GiveUp
        self.advance()
        return key

    def pair(self, table: str, line: int, depth: int) -> None:
        """``key = value``, in a table or an inline table."""
        keys = self.keys()
        self.expect("=")
        path = table
        for k in keys:
            path = f"{path}.{k}"
            self.record(path, line)
        self.skip(newlines=False)
        self.value(path, depth + 1)

    def value(self, path: str, depth: int) -> None:
        if depth > _MAX_NESTING:
            raise _GiveUp
        if self.tok == "[":
            self.advance()
            i = 0
            while True:
                self.skip(newlines=True)
                if self.tok == "]":
                    break
                element = f"{path}[{i}]"
                self.record(element, self.line)
                self.value(element, depth + 1)
                self.skip(newlines=True)
                if self.tok == ",":
                    self.advance()
                    i += 1
                elif self.tok != "]":
                    raise _GiveUp
            self.advance()
        elif self.tok == "{":
            self.advance()
            while True:
                self.skip(newlines=False)
                if self.tok == "}":
                    break
                self.pair(path, self.line, depth)
                self.skip(newlines=False)
                if self.tok == ",":
                    self.advance()
                elif self.tok != "}":
                    raise _GiveUp
            self.advance()
        else:
            # A scalar: one string, or bare pieces such as 1.5, -inf, 1979-05-27 07:32:00.
            if not self.kind or self.tok in ",]}" or self.kind == "nl":
                raise _GiveUp
            self.advance()
            while self.kind in ("bare", "ws") or self.tok == ".":
                if self.kind == "ws":
                    save = (self.pos, self.line, self.kind, self.tok)
                    self.advance()
                    if self.kind != "bare":
                        self.pos, self.line, self.kind, self.tok = save
                        return
                    continue
                self.advance()


# ------------------------------------------------------------------------------- YAML


def _yaml_lines(root: yaml.Node, wanted: set[str]) -> dict[str, int]:
    """Lines of the paths in ``wanted``, from the marks of the composed YAML nodes."""
    found: dict[str, int] = {}
    keys: dict[int, dict[str, tuple[yaml.Node, yaml.Node]]] = {}  # id(mapping) → key → pair

    def pair(node: yaml.MappingNode, key: str) -> tuple[yaml.Node, yaml.Node] | None:
        index = keys.get(id(node))
        if index is None:
            index = keys[id(node)] = {}
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode):
                    index.setdefault(str(k.value), (k, v))
        return index.get(key)

    for path in wanted:
        node: yaml.Node | None = root
        line = root.start_mark.line + 1
        for key, index in _SEGMENT.findall(path):
            nxt: yaml.Node | None = None
            if key and isinstance(node, yaml.MappingNode):
                if (kv := pair(node, key)) is not None:
                    nxt, line = kv[1], kv[0].start_mark.line + 1
            elif index and isinstance(node, yaml.SequenceNode) and int(index) < len(node.value):
                nxt = node.value[int(index)]
                line = nxt.start_mark.line + 1
            if nxt is None:
                break
            node = nxt
        else:
            found[path] = line
    return found
