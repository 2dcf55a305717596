"""Ids people read and type: the shortest unique prefix, and finding an id from one.

The kit's ids (drafts, interviews, bundles) are time-ordered UUIDv7: the first 12 hex
digits are the time in milliseconds, so ids made in the same minute share their first
8 digits, and ids made in the same millisecond share 13. A fixed-length prefix cannot
tell them apart. The kit shows each id as its shortest prefix (at least
:data:`MIN_SHOWN` digits) that no other id it holds of the same kind begins with, and
takes any prefix that names exactly one.

Why a prefix of the real id rather than a short id made for people: what is shown is a
piece of the id itself, so the full id, or any longer piece of it, works as well; there
is no second name to store, keep unique and keep in step, and an id printed yesterday
(a longer prefix) still works today. It is longer only where ids would otherwise clash.

Ids are compared as lower-case hex without dashes, so ``0190c2d4-5e6f-…`` and
``0190c2d45e6f…`` name the same id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .errors import UnknownId

__all__ = ["MIN_SHOWN", "ambiguous", "normal", "resolve", "short_ids"]

#: The fewest digits shown, and the fewest accepted.
MIN_SHOWN = 8
#: At most this many candidates are listed for an ambiguous prefix.
MAX_LISTED = 10


def normal(id: str) -> str:
    """``id`` as compared: lower case, without dashes or surrounding space."""
    return id.strip().lower().replace("-", "")


def _common(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def short_ids(ids: Iterable[str], *, minimum: int = MIN_SHOWN) -> dict[str, str]:
    """Each id mapped to its shortest prefix (in :func:`normal` form, at least
    ``minimum`` characters, at most the whole id) that no other id in ``ids`` begins with."""
    keyed = sorted({normal(i): i for i in ids}.items())
    out: dict[str, str] = {}
    for k, (n, original) in enumerate(keyed):
        need = 0
        if k > 0:
            need = max(need, _common(n, keyed[k - 1][0]) + 1)
        if k + 1 < len(keyed):
            need = max(need, _common(n, keyed[k + 1][0]) + 1)
        out[original] = n[: min(len(n), max(minimum, need))]
    return out


def ambiguous(given: str, candidates: list[str], shown: Mapping[str, str], what: str) -> str:
    """The sentence for a prefix that names several ids: it lists them as shown."""
    names = [shown.get(c, normal(c)) for c in candidates]
    listed = ", ".join(names[:MAX_LISTED])
    more = f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else ""
    return f"{given!r} could be any of {len(names)} {what}s: {listed}{more}"


def resolve(
    given: str,
    ids: Iterable[str],
    *,
    what: str,
    listed_by: str,
    shown: Mapping[str, str] | None = None,
) -> str:
    """The one id in ``ids`` that ``given`` (a prefix of at least :data:`MIN_SHOWN`
    characters, or a whole id) names; :class:`~collector.errors.UnknownId` otherwise.
    ``what`` names the kind ("draft"), ``listed_by`` the command that lists them, and
    ``shown`` how it shows them (candidates are named so; default: :func:`short_ids`)."""
    pool = sorted(set(ids))
    g = normal(given)
    shown = short_ids(pool) if shown is None else shown
    if not g or any(c not in "0123456789abcdef" for c in g):
        raise UnknownId(
            f"{given!r} is not a {what} id (ids are hexadecimal digits)",
            hint=f"copy the id as {listed_by} shows it",
        )
    exact = [i for i in pool if normal(i) == g]
    if exact:
        return exact[0]
    if len(g) < MIN_SHOWN:
        raise UnknownId(
            f"{given!r} is too short to name a {what}: give at least {MIN_SHOWN} characters",
            hint=f"copy the id as {listed_by} shows it",
        )
    matches = sorted((i for i in pool if normal(i).startswith(g)), key=normal)
    if not matches:
        raise UnknownId(f"no {what} with an id starting {given!r}", hint=f"{listed_by} lists them")
    if len(matches) > 1:
        raise UnknownId(
            ambiguous(given, matches, shown, what),
            hint="give more characters of the id, as many as shown",
        )
    return matches[0]
