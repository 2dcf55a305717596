"""Where benchmark scripts leave their figures for ``bench/report.py``.

Every script in ``bench/`` that ``make bench`` or ``make fuzz`` runs ends with
``save(name, figures)``: one JSON file ``bench/results/<name>.json`` holding the figures
with the command that produced them, the date and the machine. ``bench/report.py``
renders all of them into ``docs/performance.md``. The files are committed, so the page
can be rebuilt and compared later without re-running anything.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import shlex
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": mem_gib,
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }


def command() -> str:
    """The command line that ran this script, as someone would type it from the root."""
    script = Path(sys.argv[0]).resolve()
    try:
        shown = str(script.relative_to(ROOT))
    except ValueError:
        shown = str(script)
    return " ".join([".venv/bin/python", shown, *map(shlex.quote, sys.argv[1:])])


def save(name: str, figures: dict[str, Any]) -> Path:
    """Write ``bench/results/<name>.json``; returns its path."""
    RESULTS.mkdir(exist_ok=True)
    doc = {
        "name": name,
        "command": command(),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "figures": figures,
    }
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path


def load(name: str) -> dict[str, Any] | None:
    """The saved result ``name``, or None if that benchmark has not been run."""
    path = RESULTS / f"{name}.json"
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data
