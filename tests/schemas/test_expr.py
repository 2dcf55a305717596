"""The expression language (schemas/survey/_expr.py) and pattern safety (_regex.py)."""

from __future__ import annotations

import math
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from schemas.survey._expr import (
    FUNCTIONS,
    MAX_DEPTH,
    MAX_EXPR_LENGTH,
    MAX_TREE_DEPTH,
    Env,
    ExprSyntaxError,
    Node,
    check_node,
    compile_node,
    parse,
    truthy,
)
from schemas.survey._regex import MAX_PATTERN_LENGTH, check_safe_pattern, compile_pattern

PERLISM = "; RE2 has no backreferences or lookaround"

# ---------------------------------------------------------------------------- helpers


def shape(n: Node) -> Any:
    """A position-free rendering of a tree, for comparing parses."""
    if n.op == "lit":
        return n.value
    if n.op == "ref":
        return "${" + n.value + "}"
    if n.op == "dot":
        return "."
    if n.op == "prop":
        return "prop:" + n.value
    if n.op == "call":
        return ("call:" + n.value, *(shape(a) for a in n.args))
    return (n.op, *(shape(a) for a in n.args))


def typed_shape(n: Node) -> Any:
    """Like :func:`shape` but literal types count too (1 is not 1.0)."""
    if n.op == "lit":
        return (type(n.value).__name__, n.value)
    return (n.op, n.value, tuple(typed_shape(a) for a in n.args))


def ev(
    src: str,
    answers: dict[str, Any] | None = None,
    *,
    dot: Any = None,
    props: dict[str, str] | None = None,
) -> Any:
    """Parse, statically check and evaluate ``src``."""
    node = parse(src)
    assert check_node(node) == []
    values = answers or {}
    return compile_node(node)(Env(values.get, dot=dot, props=props))


def syntax_error(src: str) -> ExprSyntaxError:
    with pytest.raises(ExprSyntaxError) as ei:
        parse(src)
    return ei.value


# ---------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("src", "tree"),
    [
        # or < and
        ("1 or 2 and 3", ("or", 1, ("and", 2, 3))),
        ("1 and 2 or 3", ("or", ("and", 1, 2), 3)),
        # and < comparison
        ("1 = 2 and 3 != 4", ("and", ("=", 1, 2), ("!=", 3, 4))),
        ("1 < 2 or 3 >= 4", ("or", ("<", 1, 2), (">=", 3, 4))),
        # comparison < additive
        ("1 + 2 = 3", ("=", ("+", 1, 2), 3)),
        ("1 <= 2 - 3", ("<=", 1, ("-", 2, 3))),
        # additive < multiplicative
        ("1 + 2 * 3", ("+", 1, ("*", 2, 3))),
        ("1 - 6 div 3", ("-", 1, ("div", 6, 3))),
        ("1 + 7 mod 3", ("+", 1, ("mod", 7, 3))),
        ("2 * 3 + 1", ("+", ("*", 2, 3), 1)),
        # multiplicative < unary
        ("-2 * 3", ("*", ("neg", 2), 3)),
        ("2 * -3", ("*", 2, ("neg", 3))),
        ("- -1", ("neg", ("neg", 1))),
        ("--1", ("neg", ("neg", 1))),
        # left associativity
        ("1 - 2 - 3", ("-", ("-", 1, 2), 3)),
        ("8 div 2 div 2", ("div", ("div", 8, 2), 2)),
        ("1 or 2 or 3", ("or", ("or", 1, 2), 3)),
        ("1 and 2 and 3", ("and", ("and", 1, 2), 3)),
        # parentheses override precedence
        ("(1 + 2) * 3", ("*", ("+", 1, 2), 3)),
        ("(1 or 2) and 3", ("and", ("or", 1, 2), 3)),
        ("-(1 + 2)", ("neg", ("+", 1, 2))),
        ("(1 = 2) = (3 = 4)", ("=", ("=", 1, 2), ("=", 3, 4))),
        # every comparison operator
        ("1 = 2", ("=", 1, 2)),
        ("1 != 2", ("!=", 1, 2)),
        ("1 < 2", ("<", 1, 2)),
        ("1 <= 2", ("<=", 1, 2)),
        ("1 > 2", (">", 1, 2)),
        ("1 >= 2", (">=", 1, 2)),
        # operands
        ("${a_1}", "${a_1}"),
        (".", "."),
        (". = 'x'", ("=", ".", "x")),
        ("zone", "prop:zone"),
        ("zone-1 = 'a'", ("=", "prop:zone-1", "a")),  # '-' continues a bare name
        ('"dq"', "dq"),
        ("''", ""),
        ("3.25", 3.25),
        ("007", 7),
        ("true()", ("call:true",)),
        ("count-selected(${s})", ("call:count-selected", "${s}")),
        ("if(${a}, 1, 'x')", ("call:if", "${a}", 1, "x")),
        ("not(${a} = 1 or 2)", ("call:not", ("or", ("=", "${a}", 1), 2))),
        ("frob()", ("call:frob",)),  # unknown functions parse; check_node refuses them
        ("\t${x}\n>\r\n1 ", (">", "${x}", 1)),
        ("${a}div${b}", ("div", "${a}", "${b}")),
    ],
)
def test_parse_shapes(src: str, tree: Any) -> None:
    assert shape(parse(src)) == tree


