"""The audit-log verifier, schemas.tlog (docs/spec/audit-log-v1.md).

Known answers come from outside this project only: the RFC 6962 reference tree and its
proofs as published by transparency-dev/merkle (testonly/constants.go,
proof/verify_test.go), and the Go sumdb/note example note. Notes for the rejection tests
are signed by a small signer written here with hashlib and cryptography, so that these
tests depend on neither half of the code under test for their inputs. The writer's
output is checked against this verifier in tests/syncserver/test_tlog_writer.py.
"""

from __future__ import annotations

import base64
import hashlib
import pathlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.errors import (
    CheckpointInvalid,
    LogProofInvalid,
    NoteInvalid,
    NoteReason,
    SchemaError,
    TlogError,
    VerifierKeyInvalid,
)
from schemas.tlog import (
    EMPTY_ROOT,
    MAX_NOTE_BYTES,
    Checkpoint,
    NoteVerifier,
    TreeHasher,
    is_consistent,
    is_included,
    key_id,
    leaf_hash,
    node_hash,
    open_note,
    parse_checkpoint,
    parse_verifier_key,
    root_from_leaves,
    verify_checkpoint,
    verify_consistency,
    verify_inclusion,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]


def h(hex_: str) -> bytes:
    return bytes.fromhex(hex_)


# -- RFC 6962 reference tree (transparency-dev/merkle testonly/constants.go) ------------

