"""`make demo`: the whole flow on the embedded default (SQLite, loopback), with a report.

1. init a project (config, sealed identity, SQLite store) and publish the shipped form
2. start the server on 127.0.0.1 (a random free port)
3. create the field kit (keys sealed under Argon2id) and enroll it with a one-time token
4. take synthetic interviews, saved encrypted; search the kit's bytes for the names
5. seal them into bundles the kit cannot read back
6. sync: resumable uploads; each receipt, inclusion proof and checkpoint verified
7. respondents: an interview of someone already interviewed is linked to them; a
   respondent who changed their given name waits in the review queue
8. send one tampered bundle: received, then quarantined with a private reason
9. export the data to CSV (sensitive fields redacted, one respondent id per person)
10. verify the audit log from the SQLite file with the independent verifier

Synthetic data only. Everything is written under demo-output/ for you to look at.
"""

from __future__ import annotations

import asyncio
import datetime
import io
import os
import random
import sys
import time
from pathlib import Path

import aiohttp
import msgspec
from aiohttp import web

from collector import keystore
from collector.kit import Kit
from collector.vault import Vault
from schemas.bundle import read_header
from schemas.forms import shipped_form
from schemas.ids import new_id
from schemas.survey.synth import synthesize
from schemas.wire import ReceiptBody
from syncserver.access import devices
from syncserver.analysis.export import export_form
from syncserver.forms import publish_form
from syncserver.project import init_project
from syncserver.project.keys import Secret
from syncserver.records.review import list_quarantine
from syncserver.respondents import list_candidates, stats
from syncserver.web import create_app
from syncserver.web._base import SERVICE

OUT = Path(__file__).resolve().parent.parent / "demo-output"
INTERVIEWS, PER_BUNDLE = 12, 4
# Interview 2 is of the same person as interview 1, written by another interviewer
# (a space in the name); interview 4 is of the person of interview 3, who has taken a new
# given name since. All synthetic.
SAME_PERSON_AGAIN, RENAMED = (0, 1), (2, 3)


def step(n: int, title: str) -> None:
    print(f"\n{n}. {title}")


def line(text: str) -> None:
    print(f"   {text}")


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


