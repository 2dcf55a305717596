"""Adversarial bundles and requests against the upload endpoint of a real server
(docs/spec/api-v1.md §3–§5), served on 127.0.0.1 with its ingest worker process.

Property, for every mutated bundle (``adv_mutations.py``) uploaded by an enrolled device: no
answer is a 5xx; the upload is refused, or received and then either quarantined (adding
no record) or accepted, adding exactly its valid records that were not yet stored (the
oracle, ``adv_harness.expected_delta``, opens and validates without the server's ingest
code); never a partial merge; and the audit log still verifies after every upload.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from adv_harness import LiveServer, expected_delta, fresh_records, header_id
from adv_mutations import Keys, mutants, take_apart
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.uploader import Response, SyncDeviceClient, raw_request

from schemas.wire import UploadCreate

#: Uploads per property in ``make test``; bench/fuzz.py runs many more.
EXAMPLES = 60

ANSWERS = st.dictionaries(
    st.sampled_from(["consent", "household_size", "detention", "sex", "birth_year", "zzz"]),
    st.recursive(
        st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats()
        | st.text(max_size=10) | st.sampled_from(["yes", "male", "2024-01-01"]),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3),
        max_leaves=8,
    ),
    max_size=4,
)  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with LiveServer(tmp_path_factory.mktemp("adv-upload") / "project") as srv:
        yield srv


@pytest.fixture(scope="module")
def uploader(server: LiveServer) -> Iterator[SyncDeviceClient]:
    up = server.uploader()
    yield up
    up.close()


def keys_for(server: LiveServer) -> Keys:
    return Keys(
        server.kit_id,
        server.kit_key,
        Ed25519PrivateKey.generate(),
        uuid.uuid4(),
        server.project.identity.recipient_public,
    )


def upload_and_check(
    server: LiveServer, uploader: SyncDeviceClient, data: bytes, bundle_id: uuid.UUID
) -> tuple[list[Response], int]:
    """Upload ``data`` as ``bundle_id``; check the property; return answers and records
    added."""
    before = server.record_keys()
    quarantined_before = server.count("SELECT COUNT(*) FROM quarantine")[0][0]
    answers = uploader.upload(bundle_id, data)
    for r in answers:
        assert r.status < 500, (r.status, r.body[:300])
        if r.status >= 400:
            assert set(msgspec.json.decode(r.body)["error"]) >= {"code", "message"}
    after = server.record_keys()
    added = len(after - before)
    assert before <= after  # nothing stored before is ever lost or rewritten
    if answers[-1].status == 200:  # received: a receipt
        want, opens = expected_delta(server, data, bundle_id, before, uploader.device_id)
        assert added == want, f"partial merge: {added} of {want} records"
        [(state,)] = server.count(
            "SELECT state FROM bundles WHERE bundle_id = ?", (bundle_id.bytes,)
        )
        if not opens:
            assert state == "quarantined"
            assert server.count("SELECT COUNT(*) FROM quarantine")[0][0] > quarantined_before
        else:
            assert state in ("accepted", "quarantined")
    else:
        assert added == 0
    server.audit_ok()
    return answers, added


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_mutated_uploads_are_refused_or_quarantined_never_half_merged(
    server: LiveServer, uploader: SyncDeviceClient, data: st.DataObject
) -> None:
    rng = random.Random(data.draw(st.integers(0, 2**32), label="seed"))
    bases = [
        server.seal(fresh_records(rng, 1)),
        server.seal(fresh_records(rng, 3, broken=True)),  # one record breaks the form
    ]
    parts = [take_apart(b, server.project.identity.recipient) for b in bases]
    m = data.draw(mutants(bases, parts, keys_for(server), ANSWERS), label="mutant")
    bid = header_id(m.data)
    if bid is None or data.draw(st.integers(0, 9), label="other id") == 0:
        bid = uuid.uuid4()  # a header too broken to name it, or a lie about the id
    upload_and_check(server, uploader, m.data, bid)


def test_a_legitimate_partly_invalid_bundle_adds_exactly_its_valid_records(
    server: LiveServer, uploader: SyncDeviceClient
) -> None:
    """The oracle's positive case: without it the property above could hold vacuously."""
    data = server.seal(fresh_records(random.Random(11), 3, broken=True))
    answers, added = upload_and_check(server, uploader, data, header_id(data))  # type: ignore[arg-type]
    assert answers[-1].status == 200 and added == 2


def test_a_bundle_uploaded_under_another_id_is_quarantined_whole(
    server: LiveServer, uploader: SyncDeviceClient
) -> None:
    data = server.seal(fresh_records(random.Random(12), 2))
    bid = uuid.uuid4()
    answers, added = upload_and_check(server, uploader, data, bid)
    assert answers[-1].status == 200 and added == 0
    assert server.count("SELECT reason FROM quarantine WHERE bundle_id = ?", (bid.bytes,)) == [
        ("bundle could not be opened: bundle id is not the one it was uploaded as",)
    ]


