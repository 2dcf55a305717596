"""Strings from outside are matched whole, with no control character (schemas/text.py).

msgspec checks ``Meta(pattern=…)`` with ``re.search``, where ``^…$`` accepts ``"abc\\n"``;
every field a pattern checks is tried here with a final newline and with embedded
control and bidi characters, through the decoder that meets it in real use, and must be
refused with the field's path. The same patterns go into the OpenAPI document: an
ECMA-262 engine (jsonschema_rs) must reach the same verdict as Python.
"""

from __future__ import annotations

import datetime
import importlib
import uuid
from collections.abc import Callable
from typing import Any

import jsonschema_rs
import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import certs
from schemas.bundle._manifest import decode_manifest
from schemas.wire import (
    EnrollmentRequest,
    EnrollmentResponse,
    FormSet,
    decode_record,
    sign_request,
)
from syncserver.web._openapi import openapi_document

NOW = datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.UTC)
RID = uuid.UUID("01890000-0000-7000-8000-000000000001")
KEY = bytes(range(32))
BAD = ["\n", "\r\n", "\x00", "\x1b", "\u202e", "\u2028"]


def _record(**kw: Any) -> bytes:
    rec = {
        "record_id": RID.bytes,
        "version": 1,
        "form_id": "escapee-interview",
        "form_version": 1,
        "created_at": NOW,
        "modified_at": NOW,
        "lang": "ko",
        "answers": {},
        "attachments": ["voice-1.ogg"],
    }
    rec.update(kw)
    return msgspec.msgpack.encode(rec)


def _manifest(form_id: str = "f-1", name: str = "voice-1.ogg", media: str = "audio/ogg") -> bytes:
    entry = {"record_id": RID.bytes, "version": 1, "form_id": form_id, "form_version": 1,
             "size": 10, "sha256": bytes(32)}  # fmt: skip
    att = {"record_id": RID.bytes, "name": name, "media_type": media, "size": 3,
           "sha256": bytes(32)}  # fmt: skip
    m = {"device_id": RID.bytes, "device_seq": 1, "prev_bundle_sha256": bytes(32),
         "created_at": NOW, "records": [entry], "attachments": [att]}  # fmt: skip
    return msgspec.msgpack.encode(m)


def _cert(label: str) -> bytes:
    body = {"project_id": RID.bytes, "device_id": RID.bytes, "public_key": KEY, "serial": 1,
            "not_before": NOW, "not_after": NOW + datetime.timedelta(days=1),
            "label": label}  # fmt: skip
    return msgspec.msgpack.encode(body)


def _enroll_request(label: str) -> bytes:
    return msgspec.json.encode({"public_key": KEY, "label": label, "token": "t"})


def _enroll_response(origin: str) -> bytes:
    cert = {"body": b"x", "signature": bytes(64)}
    return msgspec.json.encode(
        {
            "certificate": cert,
            "project_id": str(RID),
            "recipient_public_key": KEY,
            "signing_public_key": KEY,
            "log_origin": origin,
        }  # fmt: skip
    )


def _formset(form_id: str = "escapee-interview", digest: str = "ab" * 32) -> bytes:
    doc = {"form_id": form_id, "version": 1, "digest": digest, "document": b""}
    return msgspec.msgpack.encode({"issued_at": NOW, "forms": [doc]})


def _text() -> Any:
    """schemas.text, imported when a test runs (so that, on a tree without it, the field
    tests above still run and fail for what they test)."""
    return importlib.import_module("schemas.text")


_cert_dec = msgspec.msgpack.Decoder(certs.DeviceCertificate)
_enroll_dec = msgspec.json.Decoder(EnrollmentRequest)
_response_dec = msgspec.json.Decoder(EnrollmentResponse)
_formset_dec = msgspec.msgpack.Decoder(FormSet)
_rec, _man = decode_record, decode_manifest


def _head(data: bytes) -> object:
    return importlib.import_module("schemas.wire").decode_record_head(data)


_FORM = "escapee-interview"