async def flow(root: Path) -> int:
    t0 = time.perf_counter()
    form = shipped_form("escapee-interview")

    step(1, "init a project and publish the interview form")
    key_file = root / "project.key"
    key_file.write_bytes(os.urandom(32))
    key_file.chmod(0o600)
    project = init_project(
        root / "project", Secret(key_file=key_file.read_bytes()), actor="cli:demo"
    )
    publish_form(project, form, now=now(), actor="cli:demo")
    line(f"project {project.project_id} in {(root / 'project').relative_to(OUT.parent)}")
    line(f"form {form.id} v{form.version}: {len(form.walk())} items, Korean and English")
    line("identity sealed at rest (key file here; a passphrase with Argon2id in the field)")

    step(2, "start the server on 127.0.0.1")
    runner = web.AppRunner(create_app(project))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    line(f"listening on {base}")

    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            step(3, "create the field kit (encrypted) and enroll it with a one-time token")
            home = root / "kit"
            kdf = keystore.tune_kdf(0.5)
            keys = keystore.create(home, "a synthetic demo passphrase", kdf=kdf)
            line(
                f"keys sealed under Argon2id ({kdf.memory_kib // 1024} MiB, "
                f"{kdf.iterations} passes, tuned to ~0.5 s on this laptop)"
            )
            kit = Kit(Vault(home, keys.data_key), keys.device_key)
            token = devices.create_token(project, "demo kit", now=now(), actor="cli:demo")
            device_id = await kit.enroll_online(session, base, token, "demo-laptop")
            forms = await kit.fetch_forms(session)
            line(f"device {device_id} holds a certificate signed by the project")
            line(f"pinned the project's keys and log; forms fetched and verified: {forms}")

            step(4, f"take {INTERVIEWS} synthetic interviews, saved encrypted as they go")
            rng = random.Random()
            names = []
            for i in range(INTERVIEWS):
                d = kit.new_draft(kit.form(form.id), rng.choice(["ko", "en"]))
                fixed = {"consent": "yes"}
                if i in (SAME_PERSON_AGAIN[0], RENAMED[0]):  # a province the crosswalk knows
                    fixed["province_of_origin"] = "ryanggang"
                d.answers = synthesize(form, rng, fixed=fixed)
                if i in (SAME_PERSON_AGAIN[0], RENAMED[0]):
                    earlier = d.answers  # the same life told again, in a later interview
                    d.answers["respondent_name"] = "독고련화" if i == 0 else "제갈순영"
                elif i == SAME_PERSON_AGAIN[1]:
                    d.answers = {**earlier, "respondent_name": "독고 련화"}
                elif i == RENAMED[1]:
                    d.answers = {**earlier, "respondent_name": "제갈하늘"}
                names.append(str(d.answers.get("respondent_name", "")))
                kit.save_draft(d)
                if i == 0:
                    recording = root / "recording.ogg"
                    recording.write_bytes(os.urandom(300_000))
                    kit.attach(d, str(recording))
                    recording.unlink()
                kit.finalize(d)
            leaked = [
                n
                for n in names
                if n and any(n.encode() in p.read_bytes() for p in home.rglob("*") if p.is_file())
            ]
            line(f"{INTERVIEWS} interviews finalized, one with a 300 KB recording attached")
            line(
                f"every byte of the kit searched for the {len([n for n in names if n])} "
                f"respondents' names: {'FOUND' if leaked else 'none found'}"
            )
            if leaked:
                return 1

            step(5, "seal them: the kit can no longer read what it sealed")
            sealed = kit.seal(max_records=PER_BUNDLE)
            entries = kit.outbox()
            sizes = ", ".join(f"{e.size:,}" for e in entries)
            line(f"{len(sealed)} bundles ({sizes} bytes), signed by the device and encrypted")
            line("to the project key; the interviews and the recording are gone from the kit")
            keep = (entries[0].bundle_id, kit.vault.get("outbox", entries[0].slot))

            step(6, "sync: upload, verify each receipt, and only then delete the bundle")
            report = await kit.sync(session)
            for bid in report.uploaded:
                body = msgspec.msgpack.decode(kit.vault.get("receipt", str(bid)), type=ReceiptBody)
                line(
                    f"bundle {bid}: receipt verified (signature, checkpoint of "
                    f"{body.checkpoint.splitlines()[1]} entries, inclusion proof of "
                    f"{len(body.inclusion_proof)} hashes, consistent with the last one seen)"
                )
            if report.failed:
                line(f"FAILED: {report.failed}")
                return 1
            client = kit._client(session)
            again = await client.upload(*keep)
            line(f"the same bundle sent again gets the same receipt (log entry {again.log_index})")

            step(7, "respondents: the same person counted once, without a name in clear")
            await asyncio.to_thread(runner.app[SERVICE].matching.wait_idle, 60)
            counts = stats(project)
            line(
                f"{counts['interviews']} interviews, {counts['respondents']} respondents: "
                f"{counts.get('links_auto', 0)} automatic link (interviews 1 and 2, same person)"
            )
            queue = list_candidates(project)
            line(
                f"{len(queue)} pair in the review queue (interviews 3 and 4: same surname, "
                f"year and place, new given name): `syncserver respondents candidates`"
            )
            line("matched on keyed pseudonyms (HMAC); the names themselves stay encrypted")
            if counts.get("links_auto", 0) != 1 or len(queue) != 1:
                line("FAILED: expected one link and one review item")
                return 1

            step(8, "send a tampered bundle")
            bad = bytearray(keep[1])
            bad[len(bad) // 2] ^= 0x01
            bad_id = new_id()
            tampered = bytes(bad[:19]) + bad_id.bytes + bytes(bad[35:])
            await client.upload(read_header(io.BytesIO(tampered)).bundle_id, tampered)
            q = list_quarantine(project)
            line(f"received durably, then quarantined: {len(q)} item ({q[0].reason})")
            line("the uploader was told nothing about why: no oracle for an attacker")

        step(9, "export to CSV")
        exported = export_form(
            project, form.id, fmt="csv", out_dir=root / "export", actor="demo", now=now(), lang="ko"
        )
        for f in exported.files:
            line(f"{f.relative_to(OUT.parent)}")
        line(
            f"{exported.rows} interviews, {sum(exported.repeat_rows.values())} linked repeat rows; "
            f"{len(exported.redacted_columns)} sensitive columns redacted"
        )
        people = {row["respondent_id"] for row in read_rows(root / "export" / f"{form.id}.csv")}
        line(f"{len(people)} distinct respondent ids: count people, not interviews")
    finally:
        await runner.cleanup()
        project.close()

    step(10, "verify the audit log with the independent verifier")
    ok = verify_log(root / "project")
    print(f"\ndone in {time.perf_counter() - t0:.1f} s. Next: `make test` runs the whole suite.")
    return 0 if ok else 1


def read_rows(path: Path) -> list[dict[str, str]]:
    import csv

    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def verify_log(project_dir: Path) -> bool:
    from syncserver.audit.verify import verify_log as verify

    report = verify(project_dir / "store.db")
    if report.ok:
        line(f"{report.entries} entries and {report.checkpoints} signed checkpoints verified:")
        line("every entry hashes to its leaf, every checkpoint matches the recomputed tree")
    else:
        line(f"FAILED: {report.first_problem}")
    return report.ok


def main() -> int:
    print("sealsync demo: the whole flow on loopback with SQLite (synthetic data only)")
    root = OUT / f"run-{time.strftime('%Y%m%d-%H%M%S')}"
    root.mkdir(parents=True)
    return asyncio.run(flow(root))


if __name__ == "__main__":
    sys.exit(main())
