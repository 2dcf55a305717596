"""The expression language for relevance, constraints and choice filters.

Implements docs/spec/survey-language.md §6. Expressions are tokenized and parsed by a
recursive-descent parser into a small tree, checked statically (references, functions,
arity, where ``.`` and choice properties may appear), and compiled into Python closures.
Nothing is ever passed to ``eval``; the only callables reachable are the functions listed
in :data:`FUNCTIONS`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ._regex import check_safe_pattern, compile_pattern

__all__ = [
    "MAX_EXPR_LENGTH",
    "Env",
    "ExprSyntaxError",
    "FUNCTIONS",
    "Node",
    "compile_node",
    "parse",
    "truthy",
]

MAX_EXPR_LENGTH = 2000
MAX_DEPTH = 40
MAX_TREE_DEPTH = 200

Value = Any  # None | bool | int | float | str | list[str] | list[dict]


class ExprSyntaxError(ValueError):
    """An expression that cannot be parsed; ``pos`` is a 0-based character offset."""

    def __init__(self, message: str, pos: int) -> None:
        self.pos = pos
        super().__init__(f"{message} at character {pos + 1}")


# ---------------------------------------------------------------------------- tokens

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<ref>\$\{(?P<refname>[A-Za-z_][A-Za-z0-9_]*)\})
  | (?P<num>\d+(?:\.\d+)?)
  | (?P<str>'[^']*'|"[^"]*")
  | (?P<op><=|>=|!=|=|<|>|\+|-|\*|\(|\)|,)
  | (?P<dot>\.(?![0-9]))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_\-]*)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class Tok:
    kind: str  # ref, num, str, op, dot, ident, end
    text: str
    pos: int


def _tokenize(src: str) -> list[Tok]:
    toks: list[Tok] = []
    i = 0
    while i < len(src):
        m = _TOKEN.match(src, i)
        if m is None:
            raise ExprSyntaxError("unexpected character", i)
        kind = m.lastgroup
        assert kind is not None
        if kind == "refname":  # pragma: no cover - inner group never last
            kind = "ref"
        if kind == "ref":
            toks.append(Tok("ref", m.group("refname"), i))
        elif kind == "str":
            toks.append(Tok("str", m.group()[1:-1], i))
        elif kind != "ws":
            toks.append(Tok(kind, m.group(), i))
        i = m.end()
    toks.append(Tok("end", "", len(src)))
    return toks


# ---------------------------------------------------------------------------- tree


@dataclass(frozen=True, slots=True)
class Node:
    """A parsed expression. ``op`` is one of: lit, ref, dot, prop, call, neg, or an operator."""

    op: str
    pos: int
    value: Any = None
    args: tuple[Node, ...] = field(default=())

    def walk(self) -> Iterator[Node]:
        yield self
        for a in self.args:
            yield from a.walk()

    def refs(self) -> set[str]:
        """Names referenced with ``${name}``."""
        return {n.value for n in self.walk() if n.op == "ref"}


_CMP = {"=", "!=", "<", "<=", ">", ">="}
_KEYWORD_OPS = {"and", "or", "div", "mod"}


class _Parser:
    def __init__(self, src: str) -> None:
        self.toks = _tokenize(src)
        self.i = 0
        self.depth = 0

    def peek(self) -> Tok:
        return self.toks[self.i]

    def take(self) -> Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def expect(self, text: str) -> Tok:
        t = self.take()
        if t.kind != "op" or t.text != text:
            raise ExprSyntaxError(f"expected '{text}'", t.pos)
        return t

    def _enter(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprSyntaxError("expression nested too deeply", pos)

    def parse(self) -> Node:
        node = self.or_()
        t = self.peek()
        if t.kind != "end":
            raise ExprSyntaxError("unexpected text after the expression", t.pos)
        return node

    def _is_kw(self, word: str) -> bool:
        t = self.peek()
        return t.kind == "ident" and t.text == word

    def or_(self) -> Node:
        left = self.and_()
        while self._is_kw("or"):
            t = self.take()
            left = Node("or", t.pos, args=(left, self.and_()))
        return left

    def and_(self) -> Node:
        left = self.cmp()
        while self._is_kw("and"):
            t = self.take()
            left = Node("and", t.pos, args=(left, self.cmp()))
        return left

    def cmp(self) -> Node:
        left = self.add()
        t = self.peek()
        if t.kind == "op" and t.text in _CMP:
            self.take()
            left = Node(t.text, t.pos, args=(left, self.add()))
            t2 = self.peek()
            if t2.kind == "op" and t2.text in _CMP:
                raise ExprSyntaxError("comparisons cannot be chained; use 'and'", t2.pos)
        return left

    def add(self) -> Node:
        left = self.mul()
        while self.peek().kind == "op" and self.peek().text in ("+", "-"):
            t = self.take()
            left = Node(t.text, t.pos, args=(left, self.mul()))
        return left

    def mul(self) -> Node:
        left = self.unary()
        while (self.peek().kind == "op" and self.peek().text == "*") or (
            self._is_kw("div") or self._is_kw("mod")
        ):
            t = self.take()
            left = Node(t.text, t.pos, args=(left, self.unary()))
        return left

    def unary(self) -> Node:
        t = self.peek()
        if t.kind == "op" and t.text == "-":
            self.take()
            self._enter(t.pos)
            node = Node("neg", t.pos, args=(self.unary(),))
            self.depth -= 1
            return node
        return self.primary()

    def primary(self) -> Node:
        t = self.take()
        if t.kind == "num":
            return Node("lit", t.pos, float(t.text) if "." in t.text else int(t.text))
        if t.kind == "str":
            return Node("lit", t.pos, t.text)
        if t.kind == "ref":
            return Node("ref", t.pos, t.text)
        if t.kind == "dot":
            return Node("dot", t.pos)
        if t.kind == "op" and t.text == "(":
            self._enter(t.pos)
            node = self.or_()
            self.depth -= 1
            self.expect(")")
            return node
        if t.kind == "ident":
            if t.text in _KEYWORD_OPS:
                raise ExprSyntaxError(f"'{t.text}' needs an operand before it", t.pos)
            if self.peek().kind == "op" and self.peek().text == "(":
                self.take()
                self._enter(t.pos)
                args: list[Node] = []
                if not (self.peek().kind == "op" and self.peek().text == ")"):
                    args.append(self.or_())
                    while self.peek().kind == "op" and self.peek().text == ",":
                        self.take()
                        args.append(self.or_())
                self.depth -= 1
                self.expect(")")
                return Node("call", t.pos, t.text, tuple(args))
            return Node("prop", t.pos, t.text)
        if t.kind == "end":
            raise ExprSyntaxError("expression ends too early", t.pos)
        raise ExprSyntaxError(f"unexpected '{t.text}'", t.pos)


def parse(src: str) -> Node:
    """Parse ``src``; raises :class:`ExprSyntaxError` with the position of the fault."""
    if len(src) > MAX_EXPR_LENGTH:
        raise ExprSyntaxError(f"expression longer than {MAX_EXPR_LENGTH} characters", 0)
    if not src.strip():
        raise ExprSyntaxError("empty expression", 0)
    node = _Parser(src).parse()
    # Operator chains (a + b + c ...) grow the tree without nesting in the source; bound
    # the depth of the tree itself so that walking and compiling it cannot recurse deep.
    stack = [(node, 1)]
    while stack:
        n, d = stack.pop()
        if d > MAX_TREE_DEPTH:
            raise ExprSyntaxError(f"expression too complex (over {MAX_TREE_DEPTH} levels)", n.pos)
        stack.extend((a, d + 1) for a in n.args)
    return node


# ---------------------------------------------------------------------------- semantics


def truthy(v: Value) -> bool:
    """Truth of a value: null, false, 0, '' and empty lists are false."""
    if v is None:
        return False
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float):
        return v != 0 and not math.isnan(v)
    if isinstance(v, str | list):
        return len(v) > 0
    return True


def _is_num(v: Value) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _eq(a: Value, b: Value) -> bool:
    if a is None or a == "":
        return b is None or b == ""
    if b is None or b == "":
        return False
    if _is_num(a) and _is_num(b):
        return bool(a == b)
    if type(a) is not type(b):
        return False
    return bool(a == b)


def _order(op: str, a: Value, b: Value) -> bool:
    if not ((_is_num(a) and _is_num(b)) or (isinstance(a, str) and isinstance(b, str))):
        return False
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    return bool(a >= b)


def _arith(op: str, a: Value, b: Value) -> Value:
    if not (_is_num(a) and _is_num(b)):
        return None
    try:
        if op == "+":
            r = a + b
        elif op == "-":
            r = a - b
        elif op == "*":
            r = a * b
        elif b == 0:
            return None
        elif op == "div":
            r = a / b
        else:  # XPath mod: the sign follows the dividend (-7 mod 3 = -1)
            r = math.fmod(a, b)
            if isinstance(a, int) and isinstance(b, int):
                r = int(r)
    except OverflowError:
        return None
    if isinstance(r, float) and not math.isfinite(r):
        return None
    return r


class Scope(Protocol):
    """What compiled expressions read: :class:`Env`, or a validator frame."""

    dot: Value
    props: Mapping[str, str]

    def lookup(self, name: str) -> Value: ...


class Env:
    """What an expression can see: answers in scope, the current answer, choice properties.

    ``lookup(name)`` resolves ``${name}``; ``dot`` is the answer being constrained;
    ``props`` are the properties of the choice being filtered.
    """

    __slots__ = ("lookup", "dot", "props")

    def __init__(
        self,
        lookup: Callable[[str], Value],
        dot: Value = None,
        props: Mapping[str, str] | None = None,
    ) -> None:
        self.lookup = lookup
        self.dot = dot
        self.props = props or {}


def _selected(v: Value, choice: Value) -> bool:
    if isinstance(v, list):
        return choice in v
    return v is not None and v == choice


def _count_selected(v: Value) -> int:
    return len(v) if isinstance(v, list) else 0


def _string_length(v: Value) -> int:
    if v is None:
        return 0
    return len(v) if isinstance(v, str) else len(str(v))


def _coalesce(a: Value, b: Value) -> Value:
    return b if a is None or a == "" else a


#: name → (min args, max args). ``regex`` takes a literal pattern (checked at load time).
FUNCTIONS: dict[str, tuple[int, int]] = {
    "selected": (2, 2),
    "count-selected": (1, 1),
    "count": (1, 1),
    "string-length": (1, 1),
    "regex": (2, 2),
    "not": (1, 1),
    "true": (0, 0),
    "false": (0, 0),
    "coalesce": (2, 2),
    "if": (3, 3),
}

Compiled = Callable[[Scope], Value]


def check_node(node: Node) -> list[tuple[int, str]]:
    """Static checks independent of the form: functions, arity, literal regex patterns."""
    out: list[tuple[int, str]] = []
    for n in node.walk():
        if n.op != "call":
            continue
        if n.value not in FUNCTIONS:
            out.append((n.pos, f"unknown function '{n.value}()'"))
            continue
        lo, hi = FUNCTIONS[n.value]
        if not lo <= len(n.args) <= hi:
            want = str(lo) if lo == hi else f"{lo} to {hi}"
            out.append((n.pos, f"'{n.value}()' takes {want} argument(s), got {len(n.args)}"))
            continue
        if n.value == "regex":
            pat = n.args[1]
            if pat.op != "lit" or not isinstance(pat.value, str):
                out.append((pat.pos, "the pattern of regex() must be a quoted string"))
            else:
                problem = check_safe_pattern(pat.value)
                if problem:
                    out.append((pat.pos, problem))
    return out


def compile_node(node: Node) -> Compiled:
    """Turn a checked tree into a closure ``f(env) -> value``."""
    op = node.op
    if op == "lit":
        v = node.value
        return lambda env: v
    if op == "ref":
        name = node.value
        return lambda env: env.lookup(name)
    if op == "dot":
        return lambda env: env.dot
    if op == "prop":
        key = node.value
        return lambda env: env.props.get(key)
    args = [compile_node(a) for a in node.args]
    if op == "and":
        a, b = args
        return lambda env: truthy(a(env)) and truthy(b(env))
    if op == "or":
        a, b = args
        return lambda env: truthy(a(env)) or truthy(b(env))
    if op == "=":
        a, b = args
        return lambda env: _eq(a(env), b(env))
    if op == "!=":
        a, b = args
        return lambda env: not _eq(a(env), b(env))
    if op in ("<", "<=", ">", ">="):
        a, b = args
        return lambda env: _order(op, a(env), b(env))
    if op in ("+", "-", "*", "div", "mod"):
        a, b = args
        return lambda env: _arith(op, a(env), b(env))
    if op == "neg":
        (a,) = args
        return lambda env: _arith("-", 0, a(env))
    assert op == "call"
    fn = node.value
    if fn == "selected":
        a, b = args
        return lambda env: _selected(a(env), b(env))
    if fn == "count-selected":
        (a,) = args
        return lambda env: _count_selected(a(env))
    if fn == "count":
        (a,) = args
        return lambda env: len(v) if isinstance(v := a(env), list) else 0
    if fn == "string-length":
        (a,) = args
        return lambda env: _string_length(a(env))
    if fn == "regex":
        a = args[0]
        rx = compile_pattern(node.args[1].value)
        return lambda env: isinstance(v := a(env), str) and rx.fullmatch(v) is not None
    if fn == "not":
        (a,) = args
        return lambda env: not truthy(a(env))
    if fn == "true":
        return lambda env: True
    if fn == "false":
        return lambda env: False
    if fn == "coalesce":
        a, b = args
        return lambda env: _coalesce(a(env), b(env))
    if fn == "if":
        c, a, b = args
        return lambda env: a(env) if truthy(c(env)) else b(env)
    raise AssertionError(f"unchecked function {fn}")  # pragma: no cover
