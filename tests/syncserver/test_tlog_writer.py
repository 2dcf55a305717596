"""The audit-log writer, syncserver.audit.tlog, checked against the independent verifier
schemas.tlog and against published known answers (docs/spec/audit-log-v1.md).
"""

from __future__ import annotations

import base64
import hashlib
import random
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import tlog as verifier
from schemas.errors import CheckpointInvalid, NoteReason
from syncserver.audit.tlog import (
    LeafStore,
    LogRangeError,
    MemoryLeafStore,
    MerkleLog,
    NoteInputInvalid,
    TlogWriteError,
    sign_checkpoint,
    sign_note,
    signer_key_id,
    verifier_key,
)


def h(hex_: str) -> bytes:
    return bytes.fromhex(hex_)


def entry(i: int) -> bytes:
    return b"synthetic audit entry %d" % i


def make_log(n: int, **kwargs: int) -> MerkleLog:
    log = MerkleLog(MemoryLeafStore(), **kwargs)
    for i in range(n):
        assert log.append(entry(i)) == i
    return log


# -- known answers (transparency-dev/merkle: testonly/constants.go, proof/verify_test.go) --

RFC_LEAVES = [h(x) for x in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                             "606162636465666768696a6b6c6d6e6f")]  # fmt: skip
RFC_ROOTS = [h(x) for x in (
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)]  # fmt: skip
RFC_INCLUSION = [
    (0, 1, []),
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip
RFC_CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]  # fmt: skip

# golang.org/x/mod/sumdb/note: the example signer key, its verifier key and signed note.
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZ"
    "SNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def go_private_key() -> Ed25519PrivateKey:
    raw = base64.b64decode(GO_SKEY.split("+", 4)[4])
    assert raw[0] == 1 and len(raw) == 33
    return Ed25519PrivateKey.from_private_bytes(raw[1:])


PROJECT = "sealsync/4a0d9a51-6f0e-4a47-9d0a-2f5b8e6c1d3e"
KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"writer test key").digest())
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"other key").digest())
VKEY = verifier_key(PROJECT, KEY.public_key())


# ======================================================================================
# Known answers
# ======================================================================================


def test_reference_roots_and_proofs() -> None:
    log = MerkleLog(MemoryLeafStore(), cache_height=1)
    for leaf in RFC_LEAVES:
        log.append(leaf)
    assert [log.root(n) for n in range(9)] == RFC_ROOTS
    for index, size, proof in RFC_INCLUSION:
        assert log.inclusion_proof(index, size) == [h(x) for x in proof]
    for size1, size2, proof in RFC_CONSISTENCY:
        assert log.consistency_proof(size1, size2) == [h(x) for x in proof]


def test_go_note_is_reproduced_byte_for_byte() -> None:
    key = go_private_key()
    assert signer_key_id("PeterNeumann", key.public_key()) == h("c74f20a3")
    assert verifier_key("PeterNeumann", key.public_key()) == GO_VKEY
    assert sign_note(GO_TEXT, "PeterNeumann", key) == GO_NOTE


def test_spec_example_is_reproduced_byte_for_byte() -> None:
    """docs/spec/audit-log-v1.md §9.4, which tests/schemas/test_tlog.py verifies."""
    seed = hashlib.sha256(b"sealsync audit-log-v1 example key").digest()
    key = Ed25519PrivateKey.from_private_bytes(seed)
    origin = "sealsync/0b5e3c1a-8f2d-4e6b-9a7c-3d1f5e2b8c4a"
    note = sign_checkpoint(origin, 8, RFC_ROOTS[8], origin, key)
    assert note == (
        f"{origin}\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\n"
        f"\u2014 {origin} kfNZybhjn1yj+7jzGms3lmkbB019Y2ihp1svA08fUbKLdIP+z1OaWfEUyvk0jTC5Q+"
        "qi5gaF6S5h28Xl0mWMmkWBxgU=\n"
    )
    assert verifier_key(origin, key.public_key()) == (
        f"{origin}+91f359c9+Ad0EU8wuOG37ls3rgxWtIgpUk1EPfd1Shtd4u4bo2r6T"
    )


# ======================================================================================
# Writer proofs against the independent verifier
# ======================================================================================


@pytest.fixture(scope="module")
def log64() -> MerkleLog:
    return make_log(64, cache_height=2)


def test_roots_match_the_verifiers_recomputation(log64: MerkleLog) -> None:
    leaves = [verifier.leaf_hash(entry(i)) for i in range(64)]
    assert [log64.leaf_hash(i) for i in range(64)] == leaves
    for size in range(65):
        assert log64.root(size) == verifier.root_from_leaves(leaves[:size])
        assert make_log(size).root() == log64.root(size)


