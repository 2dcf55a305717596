"""The longer fuzzing run of the adversarial suite (tests/adversarial/): ``make fuzz``.

Runs each target for its share of the time budget (default 10 minutes in all, ``--quick``
about one minute, ``--seconds N`` for another total), with a seed printed and saved so
that a run can be repeated (``--seed``). The same properties as the tests, many more
examples:

* ``bundle_open``: mutated bundles (tests/adversarial/adv_mutations.py) against
  ``open_bundle``: only ``BundleInvalid``, and only what the genuine device signed opens.
* ``upload``: the same mutants uploaded to a real server on 127.0.0.1 (with its ingest
  worker process): no 5xx, refused or quarantined or merged whole (never partly), the
  audit log verifying after every upload.
* ``openapi``: schemathesis against the served OpenAPI document: no 5xx, responses as
  documented (test_adv_openapi.py, run through pytest with more examples per operation).
* ``forms``: mutated TOML, YAML, decoded documents and XLSForm workbooks: a form or one
  ``FormInvalid`` with paths, never another exception.

It ends with ``save("fuzz", figures)`` (bench/_results.py), writing
``bench/results/fuzz.json``. The keys of ``figures``, for bench/report.py:

* ``seed`` (int), ``budget_seconds`` (float), ``quick`` (bool), ``total_seconds`` (float);
* ``targets``: a mapping from target name (``bundle_open``, ``upload``, ``openapi``,
  ``forms``) to ``{"examples": int, "failures": int, "seconds": float, "seed": int,
  "outcomes": {str: int}, "failure_samples": [str]}``: examples run, distinct failures
  found (should be 0), wall seconds, the seed, a count of what happened (bundle reasons,
  HTTP statuses, ``form``/``invalid``), and up to five failure descriptions.

Exit status 1 if any target found a failure.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests" / "adversarial"))
sys.path.insert(0, str(ROOT / "tests"))  # support/, which the harness imports
sys.path.insert(0, str(ROOT))

import warnings  # noqa: E402

from _results import save  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.errors import HypothesisWarning  # noqa: E402

SHARES = {"bundle_open": 0.25, "upload": 0.35, "openapi": 0.15, "forms": 0.25}


class Target:
    """Counts examples, outcomes and distinct failures of one target within a deadline."""

    def __init__(self, name: str, seconds: float, seed: int) -> None:
        self.name, self.seconds, self.seed = name, seconds, seed
        self.examples = 0
        self.outcomes: collections.Counter[str] = collections.Counter()
        self.failures: dict[str, str] = {}
        self.took = 0.0

    def run(self, body: Callable[[st.DataObject], str], batch: int = 100) -> None:
        """Run ``body`` on hypothesis data in batches of ``batch`` examples, each batch
        with the next seed, until the time is up. Failures are caught and counted inside
        ``body``'s wrapper, so hypothesis never stops a batch early."""
        import hypothesis

        start = time.monotonic()
        n = 0
        while time.monotonic() - start < self.seconds:

            @settings(
                max_examples=batch,
                database=None,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                phases=[hypothesis.Phase.generate],
            )
            @given(data=st.data())
            def prop(data: st.DataObject) -> None:
                self.examples += 1
                try:
                    self.outcomes[body(data)] += 1
                except Exception as e:  # noqa: BLE001 - every failure is counted, not raised
                    tb = traceback.extract_tb(e.__traceback__)[-1]
                    key = f"{type(e).__name__} at {Path(tb.filename).name}:{tb.lineno}"
                    self.failures.setdefault(key, f"{key}: {str(e)[:300]}")
                    self.outcomes["FAILURE"] += 1

            hypothesis.seed(self.seed * 1000 + n)(prop)()
            n += 1
        self.took = time.monotonic() - start

    def figures(self) -> dict[str, Any]:
        return {
            "examples": self.examples,
            "failures": len(self.failures),
            "seconds": round(self.took, 1),
            "seed": self.seed,
            "outcomes": dict(self.outcomes.most_common()),
            "failure_samples": list(self.failures.values())[:5],
        }


def fuzz_bundle_open(t: Target) -> None:
    import test_adv_bundle as tb
    from adv_mutations import mutants

    raw, parts = tb.bases()
    strategy = mutants(raw, parts, tb.KEYS, tb.ANSWERS)

    def body(data: st.DataObject) -> str:
        return tb.check_open(data.draw(strategy), raw)

    t.run(body)


def fuzz_upload(t: Target) -> None:
    import test_adv_upload as tu
    from adv_harness import LiveServer, fresh_records, header_id
    from adv_mutations import mutants, take_apart

    with tempfile.TemporaryDirectory() as tmp, LiveServer(Path(tmp) / "project") as srv:
        up = srv.uploader()
        keys = tu.keys_for(srv)

        def body(data: st.DataObject) -> str:
            rng = random.Random(data.draw(st.integers(0, 2**32)))
            bases = [srv.seal(fresh_records(rng, 1)), srv.seal(fresh_records(rng, 3, broken=True))]
            parts = [take_apart(b, srv.project.identity.recipient) for b in bases]
            m = data.draw(mutants(bases, parts, keys, tu.ANSWERS))
            bid = header_id(m.data)
            if bid is None or data.draw(st.integers(0, 9)) == 0:
                bid = uuid.uuid4()
            answers, added = tu.upload_and_check(srv, up, m.data, bid)
            last = answers[-1].status
            if last != 200:
                return f"refused {last}"
            [(state,)] = srv.count("SELECT state FROM bundles WHERE bundle_id = ?", (bid.bytes,))
            return f"{state} (+{added} records)" if added else state

        try:
            t.run(body, batch=20)
        finally:
            up.close()