def test_literal_types() -> None:
    assert typed_shape(parse("3")) == ("int", 3)
    assert typed_shape(parse("3.0")) == ("float", 3.0)
    assert typed_shape(parse("'3'")) == ("str", "3")


def test_node_positions() -> None:
    n = parse("${a} + f(1, 'x') * -.")
    assert (n.op, n.pos) == ("+", 5)
    left, right = n.args
    assert (left.op, left.pos, left.value) == ("ref", 0, "a")
    assert (right.op, right.pos) == ("*", 17)
    call, neg = right.args
    assert (call.op, call.pos, call.value) == ("call", 7, "f")
    assert [(a.op, a.pos, a.value) for a in call.args] == [("lit", 9, 1), ("lit", 12, "x")]
    assert (neg.op, neg.pos) == ("neg", 19)
    assert (neg.args[0].op, neg.args[0].pos) == ("dot", 20)


def test_refs_and_walk() -> None:
    n = parse("${a} = 1 and selected(${b}, zone) or count(${a}) > ${c}")
    assert n.refs() == {"a", "b", "c"}
    assert [m.op for m in n.walk()][:3] == ["or", "and", "="]
    assert parse("zone = 'x' and . = 1").refs() == set()


@pytest.mark.parametrize(
    ("src", "message", "pos"),
    [
        ("", "empty expression", 0),
        ("   \t\n", "empty expression", 0),
        ("@", "unexpected character", 0),
        ("${a} # 1", "unexpected character", 5),
        ("${1a}", "unexpected character", 0),
        ("${a", "unexpected character", 0),
        ("'open", "unexpected character", 0),
        ('"open', "unexpected character", 0),
        (".5", "unexpected character", 0),
        ("1 ! 2", "unexpected character", 2),
        ("1 +", "expression ends too early", 3),
        ("not(", "expression ends too early", 4),
        ("1 2", "unexpected text after the expression", 2),
        ("1.", "unexpected text after the expression", 1),
        ("'it''s'", "unexpected text after the expression", 4),
        ("(1 + 2", "expected ')'", 6),
        ("f(1", "expected ')'", 3),
        ("f(1 2)", "expected ')'", 4),
        ("(1))", "unexpected text after the expression", 3),
        (")", "unexpected ')'", 0),
        ("f(1,)", "unexpected ')'", 4),
        ("f(,1)", "unexpected ','", 2),
        ("1 + * 2", "unexpected '*'", 4),
        ("= 1", "unexpected '='", 0),
        ("${a} = = 2", "unexpected '='", 7),
        ("and 1", "'and' needs an operand before it", 0),
        ("1 or or 2", "'or' needs an operand before it", 5),
        ("1 + div", "'div' needs an operand before it", 4),
        ("mod(1)", "'mod' needs an operand before it", 0),
        ("1 = 2 = 3", "comparisons cannot be chained; use 'and'", 6),
        ("1 < 2 < 3", "comparisons cannot be chained; use 'and'", 6),
        ("${a} != 1 >= 0", "comparisons cannot be chained; use 'and'", 10),
    ],
)
def test_syntax_errors(src: str, message: str, pos: int) -> None:
    e = syntax_error(src)
    assert e.pos == pos
    assert str(e) == f"{message} at character {pos + 1}"
    assert isinstance(e, ValueError)


