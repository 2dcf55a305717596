"""Network observer (docs/threat-model.md): what a bundle shows to whoever holds its
bytes without the project's private key, on the wire without TLS or copied anywhere."""

from __future__ import annotations

import io

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from security_helpers import FORM, NAME, NARRATIVE, answers, make_record, seal_for

from schemas.bundle import read_header
from schemas.ids import new_id
from syncserver.project import Project


def test_a_bundle_shows_no_answer_device_form_or_record_id(project: Project) -> None:
    """Only the header is clear (bundle id, project id, recipient key id): not an
    answer, nor the device that sealed it, nor its key, the form or the record ids."""
    key = Ed25519PrivateKey.generate()
    device_id = new_id()
    recs = [make_record(FORM, answers(i)) for i in range(3)]
    data = seal_for(project, key, device_id, recs)
    hidden = [
        NAME.encode(),
        NAME.encode("utf-16-le"),
        NARRATIVE.encode(),
        FORM.id.encode(),
        device_id.bytes,
        str(device_id).encode(),
        key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw),
        *(r.record_id.bytes for r in recs),
    ]
    for needle in hidden:
        assert needle not in data
    header = read_header(io.BytesIO(data))
    assert header.project_id == project.project_id  # what the header does show