def test_every_inclusion_proof_to_size_64_verifies(log64: MerkleLog) -> None:
    count = 0
    for size in range(1, 65):
        root = log64.root(size)
        for index in range(size):
            proof = log64.inclusion_proof(index, size)
            verifier.verify_inclusion(log64.leaf_hash(index), index, size, proof, root)
            count += 1
    assert count == 64 * 65 // 2


def test_every_consistency_proof_to_size_40_verifies(log64: MerkleLog) -> None:
    for size2 in range(41):
        for size1 in range(size2 + 1):
            proof = log64.consistency_proof(size1, size2)
            verifier.verify_consistency(size1, size2, proof, log64.root(size1), log64.root(size2))


@pytest.mark.parametrize("cache_height", [1, 2, 3, 4, 8])
def test_random_larger_proofs_verify(cache_height: int) -> None:
    n = 3000
    log = make_log(n, cache_height=cache_height)
    rng = random.Random(cache_height)
    for _ in range(150):
        size = rng.randint(1, n)
        index = rng.randrange(size)
        proof = log.inclusion_proof(index, size)
        verifier.verify_inclusion(log.leaf_hash(index), index, size, proof, log.root(size))
        size1 = rng.randint(0, size)
        verifier.verify_consistency(
            size1, size, log.consistency_proof(size1, size), log.root(size1), log.root(size)
        )


def test_cache_heights_agree() -> None:
    logs = [make_log(777, cache_height=c) for c in (1, 3, 5, 16)]
    rng = random.Random(1)
    for _ in range(50):
        size = rng.randint(1, 777)
        index = rng.randrange(size)
        size1 = rng.randint(0, size)
        answers = {
            (
                log.root(size),
                tuple(log.inclusion_proof(index, size)),
                tuple(log.consistency_proof(size1, size)),
            )
            for log in logs
        }
        assert len(answers) == 1


def test_defaults_prove_against_the_current_size() -> None:
    log = make_log(21)
    assert log.size == 21
    assert log.root() == log.root(21)
    assert log.inclusion_proof(5) == log.inclusion_proof(5, 21)
    assert log.consistency_proof(13) == log.consistency_proof(13, 21)
    assert log.consistency_proof(0) == log.consistency_proof(21) == []


def test_reopening_a_store_rebuilds_the_same_tree() -> None:
    log = make_log(1234)
    again = MerkleLog(log._store)  # the same leaves, as after a restart
    assert again.size == 1234
    assert again.root() == log.root()
    assert again.inclusion_proof(1000, 1200) == log.inclusion_proof(1000, 1200)
    again.append(entry(1234))
    log.append(entry(1234))
    assert again.root() == log.root()


class ListStore:
    """Another LeafStore, to show the protocol is all the tree needs."""

    def __init__(self) -> None:
        self.leaves: list[bytes] = []

    def append(self, leaf_hash: bytes) -> None:
        self.leaves.append(leaf_hash)

    def get(self, index: int) -> bytes:
        return self.leaves[index]

    def count(self) -> int:
        return len(self.leaves)


def test_any_leaf_store_will_do() -> None:
    store: LeafStore = ListStore()
    log = MerkleLog(store)
    for i in range(100):
        log.append(entry(i))
    assert log.root() == make_log(100).root()
    assert store.count() == 100


def test_memory_leaf_store() -> None:
    store = MemoryLeafStore()
    store.append(b"\x01" * 32)
    assert store.count() == 1 and store.get(0) == b"\x01" * 32
    with pytest.raises(IndexError):
        store.get(1)
    with pytest.raises(ValueError, match="32 bytes"):
        store.append(b"\x01")