def test_max_length() -> None:
    at_limit = "1" + " " * (MAX_EXPR_LENGTH - 1)
    assert shape(parse(at_limit)) == 1
    e = syntax_error(at_limit + " ")
    assert (e.pos, str(e)) == (
        0,
        f"expression longer than {MAX_EXPR_LENGTH} characters at character 1",
    )
    assert MAX_EXPR_LENGTH == 2000


@pytest.mark.parametrize(
    ("opener", "closer"),
    [("(", ")"), ("-", ""), ("not(", ")")],
)
def test_nesting_depth(opener: str, closer: str) -> None:
    ok = opener * MAX_DEPTH + "1" + closer * MAX_DEPTH
    parse(ok)
    deep = opener * (MAX_DEPTH + 1) + "1" + closer * (MAX_DEPTH + 1)
    e = syntax_error(deep)
    pos = len(opener) * MAX_DEPTH
    assert (e.pos, str(e)) == (pos, f"expression nested too deeply at character {pos + 1}")


def test_depth_is_released_after_a_group() -> None:
    # Siblings do not add up: 40 levels, closed, then 40 more.
    flat = "(" * MAX_DEPTH + "1" + ")" * MAX_DEPTH
    inner = "(" * (MAX_DEPTH - 1) + "1" + ")" * (MAX_DEPTH - 1)
    assert shape(parse(f"{flat} + {flat} + if(1, {inner}, {inner})")) == (
        "+",
        ("+", 1, 1),
        ("call:if", 1, 1, 1),
    )


def test_operator_chains_are_bounded_by_tree_depth() -> None:
    # Chains of binary operators nest the tree without nesting the text; the tree depth is
    # bounded so that walking and compiling cannot recurse too deep.
    assert MAX_TREE_DEPTH == 200
    at_limit = "1+" * (MAX_TREE_DEPTH - 1) + "1"  # leaves at depth 200
    node = parse(at_limit)
    assert check_node(node) == []
    assert compile_node(node)(Env(lambda _n: None)) == MAX_TREE_DEPTH
    e = syntax_error("1+" * MAX_TREE_DEPTH + "1")
    assert (e.pos, str(e)) == (2, "expression too complex (over 200 levels) at character 3")
    e = syntax_error("1+" * 990 + "1 = 991")
    assert (e.pos, str(e)) == (1584, "expression too complex (over 200 levels) at character 1585")
    e = syntax_error(" and ".join(["1"] * 201))
    assert (e.pos, str(e)) == (6, "expression too complex (over 200 levels) at character 7")


# ---------------------------------------------------------------------------- semantics


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, False),
        (False, False),
        (True, True),
        (0, False),
        (0.0, False),
        (-0.0, False),
        (float("nan"), False),
        (1, True),
        (-2, True),
        (0.5, True),
        (float("inf"), True),
        ("", False),
        ("0", True),
        (" ", True),
        ([], False),
        (["a"], True),
        ([{}], True),
    ],
)
def test_truthy(value: Any, expected: bool) -> None:
    assert truthy(value) is expected


