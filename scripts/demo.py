"""`make demo`: the main job on the embedded default, at this stage of the project.

Generates a throwaway project key and device key, fills three synthetic interviews of the
shipped escapee-interview form, seals them into one bundle (the device side), opens it
again with the project key and validates every record (the server side), shows that a
single flipped bit is rejected, and prints what it did. Synthetic data only.
Later issues grow this into the full flow: server, enrollment, upload, receipt.
"""

from __future__ import annotations

import datetime
import io
import random
import sys
import time
import uuid
from pathlib import Path

from schemas.bundle import DeviceKey, RecipientKey, open_bundle, read_header, seal_bundle
from schemas.errors import BundleInvalid
from schemas.forms import shipped_form
from schemas.ids import new_id
from schemas.survey import Validator, form_digest
from schemas.survey.synth import synthesize
from schemas.wire import Record

OUT = Path(__file__).resolve().parent.parent / "demo-output"


def line(label: str, text: str) -> None:
    print(f"  {label:<13} {text}")


def main() -> int:
    t0 = time.perf_counter()
    form = shipped_form("escapee-interview")
    validator = Validator(form)
    print("sealsync demo: survey language v1 and bundle format v1 (synthetic data only)\n")
    line(
        "form",
        f"{form.id} v{form.version}, languages {'/'.join(form.languages)}, "
        f"{len(form.walk())} items, digest {form_digest(form)[:16]}…",
    )
    line("", f"{form.title['ko']} / {form.title['en']}")

    project = RecipientKey.generate()
    device = DeviceKey.generate(new_id())
    project_id = uuid.uuid4()
    line("project key", f"X25519, key id {project.public().key_id.hex()} (throwaway, in memory)")
    line("device key", f"Ed25519, device {device.device_id} (throwaway, in memory)")

    rng = random.Random()
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    records = []
    for _ in range(3):
        answers = synthesize(form, rng, fixed={"consent": "yes"})
        records.append(
            Record(
                record_id=new_id(),
                version=1,
                form_id=form.id,
                form_version=form.version,
                created_at=now,
                modified_at=now,
                lang=rng.choice(form.languages),
                answers=answers,
            )
        )
    sensitive = {it.name for it, _ in form.walk() if it.sensitive}
    print()
    line("interviews", "3 synthetic responses, each checked against the form while filled")
    for i, r in enumerate(records, 1):
        shown = [
            f"{k}={v}"
            for k, v in r.answers.items()
            if k not in sensitive and isinstance(v, str | int | bool) and k != "consent"
        ][:3]
        hidden = sorted(k for k in r.answers if k in sensitive)
        episodes = len(r.answers.get("detention", []))
        line(
            f"  #{i} [{r.lang}]",
            f"{len(r.answers)} answers; e.g. {', '.join(shown)}; "
            f"{len(hidden)} sensitive withheld from display; detention episodes: {episodes}",
        )

    OUT.mkdir(exist_ok=True)
    buf = io.BytesIO()
    sealed = seal_bundle(
        buf,
        records=records,
        device=device,
        recipients=[project.public()],
        project_id=project_id,
        device_seq=1,
    )
    data = buf.getvalue()
    path = OUT / f"{sealed.bundle_id}.bundle"
    path.write_bytes(data)
    print()
    line("sealed", f"{path.relative_to(OUT.parent)}")
    line("", f"{sealed.size:,} bytes, sha256 {sealed.sha256.hex()[:32]}…")
    header = read_header(io.BytesIO(data))
    line("", f"cleartext header: bundle id {header.bundle_id}, project {header.project_id}")
    line("", "the file key is gone: nothing the device holds can open this bundle")

    with path.open("rb") as f:
        opened = open_bundle(
            f,
            recipient=project,
            device_keys=lambda d: device.public if d == device.device_id else None,
        )
    line(
        "opened",
        f"header MAC, {len(opened.manifest.records)} record hashes and the signature of "
        f"device {opened.manifest.device_id} verified",
    )
    assert opened.records == tuple(records), "records changed in transit"
    line("", "the records read back are exactly the records sealed")
    invalid = sum(1 for r in opened.records if validator.validate(r.answers))
    line(
        "validated",
        f"{len(opened.records) - invalid}/{len(opened.records)} records valid "
        f"against {form.id} v{form.version}",
    )

    tampered = bytearray(data)
    pos = rng.randrange(len(tampered))
    tampered[pos] ^= 0x01
    try:
        open_bundle(
            io.BytesIO(bytes(tampered)), recipient=project, device_keys=lambda d: device.public
        )
        line("tamper check", "FAILED: a tampered bundle opened")
        return 1
    except BundleInvalid as e:
        line("tamper check", f"one bit flipped at byte {pos:,}: rejected ('{e}')")
        line("", f"(private reason, for the server log only: {e.reason.value})")
    try:
        open_bundle(
            io.BytesIO(data), recipient=RecipientKey.generate(), device_keys=lambda d: device.public
        )
        line("wrong key", "FAILED: opened with another key")
        return 1
    except BundleInvalid:
        line("wrong key", "another project's key cannot open it")
    print(f"\ndone in {time.perf_counter() - t0:.2f} s. Next: `make test` runs the whole suite.")
    return 0 if invalid == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