@settings(max_examples=400, deadline=None)
@given(
    data=st.data(),
    kind=st.sampled_from(["flip", "drop", "append", "insert", "index", "root", "leaf", "swap"]),
)
def test_mutated_inclusion_proofs_never_verify(data: st.DataObject, kind: str) -> None:
    log = LOG200
    size = data.draw(st.integers(1, 200), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    proof = log.inclusion_proof(index, size)
    leaf, root = log.leaf_hash(index), log.root(size)
    if kind == "flip" and proof:
        i = data.draw(st.integers(0, len(proof) - 1))
        byte = data.draw(st.integers(0, 31))
        bit = data.draw(st.sampled_from([1, 2, 4, 8, 16, 32, 64, 128]))
        elem = bytearray(proof[i])
        elem[byte] ^= bit
        proof[i] = bytes(elem)
    elif kind == "drop" and proof:
        del proof[data.draw(st.integers(0, len(proof) - 1))]
    elif kind == "append":
        proof.append(data.draw(st.sampled_from([root, leaf, *proof] if proof else [root, leaf])))
    elif kind == "insert":
        proof.insert(data.draw(st.integers(0, len(proof))), log.leaf_hash(0))
    elif kind == "index" and size > 1:
        index = data.draw(st.integers(0, size - 1).filter(lambda i: i != index))
    elif kind == "root":
        other = data.draw(st.integers(0, 200).filter(lambda n: n != size))
        root = log.root(other)
    elif kind == "leaf":
        other = data.draw(st.integers(0, 199).filter(lambda i: i != index))
        leaf = log.leaf_hash(other)
    elif kind == "swap" and len(proof) > 1:
        i = data.draw(st.integers(0, len(proof) - 2))
        proof[i], proof[i + 1] = proof[i + 1], proof[i]
    else:
        return  # this mutation does not apply to this proof
    assert not verifier.is_included(leaf, index, size, proof, root)


@settings(max_examples=400, deadline=None)
@given(
    data=st.data(),
    kind=st.sampled_from(
        ["flip", "drop", "append", "insert", "root1", "root2", "swap_roots", "reorder"]
    ),
)
def test_mutated_consistency_proofs_never_verify(data: st.DataObject, kind: str) -> None:
    log = LOG200
    size2 = data.draw(st.integers(1, 200), label="size2")
    size1 = data.draw(st.integers(1, size2), label="size1")
    proof = log.consistency_proof(size1, size2)
    root1, root2 = log.root(size1), log.root(size2)
    if kind == "flip" and proof:
        i = data.draw(st.integers(0, len(proof) - 1))
        elem = bytearray(proof[i])
        elem[data.draw(st.integers(0, 31))] ^= data.draw(st.sampled_from([1, 16, 128]))
        proof[i] = bytes(elem)
    elif kind == "drop" and proof:
        del proof[data.draw(st.integers(0, len(proof) - 1))]
    elif kind == "append":
        proof.append(data.draw(st.sampled_from([root1, root2, log.leaf_hash(0)])))
    elif kind == "insert":
        proof.insert(data.draw(st.integers(0, len(proof))), root1)
    elif kind == "root1":
        other = data.draw(st.integers(0, 200).filter(lambda n: n != size1))
        root1 = log.root(other)
    elif kind == "root2":
        other = data.draw(st.integers(0, 200).filter(lambda n: n != size2))
        root2 = log.root(other)
    elif kind == "swap_roots" and size1 != size2:
        root1, root2 = root2, root1
    elif kind == "reorder" and len(proof) > 1:
        i = data.draw(st.integers(0, len(proof) - 2))
        if proof[i] == proof[i + 1]:
            return
        proof[i], proof[i + 1] = proof[i + 1], proof[i]
    else:
        return
    assert not verifier.is_consistent(size1, size2, proof, root1, root2)


LOG200 = make_log(200)


# ======================================================================================
# Range errors
# ======================================================================================


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda log: log.inclusion_proof(10), "no leaf 10 in a tree of size 10"),
        (lambda log: log.inclusion_proof(3, 3), "no leaf 3 in a tree of size 3"),
        (lambda log: log.inclusion_proof(-1), "no leaf -1"),
        (lambda log: log.inclusion_proof(True), "no leaf True"),
        (lambda log: log.inclusion_proof(0, 11), "tree size 11 is not in 0..10"),
        (lambda log: log.inclusion_proof(0, 0), "no leaf 0 in a tree of size 0"),
        (lambda log: log.root(11), "tree size 11 is not in 0..10"),
        (lambda log: log.root(-1), "tree size -1 is not in 0..10"),
        (lambda log: log.consistency_proof(11), "first tree size 11"),
        (lambda log: log.consistency_proof(3, 2), "first tree size 3 is larger than second 2"),
        (lambda log: log.consistency_proof(1, 11), "second tree size 11"),
        (lambda log: log.leaf_hash(10), "no leaf 10 in a log of size 10"),
    ],
)
def test_range_errors(call: object, message: str) -> None:
    log = make_log(10)
    with pytest.raises(LogRangeError, match=message) as e:
        call(log)  # type: ignore[operator]
    assert e.value.status == 400