@pytest.mark.parametrize(
    ("src", "answers", "expected"),
    [
        # null is '' for equality, and nothing else
        ("${x} = ''", {}, True),
        ("${x} = ${y}", {}, True),
        ("${x} = ''", {"x": ""}, True),
        ("'' = ${x}", {}, True),
        ("${x} != ''", {}, False),
        ("${x} = 0", {}, False),
        ("0 = ${x}", {}, False),
        ("${x} = 'a'", {}, False),
        ("${x} != 0", {}, True),
        ("${x} = false()", {}, False),
        # numbers compare across int/float; other types never equal each other
        ("1 = 1.0", {}, True),
        ("'1' = 1", {}, False),
        ("true() = 1", {}, False),
        ("true() = true()", {}, True),
        ("true() != false()", {}, True),
        ("${s} = ${t}", {"s": ["a", "b"], "t": ["a", "b"]}, True),
        ("${s} = 'a'", {"s": ["a"]}, False),
        ("'abc' = 'abc'", {}, True),
        ("'abc' != 'abd'", {}, True),
        # ordering: numbers with numbers, strings with strings; anything else is false
        ("1 < 2", {}, True),
        ("2 <= 2.0", {}, True),
        ("3 > 2.5", {}, True),
        ("2 >= 3", {}, False),
        ("'a' < 'b'", {}, True),
        ("'10' < '9'", {}, True),
        ("'2020-01-02' > '2020-01-01'", {}, True),
        ("1 < '2'", {}, False),
        ("'1' > 0", {}, False),
        ("${x} < 1", {}, False),
        ("${x} > 1", {}, False),
        ("${x} <= 1", {}, False),
        ("${x} >= ${y}", {}, False),
        ("1 >= ${x}", {}, False),
        ("true() > 0", {}, False),
        ("${s} > ${t}", {"s": ["b"], "t": ["a"]}, False),
        # arithmetic
        ("1 + 2", {}, 3),
        ("1 - 2", {}, -1),
        ("2 * 3.5", {}, 7.0),
        ("7 div 2", {}, 3.5),
        ("6 div 3", {}, 2.0),
        ("7 mod 3", {}, 1),
        ("7.5 mod 2", {}, 1.5),
        ("-${n}", {"n": 4}, -4),
        ("- -${n}", {"n": 4}, 4),
        ("${n} + 1", {"n": 41}, 42),
        # arithmetic with null (or a non-number) is null; division by zero is null
        ("${x} + 1", {}, None),
        ("1 - ${x}", {}, None),
        ("${x} * ${x}", {}, None),
        ("-${x}", {}, None),
        ("'1' + 1", {}, None),
        ("true() + 1", {}, None),
        ("-'a'", {}, None),
        ("-true()", {}, None),
        ("1 div 0", {}, None),
        ("1 mod 0", {}, None),
        ("1.5 div 0.0", {}, None),
        ("1 mod 0.0", {}, None),
        ("${x} div 0", {}, None),
        ("(1 div 0) = ''", {}, True),
        ("(1 div 0) > 0", {}, False),
        # boolean operators return booleans
        ("1 and 'a'", {}, True),
        ("1 and ''", {}, False),
        ("0 or ${x}", {}, False),
        ("0 or 'x'", {}, True),
        ("${x} or ${y}", {}, False),
    ],
)
def test_operators(src: str, answers: dict[str, Any], expected: Any) -> None:
    got = ev(src, answers)
    assert got == expected
    assert type(got) is type(expected)


def test_and_or_short_circuit() -> None:
    seen: list[str] = []

    def lookup(name: str) -> Any:
        seen.append(name)
        return 1

    compile_node(parse("0 and ${a}"))(Env(lookup))
    compile_node(parse("1 or ${b}"))(Env(lookup))
    assert seen == []
    compile_node(parse("1 and ${c}"))(Env(lookup))
    assert seen == ["c"]


