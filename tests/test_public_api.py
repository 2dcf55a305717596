"""Each package's public face is exactly its ``__all__`` (STYLE.md, "Public face")."""

from __future__ import annotations

import importlib
import types

import pytest

PACKAGES = [
    "schemas",
    "schemas.bundle",
    "schemas.survey",
    "schemas.wire",
    "schemas.forms",
    "schemas.tlog",
    "schemas.identity",
    "collector",
    "syncserver",
    "syncserver.store",
    "syncserver.web",
    "syncserver.audit.tlog",
    "syncserver.project",
    "syncserver.ingest",
    "syncserver.cli",
    "syncserver.respondents",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_exactly_the_public_names(name: str) -> None:
    mod = importlib.import_module(name)
    public = {
        n
        for n, v in vars(mod).items()
        if not n.startswith("_") and not isinstance(v, types.ModuleType) and n != "annotations"
    }
    assert {n for n in mod.__all__ if not n.startswith("__")} == public


def test_packages_never_import_each_other() -> None:
    """collector and syncserver depend on schemas only; schemas on neither."""
    import pathlib

    root = pathlib.Path(__file__).resolve().parent.parent
    rules = {
        "schemas": ("collector", "syncserver"),
        "collector": ("syncserver",),
        "syncserver": ("collector",),
    }
    offenders = []
    for pkg, banned in rules.items():
        for path in (root / pkg).rglob("*.py"):
            for line in path.read_text(encoding="utf-8").splitlines():
                stripped = line.strip()
                if stripped.startswith(("import ", "from ")):
                    words = stripped.replace(",", " ").split()
                    target = words[1].split(".")[0]
                    if target in banned:
                        offenders.append(f"{path.relative_to(root)}: {stripped}")
    assert offenders == []