def test_bad_leaf_hash_is_refused_and_nothing_is_stored() -> None:
    log = make_log(3)
    for bad in (b"", b"\x00" * 31, "00" * 32):
        with pytest.raises(TlogWriteError, match="32 bytes"):
            log.append_leaf_hash(bad)  # type: ignore[arg-type]
    assert log.size == 3 and log._store.count() == 3


def test_cache_height_is_checked() -> None:
    with pytest.raises(ValueError, match="cache_height"):
        MerkleLog(MemoryLeafStore(), cache_height=0)


# ======================================================================================
# Checkpoints
# ======================================================================================


def test_checkpoint_round_trip_and_proofs_against_it() -> None:
    log = make_log(1000)
    old = sign_checkpoint(PROJECT, 600, log.root(600), PROJECT, KEY)
    new = sign_checkpoint(PROJECT, log.size, log.root(), PROJECT, KEY)
    cp_old = verifier.verify_checkpoint(old, VKEY, origin=PROJECT)
    cp_new = verifier.verify_checkpoint(new, VKEY, origin=PROJECT)
    assert (cp_new.origin, cp_new.size, cp_new.root_hash, cp_new.extensions) == (
        PROJECT,
        1000,
        log.root(),
        (),
    )
    verifier.verify_consistency(
        cp_old.size,
        cp_new.size,
        log.consistency_proof(cp_old.size, cp_new.size),
        cp_old.root_hash,
        cp_new.root_hash,
    )
    verifier.verify_inclusion(
        verifier.leaf_hash(entry(599)), 599, cp_old.size, log.inclusion_proof(599, 600),
        cp_old.root_hash,
    )  # fmt: skip


def test_an_auditor_recomputes_the_root_from_the_entries() -> None:
    log = make_log(5000)
    checkpoint = verifier.verify_checkpoint(
        sign_checkpoint(PROJECT, log.size, log.root(), PROJECT, KEY), VKEY
    )
    hasher = verifier.TreeHasher()
    hasher.extend_entries(entry(i) for i in range(checkpoint.size))
    assert hasher.root() == checkpoint.root_hash


def test_empty_log_checkpoint() -> None:
    log = make_log(0)
    note = sign_checkpoint(PROJECT, 0, log.root(), PROJECT, KEY)
    assert verifier.verify_checkpoint(note, VKEY).root_hash == verifier.EMPTY_ROOT


def test_checkpoint_with_extensions() -> None:
    root = b"\x07" * 32
    note = sign_checkpoint(PROJECT, 1, root, PROJECT, KEY, extensions=["a b", "c"])
    assert note.startswith(f"{PROJECT}\n1\n{base64.b64encode(root).decode()}\na b\nc\n\n\u2014 ")
    assert verifier.verify_checkpoint(note, VKEY).extensions == ("a b", "c")


def test_writer_and_verifier_agree_on_key_ids() -> None:
    parsed = verifier.parse_verifier_key(VKEY)
    assert parsed.key_id == signer_key_id(PROJECT, KEY.public_key())
    assert parsed.key_id == verifier.key_id(PROJECT, parsed.public_key)
    assert parsed.vkey == VKEY


def test_checkpoint_signed_by_another_key_fails() -> None:
    note = sign_checkpoint(PROJECT, 1, b"\x07" * 32, PROJECT, OTHER_KEY)
    with pytest.raises(CheckpointInvalid) as e:
        verifier.verify_checkpoint(note, VKEY)
    assert e.value.reason is NoteReason.NO_KNOWN_SIGNATURE


def test_tampering_with_any_byte_of_a_checkpoint_fails() -> None:
    log = make_log(77)
    data = sign_checkpoint(PROJECT, 77, log.root(), PROJECT, KEY).encode()
    verifier.verify_checkpoint(data, VKEY)
    for i in range(len(data)):
        for delta in (1, 0x20, 0x80, 0xFF):
            tampered = data[:i] + bytes([data[i] ^ delta]) + data[i + 1 :]
            with pytest.raises(CheckpointInvalid):
                verifier.verify_checkpoint(tampered, VKEY)


def test_tampered_size_or_root_with_the_old_signature_fails() -> None:
    log = make_log(77)
    note = sign_checkpoint(PROJECT, 77, log.root(), PROJECT, KEY)
    root = base64.b64encode(log.root()).decode()
    for tampered in (
        note.replace("\n77\n", "\n78\n"),
        note.replace(root, base64.b64encode(log.root(76)).decode()),
    ):
        with pytest.raises(CheckpointInvalid) as e:
            verifier.verify_checkpoint(tampered, VKEY)
        assert e.value.reason is NoteReason.SIGNATURE_INVALID