@pytest.mark.parametrize(
    ("src", "answers", "expected"),
    [
        ("selected(${s}, 'a')", {"s": ["a", "b"]}, True),
        ("selected(${s}, 'c')", {"s": ["a", "b"]}, False),
        ("selected(${s}, 'a')", {"s": []}, False),
        ("selected(${s}, 'a')", {"s": "a"}, True),
        ("selected(${s}, 'a')", {"s": "b"}, False),
        ("selected(${s}, 'a')", {}, False),
        ("selected(${s}, ${x})", {}, False),
        ("count-selected(${s})", {"s": ["a", "b"]}, 2),
        ("count-selected(${s})", {"s": []}, 0),
        ("count-selected(${s})", {"s": "a"}, 0),
        ("count-selected(${s})", {}, 0),
        ("count(${r})", {"r": [{}, {}, {}]}, 3),
        ("count(${r})", {"r": []}, 0),
        ("count(${r})", {}, 0),
        ("count(${r})", {"r": "abc"}, 0),
        ("string-length(${t})", {"t": "héllo"}, 5),
        ("string-length(${t})", {"t": ""}, 0),
        ("string-length(${t})", {}, 0),
        ("string-length(${t})", {"t": 1234}, 4),
        ("string-length(${t})", {"t": 2.5}, 3),
        ("string-length('')", {}, 0),
        ("regex(${t}, '[0-9]{3}')", {"t": "123"}, True),
        ("regex(${t}, '[0-9]{3}')", {"t": "1234"}, False),  # full match, not search
        ("regex(${t}, '[0-9]{3}')", {"t": "x123"}, False),
        ("regex(${t}, '[0-9]{3}')", {"t": 123}, False),  # only strings match
        ("regex(${t}, '.*')", {}, False),  # null never matches
        ("regex(${t}, '')", {"t": ""}, True),
        ("not(${x})", {}, True),
        ("not('')", {}, True),
        ("not(0)", {}, True),
        ("not('0')", {}, False),
        ("not(${s})", {"s": []}, True),
        ("not(${s})", {"s": ["a"]}, False),
        ("true()", {}, True),
        ("false()", {}, False),
        ("coalesce(${x}, 'd')", {}, "d"),
        ("coalesce(${x}, 'd')", {"x": ""}, "d"),
        ("coalesce(${x}, 'd')", {"x": 0}, 0),
        ("coalesce(${x}, 'd')", {"x": False}, False),
        ("coalesce(${x}, 'd')", {"x": "v"}, "v"),
        ("coalesce(${x}, ${y})", {}, None),
        ("if(${x}, 'a', 'b')", {}, "b"),
        ("if(${x}, 'a', 'b')", {"x": 1}, "a"),
        ("if(${x} = '', 1, 2 div 0)", {}, 1),
        ("if(1, ${y}, 2)", {}, None),
    ],
)
def test_functions(src: str, answers: dict[str, Any], expected: Any) -> None:
    got = ev(src, answers)
    assert got == expected
    assert type(got) is type(expected)


def test_if_evaluates_only_the_chosen_branch() -> None:
    seen: list[str] = []

    def lookup(name: str) -> Any:
        seen.append(name)
        return name

    assert compile_node(parse("if(1, ${a}, ${b})"))(Env(lookup)) == "a"
    assert seen == ["a"]


def test_dot_and_props() -> None:
    assert ev(". + 1", dot=2) == 3
    assert ev(". = ''") is True  # no answer: dot is null
    assert ev("zone = 'a'", props={"zone": "a"}) is True
    assert ev("zone = 'a'", props={"zone": "b"}) is False
    assert ev("zone = ''", props={}) is True  # a missing property is null
    assert ev("zone-1 = ${z}", {"z": "n"}, props={"zone-1": "n"}) is True
    assert Env(lambda _n: None).props == {}