def fuzz_openapi(t: Target) -> None:
    """schemathesis through pytest (its parametrize needs pytest), with as many examples
    per operation as fit in the time; the counts come from the junit report."""
    start = time.monotonic()
    per_op = 25
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "junit.xml"
        while True:
            env["SEALSYNC_OPENAPI_EXAMPLES"] = str(per_op)
            t0 = time.monotonic()
            proc = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                 f"--junitxml={junit}", "--hypothesis-seed", str(t.seed),
                 "tests/adversarial/test_adv_openapi.py"],
                cwd=ROOT, env=env, capture_output=True, text=True,
            )  # fmt: skip
            took = time.monotonic() - t0
            t.examples += per_op * 13
            t.outcomes[f"pytest exit {proc.returncode}"] += 1
            if proc.returncode != 0:
                for line in proc.stdout.splitlines():
                    if line.startswith("FAILED"):
                        t.failures.setdefault(line, line[:300])
            left = t.seconds - (time.monotonic() - start)
            if left < took * 2:
                break
            per_op = int(per_op * min(4.0, left / took))
    t.took = time.monotonic() - start


def fuzz_forms(t: Target) -> None:
    import test_adv_forms as tf

    from schemas.survey import import_xlsform, load_form, parse_form

    toml = tf.mutated_lines(tf.LINES)
    yaml_ = tf.mutated_lines(tf.YAML_LINES)
    edits = st.lists(st.tuples(st.sampled_from(tf.PATHS), tf._JUNK), min_size=1, max_size=3)

    def body(data: st.DataObject) -> str:
        kind = data.draw(st.sampled_from(["toml", "yaml", "document", "xlsform"]))
        if kind == "toml":
            form = tf.assert_form_or_invalid(load_form, data.draw(toml).encode(), fmt="toml")
        elif kind == "yaml":
            form = tf.assert_form_or_invalid(load_form, data.draw(yaml_).encode(), fmt="yaml")
        elif kind == "document":
            doc = tf.copy.deepcopy(tf.RAW)
            for path, value in data.draw(edits):
                node = doc
                try:
                    for k in path[:-1]:
                        node = node[k]
                    node[path[-1]] = value
                except (KeyError, IndexError, TypeError):
                    continue
            form = tf.assert_form_or_invalid(parse_form, doc)
        else:
            blob = bytearray(tf.XLSX)
            for _ in range(data.draw(st.integers(1, 8))):
                blob[data.draw(st.integers(0, len(blob) - 1))] ^= 1 << data.draw(st.integers(0, 7))
            form = tf.assert_form_or_invalid(import_xlsform, bytes(blob))
        return f"{kind} {'form' if form is not None else 'invalid'}"

    t.run(body)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="about one minute in all")
    p.add_argument("--seconds", type=float, help="total time budget (default 600)")
    p.add_argument("--seed", type=int, default=None, help="repeat a run")
    p.add_argument("--only", choices=sorted(SHARES), action="append", help="run these targets")
    args = p.parse_args(argv)
    # Mutants hold whole bundles; hypothesis warns that their reprs are large.
    warnings.simplefilter("ignore", HypothesisWarning)
    budget = args.seconds or (60.0 if args.quick else 600.0)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    names = args.only or list(SHARES)
    share = sum(SHARES[n] for n in names)
    print(f"fuzz: seed {seed}, {budget:.0f} s over {', '.join(names)}", flush=True)
    funcs = {
        "bundle_open": fuzz_bundle_open,
        "upload": fuzz_upload,
        "openapi": fuzz_openapi,
        "forms": fuzz_forms,
    }
    start = time.monotonic()
    results: dict[str, Any] = {}
    for i, name in enumerate(names):
        t = Target(name, budget * SHARES[name] / share, seed + i)
        funcs[name](t)
        results[name] = t.figures()
        f = results[name]
        print(
            f"  {name:12s} {f['examples']:7d} examples {f['failures']:3d} failures "
            f"{f['seconds']:7.1f} s  {dict(list(f['outcomes'].items())[:6])}",
            flush=True,
        )
        for sample in f["failure_samples"]:
            print(f"    FAILURE {sample}", flush=True)
    figures = {
        "seed": seed,
        "budget_seconds": budget,
        "quick": bool(args.quick),
        "total_seconds": round(time.monotonic() - start, 1),
        "targets": results,
    }
    print(f"saved {save('fuzz', figures)}")
    return 1 if any(r["failures"] for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
