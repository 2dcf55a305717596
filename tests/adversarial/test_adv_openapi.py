"""schemathesis against the served OpenAPI document (GET /v1/openapi.json).

Every operation of the document is driven with generated requests (valid and invalid
bodies, parameters and headers) against a real server on 127.0.0.1. Property: no 5xx,
and every response conforms to the document (status documented, body matches its
schema, content type, required headers, 405 with ``Allow`` for undeclared methods).

Device requests are signed here (docs/spec/api-v1.md §3) whenever schemathesis put the
``Sealsync-Signature`` security header in a case, and admin requests get a real bearer
token whenever it put ``Authorization``: then the server sees what a real client sends,
and a case without them tests the refusal. Two of schemathesis' checks are excluded:
``ignored_auth`` (it replays requests with credentials of its own making, which it cannot
sign; test_adv_upload.py checks the refusals instead) and ``positive_data_acceptance``
(it expects 2xx for any schema-valid body, but a schema cannot say that a token is
unknown, a tree size is past the log's end or a bundle is over the size limit).
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator

import pytest
import requests
import schemathesis
from adv_harness import LiveServer
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi import checks
from support.uploader import Signer

from syncserver.access.admin_tokens import create_token
from syncserver.web._openapi import openapi_document

#: Examples per operation in ``make test``; bench/fuzz.py runs many more.
EXAMPLES = int(os.environ.get("SEALSYNC_OPENAPI_EXAMPLES", "25"))

schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")
schema = schemathesis.openapi.from_dict(openapi_document())


class Target:
    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.token = create_token(
            server.project,
            "admin",
            "fuzz",
            now=datetime.datetime.now(datetime.UTC),
            actor="cli:tester",
        )
        self.session = requests.Session()
        self.courier = Signer(server.courier_id, server.courier_key)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    with LiveServer(tmp_path_factory.mktemp("adv-openapi") / "project") as srv:
        t = Target(srv)
        yield t
        t.session.close()


def send(case: schemathesis.Case, target: Target) -> requests.Response:
    """Send ``case`` as a real client would: signed, or with a real token."""
    kw = case.as_transport_kwargs(base_url=target.server.base)
    allowed = ("method", "url", "headers", "params", "json", "data", "cookies")
    req = requests.Request(**{k: v for k, v in kw.items() if k in allowed}).prepare()
    body = req.body or b""
    if isinstance(body, str):
        body = body.encode()
    given = {k.lower() for k in (case.headers or {})}
    if "authorization" in given:
        req.headers["Authorization"] = f"Bearer {target.token}"
    if "sealsync-signature" in given:
        assert req.method is not None
        req.headers.update(target.courier.headers(req.method, req.path_url, body))
    return target.session.send(req, timeout=30)


def check_case(case: schemathesis.Case, target: Target) -> int:
    response = send(case, target)
    assert response.status_code < 500, (response.status_code, response.text[:300])
    case.validate_response(
        response, excluded_checks=[checks.ignored_auth, checks.positive_data_acceptance]
    )
    return response.status_code


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_conforms_to_its_openapi_document(case: schemathesis.Case, target: Target) -> None:
    check_case(case, target)


def test_the_document_served_is_the_one_tested(target: Target) -> None:
    r = target.session.get(target.server.base + "/v1/openapi.json", timeout=30)
    assert r.status_code == 200 and r.json() == openapi_document()
    ops = {(o.ok().path, o.ok().method) for o in schema.get_all_operations()}
    assert ("/v1/uploads/{bundle_id}", "patch") in ops and len(ops) == 13


def test_undeclared_method_is_405_with_allow(target: Target) -> None:
    """Found by schemathesis: the error middleware dropped aiohttp's ``Allow`` header."""
    r = target.session.request("TRACE", target.server.base + "/v1/admin/audit", timeout=30)
    assert r.status_code == 405
    assert "GET" in r.headers["Allow"]
    assert r.json()["error"]["code"] == "method_not_allowed"
