"""The house keeps its rooms (DESIGN.md "Shape", issue 12): no package imports another
package's private module. A module whose name starts with ``_`` belongs to the package
that holds it: only modules inside that package (or its subpackages) may import it;
everyone else goes through the package's public face (its ``__init__``)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("schemas", "collector", "syncserver")


def _module(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    is_pkg = parts[-1] == "__init__"
    return ".".join(parts[:-1] if is_pkg else parts), is_pkg


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every module ``path`` imports, submodules named in a
    ``from X import y`` included (``X.y``, whether or not ``y`` is a module)."""
    here, is_pkg = _module(path)
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".") if is_pkg else here.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append((node.lineno, mod))
            out += [(node.lineno, f"{mod}.{a.name}") for a in node.names if a.name != "*"]
    return out


def _owner(target: str) -> str | None:
    """The package that owns the first private module on ``target``'s path, if any."""
    parts = target.split(".")
    for i, part in enumerate(parts[1:], start=1):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[:i])
    return None


def _is_module(name: str) -> bool:
    rel = ROOT / Path(*name.split("."))
    return rel.with_suffix(".py").is_file() or (rel / "__init__.py").is_file()


def test_no_package_imports_another_packages_private_module() -> None:
    offenders = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            here, _ = _module(path)
            for line, target in _imports(path):
                if not target.startswith(PACKAGES):
                    continue
                owner = _owner(target)
                if owner is None:
                    continue
                # Only modules count: a private *name* of a module is that module's own
                # business (``from .x import _helper`` inside a package).
                private = target.split(".")[: len(owner.split(".")) + 1]
                if not _is_module(".".join(private)):
                    continue
                if here != owner and not here.startswith(owner + "."):
                    offenders.append(f"{path.relative_to(ROOT)}:{line}: {target}")
    assert offenders == []


def test_the_rule_catches_an_import_across_packages(tmp_path: Path) -> None:
    """The check above is not vacuous: it names a module of one package that imports
    another package's private module."""
    assert _owner("syncserver.ingest._prepare") == "syncserver.ingest"
    assert _owner("syncserver.respondents._worker.MatchWorker") == "syncserver.respondents"
    assert _owner("syncserver.ingest.pipeline") is None
    assert _is_module("syncserver.ingest._prepare")


DRIVERS = ("sqlite3", "psycopg", "psycopg_pool", "psycopg2", "asyncpg")


def test_only_the_store_speaks_sql() -> None:
    """Issue 12: all SQL lives under syncserver/store/; nothing else calls ``execute`` or
    imports a database driver."""
    calls, drivers = [], []
    for path in sorted((ROOT / "syncserver").rglob("*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts[:2] == ("syncserver", "store"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("execute", "executemany"):
                calls.append(f"{rel}:{node.lineno}")
            if isinstance(node, ast.Import):
                drivers += [f"{rel}:{node.lineno}" for a in node.names if a.name in DRIVERS]
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in DRIVERS:
                drivers.append(f"{rel}:{node.lineno}")
    assert calls == []
    assert drivers == []


def test_handlers_and_commands_call_the_service_layer_not_the_store() -> None:
    """Web handlers and CLI commands parse, check the role and call the service layer;
    they never open a transaction themselves (STYLE.md, "Layers call down")."""
    offenders = []
    for layer in ("web", "cli"):
        for path in sorted((ROOT / "syncserver" / layer).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Attribute) and node.attr in (
                    "read",
                    "write",
                    "read_sync",
                    "write_sync",
                ):
                    inner = node.value
                    if isinstance(inner, ast.Attribute) and inner.attr == "store":
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("store"):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: import")
    assert offenders == []
