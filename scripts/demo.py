"""`make demo`: the whole flow on the embedded default (SQLite, loopback), with a report.

1. init a project (config, sealed identity, SQLite store) and publish the shipped form
2. start the server on 127.0.0.1 (a random free port)
3. enroll a device online with a one-time token; pin the server's keys
4. fill synthetic interviews and seal them into bundles the device cannot read back
5. upload them (resumable, in chunks), verify each signed receipt and its inclusion proof
6. send one tampered bundle: received, then quarantined with a private reason
7. export the data to CSV (sensitive fields redacted)
8. verify the audit log from the SQLite file with the independent verifier

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
import uuid
from pathlib import Path

import aiohttp
import msgspec
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from collector.sync import Pins, SyncClient
from schemas.bundle import DeviceKey, read_header, seal_bundle
from schemas.forms import shipped_form
from schemas.ids import new_id
from schemas.survey import Validator
from schemas.survey.synth import synthesize
from schemas.wire import EnrollmentRequest, EnrollmentResponse, Record, sign_request
from syncserver import devices
from syncserver.export import export_form
from syncserver.forms import publish_form
from syncserver.identity import Secret
from syncserver.project import init_project
from syncserver.review import list_quarantine
from syncserver.web import create_app

OUT = Path(__file__).resolve().parent.parent / "demo-output"
INTERVIEWS, PER_BUNDLE = 12, 4


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
    project = init_project(root / "project", Secret(key_file=key_file.read_bytes()))
    publish_form(project, form, now=now())
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
            step(3, "enroll a device online with a one-time token")
            token = devices.create_token(project, "demo kit", now=now())
            device_key = Ed25519PrivateKey.generate()
            pub = device_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            req = sign_request(
                EnrollmentRequest(public_key=pub, label="demo-laptop", token=token), device_key
            )
            async with session.post(base + "/v1/enroll", data=msgspec.json.encode(req)) as r:
                if r.status != 201:
                    line(f"FAILED: enrollment answered {r.status}")
                    return 1
                resp = msgspec.json.decode(await r.read(), type=EnrollmentResponse)
            device_id = uuid.UUID(bytes=msgspec.msgpack.decode(resp.certificate.body)["device_id"])
            line(f"device {device_id} holds a certificate signed by the project")
            line(f"pinned: project signing key, recipient key, log origin {resp.log_origin}")
            pins = Pins(signing_public=resp.signing_public_key, log_origin=resp.log_origin)
            client = SyncClient(session, base, device_id, device_key, pins)

            step(4, f"fill {INTERVIEWS} synthetic interviews and seal them")
            validator, rng = Validator(form), random.Random()
            records = []
            for _ in range(INTERVIEWS):
                answers = synthesize(form, rng, fixed={"consent": "yes"})
                assert validator.validate(answers) == []
                t = now().replace(microsecond=0)
                records.append(
                    Record(
                        record_id=new_id(),
                        version=1,
                        form_id=form.id,
                        form_version=form.version,
                        created_at=t,
                        modified_at=t,
                        lang=rng.choice(["ko", "en"]),
                        answers=answers,
                    )
                )
            from schemas.bundle import RecipientPublicKey

            recipient = RecipientPublicKey(resp.recipient_public_key)
            bundles, prev = [], bytes(32)
            for seq, i in enumerate(range(0, INTERVIEWS, PER_BUNDLE), start=1):
                buf = io.BytesIO()
                sealed = seal_bundle(
                    buf,
                    records=records[i : i + PER_BUNDLE],
                    device=DeviceKey(device_id, device_key),
                    recipients=[recipient],
                    project_id=resp.project_id,
                    device_seq=seq,
                    prev_bundle_sha256=prev,
                )
                prev = sealed.sha256
                bundles.append((sealed.bundle_id, buf.getvalue()))
            sizes = ", ".join(f"{len(d):,}" for _, d in bundles)
            line(f"{len(bundles)} bundles of {PER_BUNDLE} interviews ({sizes} bytes), each signed")
            line("by the device and encrypted to the project key; the device keeps no key")
            line("that could open them again")

            step(5, "upload, verify each receipt, and only then forget the bundle")
            for bid, data in bundles:
                body = await client.upload(bid, data)
                line(
                    f"bundle {bid}: receipt verified (signature, checkpoint of "
                    f"{body.checkpoint.splitlines()[1]} entries, inclusion proof of "
                    f"{len(body.inclusion_proof)} hashes)"
                )
            line("a second upload of the same bundle gets the same receipt (idempotent):")
            again = await client.upload(*bundles[0])
            line(f"  log entry {again.log_index} again")

            step(6, "send a tampered bundle")
            bad = bytearray(bundles[-1][1])
            bad[len(bad) // 2] ^= 0x01
            bad_id = new_id()
            tampered = bytes(bad[:19]) + bad_id.bytes + bytes(bad[35:])
            await client.upload(read_header(io.BytesIO(tampered)).bundle_id, tampered)
            q = list_quarantine(project)
            line(f"received durably, then quarantined: {len(q)} item ({q[0].reason})")
            line("the uploader was told nothing about why: no oracle for an attacker")

        step(7, "export to CSV")
        exported = export_form(
            project, form.id, fmt="csv", out_dir=root / "export", actor="demo", now=now(), lang="ko"
        )
        for f in exported.files:
            line(f"{f.relative_to(OUT.parent)}")
        line(
            f"{exported.rows} interviews, {sum(exported.repeat_rows.values())} linked repeat rows; "
            f"{len(exported.redacted_columns)} sensitive columns redacted"
        )
    finally:
        await runner.cleanup()
        project.close()

    step(8, "verify the audit log with the independent verifier")
    ok = verify_log(root / "project")
    print(f"\ndone in {time.perf_counter() - t0:.1f} s. Next: `make test` runs the whole suite.")
    return 0 if ok else 1


def verify_log(project_dir: Path) -> bool:
    from syncserver.audit_verify import verify_log as verify

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