_UUIDS = st.uuids().map(lambda u: f"sealsync/{u}")


@settings(max_examples=60, deadline=None)
@given(
    origin=_UUIDS,
    size=st.integers(1, 2**64 - 1),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1)),
)
def test_sign_verify_round_trip(origin: str, size: int, root: bytes, extensions: list[str]) -> None:
    note = sign_checkpoint(origin, size, root, origin, KEY, extensions=extensions)
    vkey = verifier_key(origin, KEY.public_key())
    cp = verifier.verify_checkpoint(note, vkey, origin=origin)
    assert (cp.origin, cp.size, cp.root_hash, cp.extensions) == (
        origin,
        size,
        root,
        tuple(extensions),
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"origin": "", "signer_name": ""}, "must be non-empty"),
        ({"origin": "sealsync/a b", "signer_name": "sealsync/a b"}, "without spaces"),
        ({"origin": "sealsync/a+b", "signer_name": "sealsync/a+b"}, "without spaces or"),
        ({"origin": "sealsync/a\nb", "signer_name": "sealsync/a\nb"}, "without spaces"),
        ({"origin": "sealsync/a\rb", "signer_name": "sealsync/a\rb"}, "without spaces"),
        ({"signer_name": "sealsync/other"}, "must be the checkpoint's origin"),
        ({"size": -1}, "tree size"),
        ({"size": 2**64}, "tree size"),
        ({"size": True}, "tree size"),
        ({"root": b"\x00" * 31}, "32 bytes"),
        ({"root": "00" * 32}, "32 bytes"),
        ({"size": 0}, "empty tree"),
        ({"extensions": [""]}, "extension lines"),
        ({"extensions": ["a\nb"]}, "extension lines"),
        ({"extensions": ["a\rb"]}, "control character"),
        ({"extensions": ["\x00"]}, "control character"),
        ({"extensions": ["x" * (1 << 20)]}, "larger than 1 MiB"),
        ({"ed25519_private_key": b"\x00" * 32}, "Ed25519PrivateKey"),
    ],
)
def test_sign_checkpoint_refuses_what_a_verifier_would_reject(
    kwargs: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {
        "origin": PROJECT,
        "size": 5,
        "root": b"\x01" * 32,
        "signer_name": PROJECT,
        "ed25519_private_key": KEY,
    }
    args.update(kwargs)
    with pytest.raises(NoteInputInvalid, match=message) as e:
        sign_checkpoint(**args)  # type: ignore[arg-type]
    assert isinstance(e.value, TlogWriteError)


@pytest.mark.parametrize(
    ("text", "name", "message"),
    [
        ("no newline", "n", "must end with a newline"),
        ("", "n", "must end with a newline"),
        ("tab\there\n", "n", "control character"),
        ("crlf\r\n", "n", "control character"),
        ("lone \ud800 surrogate\n", "n", "valid Unicode"),
        ("fine\n", "two words", "without spaces"),
        ("fine\n", "a\u00a0b", "without spaces"),
    ],
)
def test_sign_note_refusals(text: str, name: str, message: str) -> None:
    with pytest.raises(NoteInputInvalid, match=message):
        sign_note(text, name, KEY)


def test_notes_with_blank_lines_in_the_text_verify() -> None:
    text = "first\n\nthird\n"
    key = go_private_key()
    note = verifier.open_note(
        sign_note(text, "PeterNeumann", key), [verifier.parse_verifier_key(GO_VKEY)]
    )
    assert note.text == text


# ======================================================================================
# Performance sanity (about 0.2 s each here; the 10 s limits leave 50x headroom)
# ======================================================================================


def test_hundred_thousand_appends_and_proofs_are_fast() -> None:
    start = time.perf_counter()
    log = MerkleLog(MemoryLeafStore())
    for i in range(100_000):
        log.append(entry(i))
    appended = time.perf_counter() - start
    root = log.root()
    rng = random.Random(7)
    start = time.perf_counter()
    for _ in range(1000):
        index = rng.randrange(100_000)
        proof = log.inclusion_proof(index)
        assert len(proof) <= 17
        verifier.verify_inclusion(log.leaf_hash(index), index, 100_000, proof, root)
        size1 = rng.randint(1, 100_000)
        verifier.verify_consistency(
            size1, 100_000, log.consistency_proof(size1), log.root(size1), root
        )
    proved = time.perf_counter() - start
    assert appended < 10, appended
    assert proved < 10, proved