def test_functions_table() -> None:
    assert FUNCTIONS == {
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


# ---------------------------------------------------------------------------- check_node


@pytest.mark.parametrize(
    ("src", "found"),
    [
        ("frob(1)", [(0, "unknown function 'frob()'")]),
        ("1 + eval('x')", [(4, "unknown function 'eval()'")]),
        ("count_selected(${s})", [(0, "unknown function 'count_selected()'")]),
        ("not(1, 2)", [(0, "'not()' takes 1 argument(s), got 2")]),
        ("not()", [(0, "'not()' takes 1 argument(s), got 0")]),
        ("true(1)", [(0, "'true()' takes 0 argument(s), got 1")]),
        ("if(1, 2)", [(0, "'if()' takes 3 argument(s), got 2")]),
        ("selected(${s})", [(0, "'selected()' takes 2 argument(s), got 1")]),
        ("coalesce(1, 2, 3)", [(0, "'coalesce()' takes 2 argument(s), got 3")]),
        ("regex(${a})", [(0, "'regex()' takes 2 argument(s), got 1")]),
        ("regex(${a}, ${b})", [(12, "the pattern of regex() must be a quoted string")]),
        ("regex(${a}, 5)", [(12, "the pattern of regex() must be a quoted string")]),
        ("regex(${a}, 'a' )", []),
        (
            "regex(${a}, '(?=a)')",
            [(12, "pattern does not compile as RE2 (invalid perl operator: (?=)" + PERLISM)],
        ),
        (
            "regex(${a}, '(')",
            [(12, "pattern does not compile as RE2 (missing ): ()")],
        ),
        # an unknown outer function does not hide problems inside its arguments
        (
            "frob(not(1, 2), zap())",
            [
                (0, "unknown function 'frob()'"),
                (5, "'not()' takes 1 argument(s), got 2"),
                (16, "unknown function 'zap()'"),
            ],
        ),
        ("${a} = 1 and selected(${s}, 'x')", []),
    ],
)
def test_check_node(src: str, found: list[tuple[int, str]]) -> None:
    assert check_node(parse(src)) == found


# ---------------------------------------------------------------------------- regex safety

SAFE_PATTERNS = [
    "",
    "abc",
    "[0-9]{4}",
    r"\d{3}-\d{4}",
    "[A-Z][a-z]+",
    "a+b*c?",
    "(ab)+",
    "(?:abc)?",
    "[ab]+",
    "a{2,3}",
    "(a|b)",
    "(ab|cd)?",
    "(?:ab|cd){1}",
    "(?:(a)+)?",
    r"^\w+$",
    "x" * MAX_PATTERN_LENGTH,
]


@pytest.mark.parametrize("pattern", SAFE_PATTERNS)
def test_safe_patterns_accepted(pattern: str) -> None:
    assert check_safe_pattern(pattern) is None


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"(a)\1", f"pattern does not compile as RE2 (invalid escape sequence: \\1){PERLISM}"),
        (
            "(?P<x>a)(?P=x)",
            f"pattern does not compile as RE2 (invalid perl operator: (?P){PERLISM}",
        ),
        ("(a)?(?(1)b|c)", f"pattern does not compile as RE2 (invalid perl operator: (?(){PERLISM}"),
        ("(?=a)a", f"pattern does not compile as RE2 (invalid perl operator: (?=){PERLISM}"),
        ("(?!a)b", f"pattern does not compile as RE2 (invalid perl operator: (?!){PERLISM}"),
        ("(?<=a)b", f"pattern does not compile as RE2 (invalid perl operator: (?<=){PERLISM}"),
        ("(?<!a)b", f"pattern does not compile as RE2 (invalid perl operator: (?<!){PERLISM}"),
        ("x" * (MAX_PATTERN_LENGTH + 1), f"pattern longer than {MAX_PATTERN_LENGTH} characters"),
        ("(", "pattern does not compile as RE2 (missing ): ()"),
        ("a{2}{3}", "pattern does not compile as RE2 (bad repetition operator: {2}{3})"),
        ("[z-a]", "pattern does not compile as RE2 (invalid character class range: z-a)"),
    ],
)
def test_unsupported_patterns_refused(pattern: str, reason: str) -> None:
    assert check_safe_pattern(pattern) == reason