#: (field, good value, bytes carrying a value, decoder, the path msgspec names)
FIELDS: list[tuple[str, str, Callable[[str], bytes], Callable[[bytes], object], str]] = [
    ("record.form_id", _FORM, lambda v: _record(form_id=v), _rec, "$.form_id"),
    ("record.lang", "ko", lambda v: _record(lang=v), _rec, "$.lang"),
    ("record.attachments", "voice-1.ogg", lambda v: _record(attachments=[v]), _rec,
     "$.attachments[0]"),
    ("head.form_id", _FORM, lambda v: _record(form_id=v), _head, "$.form_id"),
    ("head.lang", "en", lambda v: _record(lang=v), _head, "$.lang"),
    ("head.attachments", "photo.jpg", lambda v: _record(attachments=[v]), _head,
     "$.attachments[0]"),
    ("manifest.form_id", "f-1", lambda v: _manifest(form_id=v), _man, "$.records[0].form_id"),
    ("manifest.name", "voice-1.ogg", lambda v: _manifest(name=v), _man, "$.attachments[0].name"),
    ("manifest.media_type", "audio/ogg", lambda v: _manifest(media=v), _man,
     "$.attachments[0].media_type"),
    ("certificate.label", "field kit 7", _cert, _cert_dec.decode, "$.label"),
    ("enroll.label", "laptop-7", _enroll_request, _enroll_dec.decode, "$.label"),
    ("enroll.log_origin", f"sealsync/{RID}", _enroll_response, _response_dec.decode,
     "$.log_origin"),
    ("formset.form_id", _FORM, lambda v: _formset(form_id=v), _formset_dec.decode,
     "$.forms[0].form_id"),
    ("formset.digest", "ab" * 32, lambda v: _formset(digest=v), _formset_dec.decode,
     "$.forms[0].digest"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("field", "good", "build", "decode", "path"), FIELDS, ids=[f[0] for f in FIELDS]
)
@pytest.mark.parametrize("bad", BAD, ids=["newline", "crlf", "nul", "esc", "rlo", "lsep"])
@pytest.mark.parametrize("where", ["end", "inside"])
def test_a_control_character_is_refused_with_the_field_path(
    field: str,
    good: str,
    build: Callable[[str], bytes],
    decode: Callable[[bytes], object],
    path: str,
    bad: str,
    where: str,
) -> None:
    decode(build(good))  # the valid value passes
    value = good + bad if where == "end" else good[:1] + bad + good[1:]
    with pytest.raises(msgspec.ValidationError) as e:
        decode(build(value))
    assert str(e.value).endswith(f" - at `{path}`"), str(e.value)


# ---------------------------------------------------------------------------- labels

GOOD_LABELS = [
    "a",
    "laptop-7",
    "field kit 7",
    "Kim's kit (Seoul office)",
    "단말기 1",
    "조사원 노트북",
    "x" * 64,
    "a\u3000b",  # an ideographic space inside
    "ﾃｽﾄ",
]
BAD_LABELS = [
    "",
    " a",
    "a ",
    "\u3000a",
    "a\u00a0",
    "x" * 65,
    "a\n",
    "a\tb",
    "a\x00b",
    "a\x1b[2Jb",
    "a\x7fb",
    "a\x85b",
    "a\u202eb",
    "a\u2066b",
    "a\u200bb",
    "a\u2028b",
    "a\ufeffb",
    "a\ue000b",
    "a\U000e0041b",  # a tag character: invisible text
    "kit \U0001f600",
]


@pytest.mark.parametrize("label", GOOD_LABELS)
def test_good_labels_pass_everywhere(label: str) -> None:
    text = _text()
    assert text.valid_label(label)
    assert _cert_dec.decode(_cert(label)).label == label
    req = msgspec.json.decode(_enroll_request(label), type=EnrollmentRequest)
    assert req.label == label


@pytest.mark.parametrize("label", BAD_LABELS)
def test_bad_labels_are_refused_everywhere(label: str) -> None:
    text = _text()
    assert not text.valid_label(label)
    with pytest.raises(msgspec.ValidationError, match=r" - at `\$\.label`$"):
        _cert_dec.decode(_cert(label))
    with pytest.raises(msgspec.ValidationError, match=r" - at `\$\.label`$"):
        msgspec.json.decode(_enroll_request(label), type=EnrollmentRequest)


def test_a_certificate_with_a_newline_label_is_not_issued() -> None:
    key = Ed25519PrivateKey.generate()
    cert = certs.DeviceCertificate(
        project_id=RID, device_id=RID, public_key=KEY, serial=1, not_before=NOW,
        not_after=NOW + datetime.timedelta(days=1), label="kit\n",
    )  # fmt: skip
    with pytest.raises(msgspec.ValidationError, match=r"at `\$\.label`"):
        certs.issue(cert, key)


def test_a_signed_enrollment_request_with_a_bidi_label_is_refused() -> None:
    key = Ed25519PrivateKey.generate()
    pub = key.public_key().public_bytes_raw()
    req = sign_request(EnrollmentRequest(public_key=pub, label="kit\u202e7", token="t"), key)
    with pytest.raises(msgspec.ValidationError, match=r"at `\$\.label`"):
        msgspec.json.decode(msgspec.json.encode(req), type=EnrollmentRequest)


def test_valid_label_is_false_for_a_lone_surrogate_or_what_is_not_a_string() -> None:
    text = _text()
    assert [text.valid_label(v) for v in ("a\udc80b", None, 7, b"kit", ["kit"])] == [False] * 5


# ------------------------------------------------------------------- the schemas agree


def _patterns(node: object) -> list[str]:
    if isinstance(node, dict):
        own = [node["pattern"]] if isinstance(node.get("pattern"), str) else []
        return own + [p for v in node.values() for p in _patterns(v)]
    if isinstance(node, list):
        return [p for v in node for p in _patterns(v)]
    return []


def test_every_openapi_pattern_is_anchored_whole() -> None:
    text = _text()
    found = _patterns(openapi_document())
    assert text.LABEL_PATTERN in found  # the enrollment request's label
    for p in found:
        assert p.startswith("^") and p.endswith(text.END), p
        assert "$" not in p, p
        jsonschema_rs.validator_for({"type": "string", "pattern": p})  # compiles as ECMA-262


_SCHEMA_TYPES = {
    "label": "Label",
    "form_id": "FormId",
    "lang": "Lang",
    "attachment": "AttachmentName",
    "media_type": "MediaType",
}
_TRICKY = st.text(
    alphabet=st.one_of(
        st.sampled_from("ab z-./+_09 \n\r\t\x00\x1b\x7f\x85\u00a0\u202e\u2066\u3000\ufeff가"),
        st.characters(exclude_categories=["Cs"]),  # what UTF-8 can carry
    ),
    max_size=70,
)


@pytest.mark.parametrize("name", sorted(_SCHEMA_TYPES))
@settings(max_examples=300, deadline=None)
@given(value=st.one_of(_TRICKY, _TRICKY.map(lambda s: s + "\n"), _TRICKY.map(lambda s: "a" + s)))
def test_python_and_ecma_agree_on_every_string(name: str, value: str) -> None:
    text = _text()
    t = getattr(text, _SCHEMA_TYPES[name])
    try:
        msgspec.convert(value, t)
        python = True
    except msgspec.ValidationError:
        python = False
    ecma = jsonschema_rs.validator_for(msgspec.json.schema(t)).is_valid(value)
    assert python == ecma
    if name == "label":
        assert text.valid_label(value) == python
    if value.endswith("\n") or any(ord(c) < 0x20 for c in value):
        assert not python


def test_shown_escapes_what_a_terminal_would_obey() -> None:
    text = _text()
    assert text.shown("kit\x1b[2J\u202e7\n\U000e0041") == "kit\\x1b[2J\\u202e7\\x0a\\U000e0041"
    assert text.shown("단말기 1") == "단말기 1"
    assert text.shown("x" * 10, limit=5) == "xxxx…"


# ---------------------------------------------------------------------------- ids

CANONICAL = "01890a5d-ac96-774b-bcce-b302099a8057"
#: Spellings uuid.UUID() takes, each for some id: braces, a URN, hyphens left out or moved,
#: a space, an underscore, a final newline (after 31 digits).
OTHER_SPELLINGS = [
    "{" + CANONICAL + "}",
    "urn:uuid:" + CANONICAL,
    CANONICAL.replace("-", ""),
    CANONICAL[:9] + "-" + CANONICAL[9:].replace("-", "", 1),
    " " + CANONICAL.replace("-", "")[1:],
    "0189_a5d-ac96-774b-bcce-b302099a8057",
    CANONICAL.replace("-", "")[1:] + "\n",
]


def test_an_id_read_from_text_has_exactly_one_spelling() -> None:
    parse_id = importlib.import_module("schemas.ids").parse_id
    u = uuid.UUID(CANONICAL)
    assert parse_id(CANONICAL) == parse_id(CANONICAL.upper()) == u
    for text in OTHER_SPELLINGS:
        uuid.UUID(text)  # the standard library takes each of them
        with pytest.raises(ValueError, match="not an id in the form"):
            parse_id(text)
    for text in (CANONICAL + "\n", CANONICAL[:-1] + "\u0663", "", "x" * 36):
        with pytest.raises(ValueError, match="not an id in the form"):
            parse_id(text)


def test_public_names_of_schemas_text() -> None:
    text = _text()
    assert sorted(text.__all__) == sorted(
        ["ATTACHMENT_NAME", "AttachmentName", "CHOICE_VALUE", "END", "FORM_ID", "FormId",
         "ITEM_NAME", "LABEL_PATTERN", "LANG", "Label", "Lang", "MEDIA_TYPE", "MediaType",
         "PROPERTY", "SHA256_HEX", "exact", "shown", "text_problem", "valid", "valid_label"]
    )  # fmt: skip
    assert all(hasattr(text, name) for name in text.__all__)
    assert text.valid(text.FORM_ID, "escapee-interview")
    assert not text.valid(text.FORM_ID, "escapee-interview\n")
    assert not text.valid(text.FORM_ID, None)