def test_a_bundle_uploaded_by_another_device_is_quarantined_whole(server: LiveServer) -> None:
    """The kit's bundle, uploaded by the courier (another enrolled device): refused, so
    that a revoked device cannot pass its bundles to one that is not."""
    data = server.seal(fresh_records(random.Random(14), 2))
    courier = SyncDeviceClient(server.base, server.courier_id, server.courier_key)
    try:
        bid = header_id(data)
        assert bid is not None
        answers, added = upload_and_check(server, courier, data, bid)
    finally:
        courier.close()
    assert answers[-1].status == 200 and added == 0
    assert server.count("SELECT reason FROM quarantine WHERE bundle_id = ?", (bid.bytes,)) == [
        (
            f"the bundle was sealed by device {server.kit_id}, not by the device that uploaded"
            f" it ({server.courier_id})",
        )
    ]


def _create(uploader: SyncDeviceClient, bid: uuid.UUID, size: int, sha: bytes) -> Response:
    body = msgspec.json.encode(UploadCreate(bundle_id=bid, size=size, sha256=sha))
    return uploader.request("POST", "/v1/uploads", body)


def test_complete_before_any_byte_is_422_not_500(
    server: LiveServer, uploader: SyncDeviceClient
) -> None:
    """Found by this suite: ``complete`` on an upload that has no bytes yet (or whose
    bytes were discarded after a SHA-256 mismatch) opened a part file that does not
    exist, and the server answered 500."""
    data = server.seal(fresh_records(random.Random(13), 1))
    bid = header_id(data)
    assert bid is not None
    assert _create(uploader, bid, len(data), hashlib.sha256(data).digest()).status == 201
    r = uploader.request("POST", f"/v1/uploads/{bid}/complete")
    assert r.status == 422, r.body
    assert msgspec.json.decode(r.body)["error"]["message"] == f"received 0 of {len(data)} bytes"
    # The upload can still go through from offset 0.
    answers, added = upload_and_check(server, uploader, data, bid)
    assert answers[-1].status == 200 and added == 1


def test_complete_again_after_a_hash_mismatch_is_422_not_500(
    server: LiveServer, uploader: SyncDeviceClient
) -> None:
    data = server.seal(fresh_records(random.Random(14), 1))
    bid = uuid.uuid4()
    assert _create(uploader, bid, len(data), bytes(32)).status == 201
    r = uploader.request("PATCH", f"/v1/uploads/{bid}", data, {"Upload-Offset": "0"})
    assert r.status == 204
    first = uploader.request("POST", f"/v1/uploads/{bid}/complete")
    again = uploader.request("POST", f"/v1/uploads/{bid}/complete")
    assert (first.status, again.status) == (422, 422), again.body
    assert server.count("SELECT COUNT(*) FROM bundles WHERE bundle_id = ?", (bid.bytes,)) == [(0,)]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/uploads", b"{}"),
        ("GET", f"/v1/uploads/{uuid.UUID(int=7)}", b""),
        ("PATCH", f"/v1/uploads/{uuid.UUID(int=7)}", b"x"),
        ("POST", f"/v1/uploads/{uuid.UUID(int=7)}/complete", b""),
        ("GET", "/v1/forms", b""),
    ],
)
def test_unsigned_or_wrongly_signed_device_requests_are_401(
    server: LiveServer, uploader: SyncDeviceClient, method: str, path: str, body: bytes
) -> None:
    """What schemathesis' ``ignored_auth`` check would test, had it our signatures."""
    headers = {"Upload-Offset": "0"}
    assert raw_request(uploader.conn, method, path, body, headers).status == 401
    stranger = SyncDeviceClient(server.base, server.courier_id, Ed25519PrivateKey.generate())
    try:
        assert stranger.request(method, path, body, headers).status == 401
    finally:
        stranger.close()


@pytest.mark.parametrize(
    ("method", "path", "signed"),
    [
        ("POST", "/v1/uploads", True),
        ("PATCH", f"/v1/uploads/{uuid.UUID(int=8)}", True),
        ("POST", "/v1/enroll", False),
        ("POST", f"/v1/admin/records/{uuid.UUID(int=8)}/review", False),
    ],
)
@pytest.mark.parametrize("depth", [10_000, 200_000])
def test_deeply_nested_json_bodies_are_refused_with_4xx(
    server: LiveServer, uploader: SyncDeviceClient, method: str, path: str, signed: bool, depth: int
) -> None:
    """A request body nested 200,000 arrays deep (about 400 KB): a clean 4xx."""
    body = b'{"bundle_id": ' + b"[" * depth + b"]" * depth + b"}"
    if signed:
        r = uploader.request(method, path, body, {"Upload-Offset": "0"})
    else:
        r = raw_request(uploader.conn, method, path, body, {"Authorization": "Bearer x"})
    assert 400 <= r.status < 500, r.body[:200]
    assert set(msgspec.json.decode(r.body)["error"]) >= {"code", "message"}


def test_the_server_survives_it_all(server: LiveServer, uploader: SyncDeviceClient) -> None:
    """After everything above, a clean bundle is still accepted and the log verifies."""
    data = server.seal(fresh_records(random.Random(15), 2))
    answers, added = upload_and_check(server, uploader, data, header_id(data))  # type: ignore[arg-type]
    assert answers[-1].status == 200 and added == 2
    assert Path(server.project.config.sqlite_path).exists()