@pytest.mark.parametrize(
    ("pattern", "answer"),
    [
        # Exponential for a backtracking engine: (a?){n}a{n} against "a"*n tries 2**n paths.
        ("(a?){30}a{30}", "a" * 30),
        ("(a+)+$", "a" * 20_000 + "!"),
        ("(a|aa)+", "a" * 20_000 + "!"),
        # Polynomial of high degree: ~13 s against "1"*200 with Python's re.
        (r"\d*\d*\d*\d*\d*x", "1" * 20_000),
    ],
)
def test_catastrophic_patterns_run_in_linear_time(pattern: str, answer: str) -> None:
    """Patterns that stall a backtracking engine are harmless under RE2: accepted, and
    matched against a maximum-length hostile answer in well under a second."""
    import time

    assert check_safe_pattern(pattern) is None
    rx = compile_pattern(pattern)
    t = time.perf_counter()
    rx.fullmatch(answer)
    assert time.perf_counter() - t < 1.0


# ---------------------------------------------------------------------------- properties

EXPR_ALPHABET = "${}()'\". ,-+*=<>!abcdivmodnrt0123456789_ \t"


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.one_of(st.text(st.characters(max_codepoint=127)), st.text(EXPR_ALPHABET)))
def test_parse_only_raises_syntax_errors(src: str) -> None:
    try:
        node = parse(src)
    except ExprSyntaxError as e:
        assert 0 <= e.pos <= len(src)
        assert str(e).endswith(f" at character {e.pos + 1}")
        return
    # Whatever parses can be checked and walked without raising.
    for pos, message in check_node(node):
        assert 0 <= pos < len(src)
        assert message
    assert all(isinstance(r, str) for r in node.refs())


# Trees for the round trip: literals, refs, dot, props, operators, calls.

REF_NAMES = ["a", "b", "c"]
PROP_NAMES = ["zone", "kind"]
BINOPS = ["or", "and", "=", "!=", "<", "<=", ">", ">=", "+", "-", "*", "div", "mod"]
LEVEL = {"or": 1, "and": 2, "=": 3, "!=": 3, "<": 3, "<=": 3, ">": 3, ">=": 3}
LEVEL.update({"+": 4, "-": 4, "*": 5, "div": 5, "mod": 5})
COMPARISONS = {"=", "!=", "<", "<=", ">", ">="}
ROUNDTRIP_PATTERNS = ["[a-z]+", "[0-9]{2}", "a|b", "x?y"]

leaves = st.one_of(
    st.integers(0, 1000).map(lambda v: Node("lit", 0, v)),
    st.integers(0, 4000).map(lambda k: Node("lit", 0, k / 4)),
    st.text(string.ascii_letters + string.digits + " -", max_size=6).map(
        lambda s: Node("lit", 0, s)
    ),
    st.sampled_from(REF_NAMES).map(lambda n: Node("ref", 0, n)),
    st.just(Node("dot", 0)),
    st.sampled_from(PROP_NAMES).map(lambda n: Node("prop", 0, n)),
    st.sampled_from(["true", "false"]).map(lambda f: Node("call", 0, f)),
)


def _extend(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    binary = st.tuples(st.sampled_from(BINOPS), children, children).map(
        lambda t: Node(t[0], 0, None, (t[1], t[2]))
    )
    neg = children.map(lambda c: Node("neg", 0, None, (c,)))
    calls = st.sampled_from(
        sorted(f for f, (lo, _) in FUNCTIONS.items() if lo > 0 and f != "regex")
    ).flatmap(
        lambda f: st.lists(children, min_size=FUNCTIONS[f][0], max_size=FUNCTIONS[f][1]).map(
            lambda args: Node("call", 0, f, tuple(args))
        )
    )
    regex = st.tuples(children, st.sampled_from(ROUNDTRIP_PATTERNS)).map(
        lambda t: Node("call", 0, "regex", (t[0], Node("lit", 0, t[1])))
    )
    return st.one_of(binary, neg, calls, regex)


trees = st.recursive(leaves, _extend, max_leaves=14)


def _level(n: Node) -> int:
    if n.op in LEVEL:
        return LEVEL[n.op]
    return 6 if n.op == "neg" else 7


def render(n: Node) -> str:
    """Render with the fewest parentheses the precedence rules allow."""
    if n.op == "lit":
        if isinstance(n.value, str):
            return f"'{n.value}'"
        return repr(n.value)
    if n.op == "ref":
        return "${" + n.value + "}"
    if n.op == "dot":
        return "."
    if n.op == "prop":
        return n.value
    if n.op == "call":
        return f"{n.value}(" + ", ".join(render(a) for a in n.args) + ")"
    if n.op == "neg":
        (a,) = n.args
        inner = render(a)
        return "-" + (f"({inner})" if _level(a) < 6 else inner)
    left, right = n.args
    lv = LEVEL[n.op]
    ls, rs = render(left), render(right)
    if _level(left) < lv or (n.op in COMPARISONS and _level(left) == lv):
        ls = f"({ls})"
    if _level(right) <= lv:
        rs = f"({rs})"
    return f"{ls} {n.op} {rs}"


def _depth(n: Node) -> int:
    return 1 + max((_depth(a) for a in n.args), default=0)


values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-50, 50),
    st.floats(-50, 50, allow_nan=False),
    st.text("ab- ", max_size=3),
    st.lists(st.sampled_from(["a", "b", "c"]), max_size=3),
)