LEAVES = [h(x) for x in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                          "606162636465666768696a6b6c6d6e6f")]  # fmt: skip
ROOTS = [h(x) for x in (
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
# Leaf hashes of the leaves above (level 0 of NodeHashes() in constants.go).
LEAF_HASHES_0_1 = [
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
]
# (leaf index, tree size, proof) from proof/verify_test.go (which numbers leaves from 1).
INCLUSION = [
    (0, 1, []),
    (0, 8, [h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")]),
    (5, 8, [h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]),
    (2, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (1, 5, [h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")]),
]  # fmt: skip
CONSISTENCY = [
    (1, 1, []),
    (1, 8, [h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")]),
    (6, 8, [h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]),
    (2, 5, [h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")]),
    (6, 7, [h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]),
]  # fmt: skip
SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")

# -- Go golang.org/x/mod/sumdb/note example -------------------------------------------

GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZ"
    "SNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)

# -- the example of docs/spec/audit-log-v1.md §9.4 --------------------------------------

SPEC_ORIGIN = "sealsync/0b5e3c1a-8f2d-4e6b-9a7c-3d1f5e2b8c4a"
SPEC_VKEY = f"{SPEC_ORIGIN}+91f359c9+Ad0EU8wuOG37ls3rgxWtIgpUk1EPfd1Shtd4u4bo2r6T"
SPEC_NOTE = (
    f"{SPEC_ORIGIN}\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\n"
    f"\u2014 {SPEC_ORIGIN} kfNZybhjn1yj+7jzGms3lmkbB019Y2ihp1svA08fUbKLdIP+z1OaWfEUyvk0jTC5Q+"
    "qi5gaF6S5h28Xl0mWMmkWBxgU=\n"
)


# -- a test-local signer (independent of both halves) ------------------------------------


class Key:
    """A synthetic Ed25519 log key, deterministic from a label."""

    def __init__(self, name: str, label: str = "test key") -> None:
        seed = hashlib.sha256(label.encode()).digest()
        self.name = name
        self.private = Ed25519PrivateKey.from_private_bytes(seed)
        self.public = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.id = hashlib.sha256(name.encode() + b"\n\x01" + self.public).digest()[:4]
        b64 = base64.b64encode(b"\x01" + self.public).decode()
        self.vkey = f"{name}+{self.id.hex()}+{b64}"

    def line(self, text: str, *, as_name: str | None = None, as_id: bytes | None = None) -> str:
        sig = self.private.sign(text.encode())
        blob = base64.b64encode((as_id or self.id) + sig).decode()
        return f"\u2014 {as_name or self.name} {blob}\n"

    def sign(self, text: str) -> str:
        return text + "\n" + self.line(text)


ORIGIN = "sealsync/4a0d9a51-6f0e-4a47-9d0a-2f5b8e6c1d3e"
LOG = Key(ORIGIN, "log key")
OTHER = Key(ORIGIN, "another key with the same name")
WITNESS = Key("witness.example/w1", "witness key")
R8 = base64.b64encode(ROOTS[8]).decode()
BODY = f"{ORIGIN}\n8\n{R8}\n"


def reason_of(excinfo: pytest.ExceptionInfo[NoteInvalid]) -> NoteReason:
    return excinfo.value.reason


# ======================================================================================
# Hashing and tree heads
# ======================================================================================


def test_leaf_and_node_hash_are_domain_separated() -> None:
    assert leaf_hash(b"") == LEAF_HASHES_0_1[0] == hashlib.sha256(b"\x00").digest()
    assert leaf_hash(b"\x00") == LEAF_HASHES_0_1[1]
    assert node_hash(LEAF_HASHES_0_1[0], LEAF_HASHES_0_1[1]) == ROOTS[2]
    assert EMPTY_ROOT == ROOTS[0]


@pytest.mark.parametrize("n", range(9))
def test_reference_roots(n: int) -> None:
    leaves = [leaf_hash(x) for x in LEAVES[:n]]
    assert root_from_leaves(leaves) == ROOTS[n]
    hasher = TreeHasher()
    hasher.extend_entries(LEAVES[:n])
    assert hasher.size == n
    assert hasher.root() == ROOTS[n]
    one_by_one = TreeHasher()
    for leaf in leaves:
        one_by_one.append(leaf)
    assert one_by_one.root() == ROOTS[n]


def test_tree_hasher_matches_definition_for_every_size_to_300() -> None:
    leaves = [hashlib.sha256(b"leaf %d" % i).digest() for i in range(300)]
    hasher = TreeHasher()
    assert hasher.root() == EMPTY_ROOT
    for n, leaf in enumerate(leaves, start=1):
        hasher.append(leaf)
        assert hasher.root() == root_from_leaves(leaves[:n]), n


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(min_size=32, max_size=32), max_size=80))
def test_tree_hasher_equals_root_from_leaves(leaves: list[bytes]) -> None:
    hasher = TreeHasher()
    for leaf in leaves:
        hasher.append(leaf)
    assert hasher.root() == root_from_leaves(leaves)


@pytest.mark.parametrize("bad", [b"", b"\x00" * 31, b"\x00" * 33, "00" * 32])
def test_tree_inputs_must_be_32_byte_hashes(bad: object) -> None:
    with pytest.raises(LogProofInvalid, match="32-byte"):
        TreeHasher().append(bad)  # type: ignore[arg-type]
    with pytest.raises(LogProofInvalid, match="leaf hash 1"):
        root_from_leaves([ROOTS[1], bad])  # type: ignore[list-item]


# ======================================================================================
# Inclusion proofs
# ======================================================================================


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_reference_inclusion_proofs_verify(index: int, size: int, proof: list[bytes]) -> None:
    verify_inclusion(leaf_hash(LEAVES[index]), index, size, proof, ROOTS[size])
    assert is_included(leaf_hash(LEAVES[index]), index, size, proof, ROOTS[size])


def _inclusion_probes(
    index: int, size: int, proof: list[bytes], root: bytes, leaf: bytes
) -> list[tuple[str, tuple[bytes, int, int, list[bytes], bytes]]]:
    """The corruptions of transparency-dev/merkle's corruptInclusionProof."""
    probes = [
        ("index + 1", (leaf, index + 1, size, proof, root)),
        ("index ^ 2", (leaf, index ^ 2, size, proof, root)),
        ("size * 2", (leaf, index, size * 2, proof, root)),
        ("size / 2", (leaf, index, size // 2, proof, root)),
        ("wrong leaf", (leaf_hash(b"WrongLeaf"), index, size, proof, root)),
        ("empty root", (leaf, index, size, proof, EMPTY_ROOT)),
        ("random root", (leaf, index, size, proof, SOME_HASH)),
        ("trailing garbage", (leaf, index, size, [*proof, b""], root)),
        ("trailing root", (leaf, index, size, [*proof, root], root)),
        ("preceding garbage", (leaf, index, size, [b"", *proof], root)),
        ("preceding root", (leaf, index, size, [root, *proof], root)),
    ]
    if index > 0:
        probes.append(("index - 1", (leaf, index - 1, size, proof, root)))
    for i in range(len(proof)):
        wrong = list(proof)
        wrong[i] = bytes([wrong[i][0] ^ 8]) + wrong[i][1:]
        probes.append((f"bit flip in proof[{i}]", (leaf, index, size, wrong, root)))
    if proof:
        probes.append(("removed component", (leaf, index, size, proof[:-1], root)))
    if len(proof) > 1:
        probes.append(
            ("inserted component", (leaf, index, size, [proof[0], SOME_HASH, *proof[1:]], root))
        )
    return probes


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION[1:])
def test_corrupted_reference_inclusion_proofs_fail(
    index: int, size: int, proof: list[bytes]
) -> None:
    for what, args in _inclusion_probes(index, size, proof, ROOTS[size], leaf_hash(LEAVES[index])):
        with pytest.raises(LogProofInvalid):
            verify_inclusion(*args)
        assert not is_included(*args), what


def test_single_entry_inclusion() -> None:
    leaf = leaf_hash(b"data")
    verify_inclusion(leaf, 0, 1, [], leaf)
    for lh, root in [(leaf, b""), (b"", leaf), (b"", b"")]:
        with pytest.raises(LogProofInvalid, match="32-byte hash"):
            verify_inclusion(lh, 0, 1, [], root)


@pytest.mark.parametrize(("index", "size"), [(0, 0), (1, 0), (1, 1), (2, 1)])
def test_index_outside_tree_fails(index: int, size: int) -> None:
    with pytest.raises(LogProofInvalid, match="is not in a tree of size"):
        verify_inclusion(SOME_HASH, index, size, [], EMPTY_ROOT)


@pytest.mark.parametrize(
    ("index", "size", "proof", "message"),
    [
        (-1, 8, [], "leaf index is not an integer"),
        (True, 8, [], "leaf index is not an integer"),
        (0, 2**64, [], "tree size is not an integer"),
        (0, 8.0, [], "tree size is not an integer"),
        (0, 8, SOME_HASH, "must be a list of hashes"),
        (0, 8, [SOME_HASH] * 131, "more than any tree needs"),
        (0, 8, ["ab" * 32], r"inclusion proof\[0\] is not a 32-byte hash"),
    ],
)
def test_inclusion_inputs_are_checked(
    index: object, size: object, proof: object, message: str
) -> None:
    with pytest.raises(LogProofInvalid, match=message):
        verify_inclusion(SOME_HASH, index, size, proof, SOME_HASH)  # type: ignore[arg-type]


def test_inclusion_messages_say_which_check_failed() -> None:
    index, size, proof = INCLUSION[1]
    leaf = leaf_hash(LEAVES[index])
    with pytest.raises(LogProofInvalid, match="longer than the path"):
        verify_inclusion(leaf, index, size, [*proof, SOME_HASH], ROOTS[size])
    with pytest.raises(LogProofInvalid, match="shorter than the path"):
        verify_inclusion(leaf, index, size, proof[:-1], ROOTS[size])
    with pytest.raises(LogProofInvalid, match="does not lead to the root of size 8"):
        verify_inclusion(leaf, index, size, proof, ROOTS[7])


def test_proof_errors_are_schema_errors() -> None:
    assert issubclass(LogProofInvalid, TlogError)
    assert issubclass(TlogError, SchemaError)
    assert issubclass(CheckpointInvalid, NoteInvalid)


def test_tree_size_is_bound_by_the_checkpoint_not_the_path() -> None:
    """Documented in the spec (§5.2): leaf 0's path in size 3 also fits size 4."""
    leaves = [leaf_hash(x) for x in LEAVES[:3]]
    proof = [leaves[1], leaves[2]]
    verify_inclusion(leaves[0], 0, 3, proof, ROOTS[3])
    assert is_included(leaves[0], 0, 4, proof, ROOTS[3])
    # ...which is why the size and root must come from one verified checkpoint.
    assert not is_included(leaves[0], 0, 4, proof, ROOTS[4])


# ======================================================================================
# Consistency proofs
# ======================================================================================


@pytest.mark.parametrize(("size1", "size2", "proof"), CONSISTENCY)
def test_reference_consistency_proofs_verify(size1: int, size2: int, proof: list[bytes]) -> None:
    verify_consistency(size1, size2, proof, ROOTS[size1], ROOTS[size2])
    assert is_consistent(size1, size2, proof, ROOTS[size1], ROOTS[size2])


@pytest.mark.parametrize(("size1", "size2", "proof"), CONSISTENCY[1:])
def test_corrupted_reference_consistency_proofs_fail(
    size1: int, size2: int, proof: list[bytes]
) -> None:
    """The corruptions of transparency-dev/merkle's corruptConsistencyProof."""
    r1, r2 = ROOTS[size1], ROOTS[size2]
    wrong_root = hashlib.sha256(b"WrongRoot").digest()
    probes: list[tuple[int, int, list[bytes], bytes, bytes]] = [
        (size1 - 1, size2, proof, r1, r2),
        (size1 + 1, size2, proof, r1, r2),
        (size1 ^ 2, size2, proof, r1, r2),
        (size1, size2 * 2, proof, r1, r2),
        (size1, size2 // 2, proof, r1, r2),
        (size1, size2, proof, wrong_root, r2),
        (size1, size2, proof, r1, wrong_root),
        (size1, size2, proof, r2, r1),
        (size1, size2, [], r1, r2),
        (size1, size2, [*proof, b""], r1, r2),
        (size1, size2, [*proof, r1], r1, r2),
        (size1, size2, [*proof, r2], r1, r2),
        (size1, size2, [b"", *proof], r1, r2),
        (size1, size2, [r1, *proof], r1, r2),
        (size1, size2, [r2, *proof], r1, r2),
        (size1, size2, [proof[0], *proof], r1, r2),
        (size1, size2, proof[:-1], r1, r2),
    ]
    for i in range(len(proof)):
        wrong = list(proof)
        wrong[i] = bytes([wrong[i][0] ^ 16]) + wrong[i][1:]
        probes.append((size1, size2, wrong, r1, r2))
    for probe in probes:
        with pytest.raises(LogProofInvalid):
            verify_consistency(*probe)
        assert not is_consistent(*probe), probe[:2]


A, B = hashlib.sha256(b"a").digest(), hashlib.sha256(b"b").digest()


@pytest.mark.parametrize(
    ("size1", "size2", "root1", "root2", "proof", "ok"),
    [
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [], True),
        (0, 1, EMPTY_ROOT, B, [], True),
        (0, 5, EMPTY_ROOT, B, [], True),
        (1, 1, A, A, [], True),
        (0, 0, A, B, [], False),
        (0, 1, A, B, [], False),  # the empty tree has one root: SHA-256("")
        (1, 1, A, B, [], False),
        (1, 0, A, B, [], False),  # time travel to the past
        (2, 1, A, B, [], False),
        (1, 2, A, B, [], False),  # empty proof
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),  # non-empty proof
        (0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
        (1, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
    ],
)
def test_consistency_edge_cases(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: list[bytes], ok: bool
) -> None:
    assert is_consistent(size1, size2, proof, root1, root2) is ok
    if not ok:
        with pytest.raises(LogProofInvalid):
            verify_consistency(size1, size2, proof, root1, root2)


def test_consistency_messages() -> None:
    with pytest.raises(LogProofInvalid, match="larger than second"):
        verify_consistency(3, 2, [], A, B)
    with pytest.raises(LogProofInvalid, match="two different roots for the same tree size 4"):
        verify_consistency(4, 4, [], A, B)
    with pytest.raises(LogProofInvalid, match="empty consistency proof between sizes 2 and 5"):
        verify_consistency(2, 5, [], ROOTS[2], ROOTS[5])
    size1, size2, proof = CONSISTENCY[3]
    with pytest.raises(LogProofInvalid, match="does not lead to the root of size 5"):
        verify_consistency(size1, size2, proof, ROOTS[size1], ROOTS[4])
    with pytest.raises(LogProofInvalid, match="second root hash is not a 32-byte hash"):
        verify_consistency(size1, size2, proof, ROOTS[size1], b"x")


_SIZES = st.one_of(st.integers(0, 300), st.integers(-2, 2**65))
_HASHES = st.one_of(st.binary(min_size=32, max_size=32), st.binary(max_size=40))


@settings(max_examples=500, deadline=None)
@given(_SIZES, _SIZES, st.lists(_HASHES, max_size=12), _HASHES, _HASHES)
def test_proof_verifiers_reject_arbitrary_input_cleanly(
    a: int, b: int, proof: list[bytes], root1: bytes, root2: bytes
) -> None:
    """Random proofs never verify, and never raise anything but LogProofInvalid."""
    # The one inclusion that needs no hash: a tree of one leaf, whose root is the leaf.
    trivial = (a, b, proof, root1) == (0, 1, [], root2) and len(root1) == 32
    assert is_included(root1, a, b, proof, root2) is trivial
    if a != b and a != 0:  # equal or empty sizes verify with the empty proof and equal roots
        assert not is_consistent(a, b, proof, root1, root2)
    else:
        is_consistent(a, b, proof, root1, root2)


# ======================================================================================
# Verifier keys
# ======================================================================================


def test_go_verifier_key_parses() -> None:
    v = parse_verifier_key(GO_VKEY)
    assert v.name == "PeterNeumann"
    assert v.key_id == h("c74f20a3")
    assert key_id(v.name, v.public_key) == v.key_id
    assert v.vkey == GO_VKEY
    assert NoteVerifier.from_public_key(v.name, v.public_key) == v


def test_go_verifier_key_manglings_are_rejected() -> None:
    """As golang.org/x/mod sumdb/note TestNewVerifier: every proper substring, every byte+1."""
    b = GO_VKEY.encode()
    mangled = {b[i:j] for i in range(len(b) + 1) for j in range(i + 1, len(b) + 1)}
    mangled.discard(b)
    mangled |= {b[:i] + bytes([b[i] + 1]) + b[i + 1 :] for i in range(len(b))}
    for m in mangled:
        with pytest.raises(VerifierKeyInvalid):
            parse_verifier_key(m.decode("latin-1"))


@pytest.mark.parametrize(
    ("vkey", "message"),
    [
        (GO_VKEY.replace("c74f20a3", "C74F20A3"), "8 lowercase hexadecimal"),
        (GO_VKEY.replace("c74f20a3", "c74f20a4"), "key ID does not match"),
        (GO_VKEY.replace("c74f20a3", "0c74f20a3"), "8 lowercase hexadecimal"),
        (GO_VKEY.replace("PeterNeumann", "Peter Neumann"), "without spaces"),
        (GO_VKEY.replace("PeterNeumann", ""), "without spaces"),
        ("PeterNeumann+c74f20a3", "<name>\\+<key id>"),
        (GO_VKEY[:-1] + "X", "key ID does not match"),  # another key
        (GO_VKEY[:-2] + "X=", "not canonical base64"),
        (GO_VKEY + "=", "not canonical base64"),
        (
            "PeterNeumann+c74f20a3+" + base64.b64encode(b"\x02" + b"\x00" * 32).decode(),
            "type 0x01",
        ),
        ("PeterNeumann+c74f20a3+" + base64.b64encode(b"\x01" * 32).decode(), "type 0x01"),
    ],
)
def test_bad_verifier_keys(vkey: str, message: str) -> None:
    with pytest.raises(VerifierKeyInvalid, match=message):
        parse_verifier_key(vkey)


def test_two_different_keys_with_one_name_and_id_are_refused() -> None:
    v = parse_verifier_key(LOG.vkey)
    forged = object.__new__(NoteVerifier)
    object.__setattr__(forged, "name", v.name)
    object.__setattr__(forged, "key_id", v.key_id)
    object.__setattr__(forged, "public_key", OTHER.public)
    with pytest.raises(VerifierKeyInvalid, match="share the name"):
        open_note(LOG.sign(BODY), [v, forged])


# ======================================================================================
# Signed notes
# ======================================================================================


def test_go_note_opens() -> None:
    note = open_note(GO_NOTE, [parse_verifier_key(GO_VKEY)])
    assert note.text == GO_TEXT
    assert [s.name for s in note.verified] == ["PeterNeumann"]
    assert note.verified[0].key_id == h("c74f20a3")
    assert note.unverified == ()
    assert open_note(GO_NOTE.encode(), [parse_verifier_key(GO_VKEY)]) == note


def test_go_note_with_changed_text_fails() -> None:
    with pytest.raises(NoteInvalid) as e:
        open_note(GO_NOTE.replace("cryptography", "cryptographY"), [parse_verifier_key(GO_VKEY)])
    assert reason_of(e) is NoteReason.SIGNATURE_INVALID


@pytest.mark.parametrize("note", [GO_NOTE, SPEC_NOTE, LOG.sign(BODY)])
def test_flipping_any_bit_of_a_note_is_detected(note: str) -> None:
    keys = [parse_verifier_key(k) for k in (GO_VKEY, SPEC_VKEY, LOG.vkey)]
    data = note.encode()
    open_note(data, keys)
    for i in range(len(data)):
        for bit in (0x01, 0x20, 0x80):
            tampered = data[:i] + bytes([data[i] ^ bit]) + data[i + 1 :]
            with pytest.raises(NoteInvalid):
                open_note(tampered, keys)


def test_unknown_signatures_are_ignored_and_reported() -> None:
    note = BODY + "\n" + WITNESS.line(BODY) + LOG.line(BODY) + OTHER.line(BODY)
    opened = open_note(note, [parse_verifier_key(LOG.vkey)])
    assert [s.key_id for s in opened.verified] == [LOG.id]
    assert [(s.name, s.key_id) for s in opened.unverified] == [
        (WITNESS.name, WITNESS.id),
        (OTHER.name, OTHER.id),
    ]


def test_signature_by_another_key_fails() -> None:
    with pytest.raises(NoteInvalid) as e:
        open_note(OTHER.sign(BODY), [parse_verifier_key(LOG.vkey)])
    assert reason_of(e) is NoteReason.NO_KNOWN_SIGNATURE


def test_signature_by_another_key_under_the_known_keys_id_fails() -> None:
    note = BODY + "\n" + OTHER.line(BODY, as_id=LOG.id)
    with pytest.raises(NoteInvalid) as e:
        open_note(note, [parse_verifier_key(LOG.vkey)])
    assert reason_of(e) is NoteReason.SIGNATURE_INVALID


def test_known_key_id_under_another_name_is_unknown() -> None:
    note = BODY + "\n" + LOG.line(BODY, as_name="someone.else")
    with pytest.raises(NoteInvalid) as e:
        open_note(note, [parse_verifier_key(LOG.vkey)])
    assert reason_of(e) is NoteReason.NO_KNOWN_SIGNATURE


def test_a_second_line_under_a_known_key_is_rejected_whatever_it_holds() -> None:
    keys = [parse_verifier_key(LOG.vkey)]
    forged = OTHER.line(BODY, as_id=LOG.id)
    with pytest.raises(NoteInvalid) as e:
        open_note(BODY + "\n" + LOG.line(BODY) + forged, keys)
    assert reason_of(e) is NoteReason.DUPLICATE_SIGNATURE
    with pytest.raises(NoteInvalid) as e:
        open_note(BODY + "\n" + forged + LOG.line(BODY), keys)
    assert reason_of(e) is NoteReason.SIGNATURE_INVALID


def _valid_line_count_note(lines: int) -> str:
    unknown = "".join(Key(f"w{i}.example", f"witness {i}").line(BODY) for i in range(lines - 1))
    return BODY + "\n" + LOG.line(BODY) + unknown


def test_hundred_signatures_accepted_hundred_and_one_rejected() -> None:
    keys = [parse_verifier_key(LOG.vkey)]
    assert len(open_note(_valid_line_count_note(100), keys).unverified) == 99
    with pytest.raises(NoteInvalid) as e:
        open_note(_valid_line_count_note(101), keys)
    assert reason_of(e) is NoteReason.TOO_MANY_SIGNATURES


def _note_of_size(n: int) -> str:
    """A valid checkpoint note of exactly n bytes (padded with an extension line)."""
    base = LOG.sign(BODY + "x\n")
    pad = "x" * (n - len(base.encode()) + 1)
    note = LOG.sign(BODY + pad + "\n")
    assert len(note.encode()) == n
    return note


def test_note_size_limit() -> None:
    keys = [parse_verifier_key(LOG.vkey)]
    open_note(_note_of_size(MAX_NOTE_BYTES), keys)
    for note in (_note_of_size(MAX_NOTE_BYTES + 1), _note_of_size(MAX_NOTE_BYTES + 1).encode()):
        with pytest.raises(NoteInvalid) as e:
            open_note(note, keys)
        assert reason_of(e) is NoteReason.OVERSIZED


GOOD = LOG.sign(BODY)
LINE = LOG.line(BODY)
BLOB = LINE.split(" ")[2].rstrip("\n")
URLSAFE = GOOD.replace(BLOB, base64.urlsafe_b64encode(base64.b64decode(BLOB)).decode())
assert URLSAFE != GOOD, "the test signature should contain + or /"


@pytest.mark.parametrize(
    ("note", "reason"),
    [
        (GOOD.encode().replace(b"sealsync", b"seal\xffsync"), NoteReason.NOT_UTF8),
        (GOOD.replace("sealsync", "seal\ud800sync"), NoteReason.NOT_UTF8),
        (GOOD.replace("\n", "\r\n"), NoteReason.CONTROL_CHARACTER),
        (GOOD.replace("\n", "\r"), NoteReason.CONTROL_CHARACTER),
        (GOOD.replace("sealsync/", "sealsync/\t"), NoteReason.CONTROL_CHARACTER),
        (GOOD + "\x00", NoteReason.CONTROL_CHARACTER),
        (BODY + LINE, NoteReason.MALFORMED_NOTE),  # no blank line
        (GOOD[:-1], NoteReason.MALFORMED_NOTE),  # no final newline
        (BODY + "\n", NoteReason.MALFORMED_NOTE),  # no signature line
        (GOOD + "\n", NoteReason.MALFORMED_NOTE),  # blank line after the signatures
        (GOOD.replace("\u2014", "-"), NoteReason.MALFORMED_SIGNATURE),
        (GOOD.replace("\u2014", "\u2013"), NoteReason.MALFORMED_SIGNATURE),  # en dash
        (GOOD.replace("\u2014 ", "\u2014"), NoteReason.MALFORMED_SIGNATURE),
        (GOOD.replace("\u2014 ", "\u2014  "), NoteReason.MALFORMED_SIGNATURE),
        (GOOD.replace(f" {BLOB}", f"  {BLOB}"), NoteReason.MALFORMED_SIGNATURE),
        (GOOD.replace(f" {BLOB}", f" {BLOB} "), NoteReason.MALFORMED_SIGNATURE),
        (GOOD.replace(f" {BLOB}", f"+x {BLOB}"), NoteReason.MALFORMED_SIGNATURE),
        (GOOD.replace(BLOB, BLOB.rstrip("=")), NoteReason.MALFORMED_SIGNATURE),
        (GOOD.replace(BLOB, BLOB[:-3] + "Bz="), NoteReason.MALFORMED_SIGNATURE),
        (URLSAFE, NoteReason.MALFORMED_SIGNATURE),
        (GOOD.replace(BLOB, "AAAAAA=="), NoteReason.MALFORMED_SIGNATURE),  # 4 bytes
        (
            GOOD.replace(BLOB, base64.b64encode(LOG.id + b"\x00").decode()),
            NoteReason.SIGNATURE_INVALID,
        ),  # fmt: skip
        (GOOD + LINE, NoteReason.DUPLICATE_SIGNATURE),
        (GOOD.replace("\n8\n", "\n9\n"), NoteReason.SIGNATURE_INVALID),
        (OTHER.sign(BODY), NoteReason.NO_KNOWN_SIGNATURE),
    ],
)
def test_note_rejections(note: str | bytes, reason: NoteReason) -> None:
    with pytest.raises(NoteInvalid) as e:
        open_note(note, [parse_verifier_key(LOG.vkey)])
    assert reason_of(e) is reason
    # The same note as a checkpoint: same reason, CheckpointInvalid.
    with pytest.raises(CheckpointInvalid) as c:
        verify_checkpoint(note, LOG.vkey)
    assert c.value.reason is reason


def test_note_error_text_names_the_rule() -> None:
    with pytest.raises(NoteInvalid, match=r"control character .* U\+000D at character 45"):
        open_note(GOOD.replace("\n", "\r\n"), [parse_verifier_key(LOG.vkey)])


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=300), st.binary(max_size=300)))
def test_open_note_only_ever_raises_note_invalid(data: str | bytes) -> None:
    with pytest.raises(NoteInvalid):
        open_note(data, [parse_verifier_key(LOG.vkey)])


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_tampered_notes_never_open(data: st.DataObject) -> None:
    raw = bytearray(GOOD.encode())
    i = data.draw(st.integers(0, len(raw) - 1))
    value = data.draw(st.integers(0, 255).filter(lambda v: v != raw[i]))
    raw[i] = value
    with pytest.raises(NoteInvalid):
        open_note(bytes(raw), [parse_verifier_key(LOG.vkey)])


# ======================================================================================
# Checkpoints
# ======================================================================================


def test_spec_example_verifies() -> None:
    cp = verify_checkpoint(SPEC_NOTE, SPEC_VKEY, origin=SPEC_ORIGIN)
    assert cp == Checkpoint(SPEC_ORIGIN, 8, ROOTS[8], ())
    spec = (ROOT / "docs/spec/audit-log-v1.md").read_text(encoding="utf-8")
    assert SPEC_VKEY in spec
    for line in SPEC_NOTE.splitlines():
        assert line in spec


def test_checkpoint_round_trip() -> None:
    cp = verify_checkpoint(GOOD, LOG.vkey, origin=ORIGIN)
    assert cp == Checkpoint(ORIGIN, 8, ROOTS[8])
    assert verify_checkpoint(GOOD.encode(), parse_verifier_key(LOG.vkey)) == cp
    assert parse_checkpoint(BODY) == cp


def test_checkpoint_with_extensions() -> None:
    note = LOG.sign(BODY + "ext one\nExt-2: 7\n")
    cp = verify_checkpoint(note, LOG.vkey)
    assert cp.extensions == ("ext one", "Ext-2: 7")


def test_empty_tree_checkpoint() -> None:
    empty = base64.b64encode(EMPTY_ROOT).decode()
    assert verify_checkpoint(LOG.sign(f"{ORIGIN}\n0\n{empty}\n"), LOG.vkey).size == 0


def test_largest_tree_size() -> None:
    assert parse_checkpoint(f"{ORIGIN}\n{2**64 - 1}\n{R8}\n").size == 2**64 - 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (f"{ORIGIN}\n8\n", NoteReason.MALFORMED_CHECKPOINT),
        (f"{ORIGIN}\n", NoteReason.MALFORMED_CHECKPOINT),
        (f"{ORIGIN}\n8\n{R8}", NoteReason.MALFORMED_CHECKPOINT),  # no final newline
        (f"{ORIGIN}\n8\n{R8}\n\n", NoteReason.MALFORMED_CHECKPOINT),  # extra blank line
        (f"{ORIGIN}\n8\n{R8}\n\next\n", NoteReason.MALFORMED_CHECKPOINT),
        (f"\n{ORIGIN}\n8\n{R8}\n", NoteReason.MALFORMED_CHECKPOINT),
        (f"\n8\n{R8}\n", NoteReason.MALFORMED_CHECKPOINT),  # empty origin
        (f"{ORIGIN}\n\n{R8}\n", NoteReason.MALFORMED_CHECKPOINT),
        (f"{ORIGIN}\n08\n{R8}\n", NoteReason.BAD_TREE_SIZE),
        (f"{ORIGIN}\n00\n{R8}\n", NoteReason.BAD_TREE_SIZE),
        (f"{ORIGIN}\n+8\n{R8}\n", NoteReason.BAD_TREE_SIZE),
        (f"{ORIGIN}\n-1\n{R8}\n", NoteReason.BAD_TREE_SIZE),
        (f"{ORIGIN}\n 8\n{R8}\n", NoteReason.BAD_TREE_SIZE),
        (f"{ORIGIN}\n8 \n{R8}\n", NoteReason.BAD_TREE_SIZE),
        (f"{ORIGIN}\n1_000\n{R8}\n", NoteReason.BAD_TREE_SIZE),
        (f"{ORIGIN}\n\u0668\n{R8}\n", NoteReason.BAD_TREE_SIZE),  # Arabic-Indic eight
        (f"{ORIGIN}\n0x8\n{R8}\n", NoteReason.BAD_TREE_SIZE),
        (f"{ORIGIN}\n{2**64}\n{R8}\n", NoteReason.BAD_TREE_SIZE),
        (f"{ORIGIN}\n8\n{R8.rstrip('=')}\n", NoteReason.BAD_ROOT_HASH),
        (f"{ORIGIN}\n8\n{R8[:-2]}h=\n", NoteReason.BAD_ROOT_HASH),  # non-zero pad bits
        (f"{ORIGIN}\n8\n{base64.b64encode(ROOTS[8][:31]).decode()}\n", NoteReason.BAD_ROOT_HASH),
        (f"{ORIGIN}\n8\n{base64.b64encode(ROOTS[8] + b'x').decode()}\n", NoteReason.BAD_ROOT_HASH),
        (f"{ORIGIN}\n8\n{ROOTS[8].hex()}\n", NoteReason.BAD_ROOT_HASH),
        (f"{ORIGIN}\n8\n {R8}\n", NoteReason.BAD_ROOT_HASH),
        (f"{ORIGIN}\n0\n{R8}\n", NoteReason.BAD_ROOT_HASH),  # size 0 needs SHA-256("")
    ],
)
def test_checkpoint_body_rejections(body: str, reason: NoteReason) -> None:
    with pytest.raises(CheckpointInvalid) as e:
        parse_checkpoint(body)
    assert e.value.reason is reason
    if body.endswith("\n"):
        # Properly signed, the body is still rejected, for the same reason.
        with pytest.raises(CheckpointInvalid) as e:
            verify_checkpoint(LOG.sign(body), LOG.vkey)
        assert e.value.reason is reason


def test_checkpoint_origin_must_be_the_key_name() -> None:
    elsewhere = Key("sealsync/00000000-0000-4000-8000-000000000000", "log key")
    note = elsewhere.sign(BODY)  # signed by a key named for another project
    with pytest.raises(CheckpointInvalid) as e:
        verify_checkpoint(note, elsewhere.vkey)
    assert e.value.reason is NoteReason.ORIGIN_MISMATCH


def test_checkpoint_origin_must_be_the_expected_one() -> None:
    with pytest.raises(CheckpointInvalid) as e:
        verify_checkpoint(GOOD, LOG.vkey, origin="sealsync/00000000-0000-4000-8000-000000000000")
    assert e.value.reason is NoteReason.ORIGIN_MISMATCH


def test_checkpoint_with_a_bad_verifier_key() -> None:
    with pytest.raises(VerifierKeyInvalid):
        verify_checkpoint(GOOD, LOG.vkey.upper())


def test_checkpoint_signed_by_another_key_fails() -> None:
    with pytest.raises(CheckpointInvalid) as e:
        verify_checkpoint(OTHER.sign(BODY), LOG.vkey)
    assert e.value.reason is NoteReason.NO_KNOWN_SIGNATURE


def test_checkpoint_errors_pickle() -> None:
    import pickle

    err = CheckpointInvalid(NoteReason.BAD_TREE_SIZE, "line 2")
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is CheckpointInvalid
    assert (again.reason, again.detail, str(again)) == (err.reason, err.detail, str(err))


_ORIGINS = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp"), blacklist_characters="+"),
    min_size=1,
    max_size=40,
)
_EXT = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=30)


@settings(max_examples=200, deadline=None)
@given(
    origin=_ORIGINS,
    size=st.integers(1, 2**64 - 1),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(_EXT, max_size=3),
)
def test_checkpoint_parse_round_trip(
    origin: str, size: int, root: bytes, extensions: list[str]
) -> None:
    body = "".join(
        line + "\n" for line in [origin, str(size), base64.b64encode(root).decode(), *extensions]
    )
    assert parse_checkpoint(body) == Checkpoint(origin, size, root, tuple(extensions))
    key = Key(origin)
    assert verify_checkpoint(key.sign(body), key.vkey, origin=origin).root_hash == root


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_parse_checkpoint_only_ever_raises_checkpoint_invalid(data: str | bytes) -> None:
    try:
        cp = parse_checkpoint(data)
    except CheckpointInvalid:
        return
    assert len(cp.root_hash) == 32