def _same(x: Any, y: Any) -> bool:
    if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
        return True
    return type(x) is type(y) and x == y


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    tree=trees,
    answers=st.fixed_dictionaries({n: values for n in REF_NAMES}),
    dot=values,
    props=st.fixed_dictionaries({p: st.text("ab", max_size=2) for p in PROP_NAMES}),
)
def test_rendered_trees_round_trip(
    tree: Node, answers: dict[str, Any], dot: Any, props: dict[str, str]
) -> None:
    assume(_depth(tree) <= 20)
    src = render(tree)
    assume(len(src) <= MAX_EXPR_LENGTH)
    parsed = parse(src)
    assert typed_shape(parsed) == typed_shape(tree), src
    assert check_node(parsed) == []
    env = Env(answers.get, dot=dot, props=props)
    assert _same(compile_node(parsed)(env), compile_node(tree)(env)), src
    # Fully parenthesised, the same text still means the same thing.
    assert typed_shape(parse(_render_full(tree))) == typed_shape(tree)


def _render_full(n: Node) -> str:
    if n.op in LEVEL:
        left, right = n.args
        return f"({_render_full(left)} {n.op} {_render_full(right)})"
    if n.op == "neg":
        return f"-({_render_full(n.args[0])})"
    if n.op == "call":
        return f"{n.value}(" + ", ".join(_render_full(a) for a in n.args) + ")"
    return render(n)


arith_trees = st.recursive(
    st.integers(0, 50).map(lambda v: Node("lit", 0, v)),
    lambda ch: st.one_of(
        st.tuples(st.sampled_from(["+", "-", "*"]), ch, ch).map(
            lambda t: Node(t[0], 0, None, (t[1], t[2]))
        ),
        ch.map(lambda c: Node("neg", 0, None, (c,))),
    ),
    max_leaves=12,
)


def _reference(n: Node) -> int:
    """Integer arithmetic computed straight from the tree (the meaning we intend)."""
    if n.op == "lit":
        return int(n.value)
    if n.op == "neg":
        return -_reference(n.args[0])
    a, b = (_reference(x) for x in n.args)
    return {"+": a + b, "-": a - b, "*": a * b}[n.op]


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(arith_trees)
def test_precedence_matches_arithmetic(tree: Node) -> None:
    assume(_depth(tree) <= 20)
    src = render(tree)
    assert ev(src) == _reference(tree), src


def test_syntax_error_is_a_value_error_with_position() -> None:
    e = ExprSyntaxError("boom", 4)
    assert (e.pos, str(e)) == (4, "boom at character 5")


def test_regex_in_expression_is_a_full_match() -> None:
    f = compile_node(parse("regex(${t}, 'a.c')"))
    got = [f(Env({"t": t}.get)) for t in ("abc", "abcd", "xabc", "aXc")]
    assert got == [True, False, False, True]
