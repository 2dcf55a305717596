"""What the field kit says when it cannot talk to a server.

Two things, in one place: :func:`server_url` checks a server address before anything is
sent (it must start with ``https://``, or ``http://`` for a server on this machine: a
token and the server's keys must not cross a network in clear), and :func:`explain` turns what
aiohttp and the socket layer raise into a :class:`Failure`: a sentence saying what
happened, a hint saying what to do, a short reason for retry messages, and whether
trying again later can help. Enrollment (:mod:`collector.kit`) and uploads
(:mod:`collector.sync`) both use it, so a refused connection or a TLS mismatch reads the
same wherever it happens.

Nothing here puts a token, a key or an answer in a message: only the server's URL and
the operating system's reason.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
import urllib.parse
from dataclasses import dataclass

import aiohttp
import msgspec

from schemas.text import shown
from schemas.wire import ENROLL_TOKEN_PREFIX, ErrorBody

from .errors import CollectorError

__all__ = ["Failure", "explain", "looks_like_token", "server_error", "server_url"]

_HOST_PORT = re.compile(r"[A-Za-z0-9.\-\[\]:]+(/[^\s?#]*)?")
#: What OpenSSL says when the other end answered a TLS hello in plain HTTP.
_NOT_TLS = ("WRONG_VERSION_NUMBER", "wrong version number", "record layer failure",
            "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST", "http request")  # fmt: skip
_LOCAL_TEST_SERVER = (
    "`syncserver run` serves plain HTTP on 127.0.0.1:8443 unless TLS is set in its sealsync.toml"
)


def looks_like_token(text: str) -> bool:
    """Whether ``text`` is (probably) an enrollment token rather than an address."""
    return text.strip().startswith(ENROLL_TOKEN_PREFIX)  # one pasted where the URL goes


def server_url(text: str) -> str:
    """``text`` as a server URL (``http://`` or ``https://``, a host, an optional port and
    path; no trailing slash), or :class:`CollectorError` saying what is wrong with it."""
    raw = text.strip()
    if looks_like_token(raw):
        raise CollectorError(
            "that is an enrollment token, not the server's URL",
            hint="give the URL alone (`collector enroll http://HOST:PORT`); the token is asked "
            "for, or read from --token-file FILE or SEALSYNC_ENROLL_TOKEN",
        )
    shown = repr(raw) if _HOST_PORT.fullmatch(raw) else "the server URL"
    try:
        parts = urllib.parse.urlsplit(raw)
        parts.port  # noqa: B018 - raises ValueError for a port that is not 1-65535
    except ValueError:
        raise CollectorError(
            f"{shown} is not a valid URL (the port must be a number from 1 to 65535)",
            hint="write it as http://HOST:PORT or https://HOST:PORT",
        ) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        example = raw if _HOST_PORT.fullmatch(raw) and ":/" not in raw else "HOST:PORT"
        raise CollectorError(
            f"{shown} does not say how to reach the server: it must start with http:// or https://",
            hint=f"use http://{example} for a test server on this laptop ({_LOCAL_TEST_SERVER}), "
            f"https://{example} for a server with TLS; ask the administrator if unsure",
        )
    if parts.username is not None or parts.password is not None:
        raise CollectorError(
            "the server URL must not hold a user name or password",
            hint="give the URL as the administrator wrote it, without anything before '@'",
        )
    if parts.query or parts.fragment:
        raise CollectorError(
            "the server URL must not have a query (?…) or fragment (#…)",
            hint="give only http(s)://HOST:PORT and the path the administrator gave, if any",
        )
    if parts.scheme.lower() == "http" and not _loopback(parts.hostname):
        raise CollectorError(
            f"plain http:// to {parts.hostname} would carry the enrollment token and the"
            " server's keys across the network unprotected",
            hint=f"use https://{parts.netloc} (the administrator sets TLS in sealsync.toml);"
            " plain http:// is only for a server on this laptop (http://127.0.0.1:PORT)",
        )
    return urllib.parse.urlunsplit(
        (parts.scheme.lower(), parts.netloc, parts.path.rstrip("/"), "", "")
    )


def _loopback(host: str) -> bool:
    """Whether ``host`` names this machine (a loopback address, or ``localhost``)."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Failure:
    """Why a request to the server failed, in words."""

    reason: str  # short, for retry lines: "server unreachable (connection refused)"
    message: str  # a sentence: what happened, naming the server
    hint: str  # what to do next
    transient: bool  # whether trying again later can help


def explain(error: BaseException, url: str, *, stalled: bool = False) -> Failure:
    """Describe ``error`` (raised while talking to the server at ``url``).

    ``stalled``: the request was a transfer under way (an upload's append), so a timeout
    or a dropped connection is a stall rather than a server that cannot be reached."""
    https = url.lower().startswith("https://")
    host = urllib.parse.urlsplit(url).hostname or url
    if isinstance(error, aiohttp.ClientConnectorCertificateError):
        why = getattr(error.certificate_error, "verify_message", "") or "not trusted"
        return Failure(
            "untrusted TLS certificate",
            f"the server at {url} presented a TLS certificate this laptop does not trust ({why})",
            "ask the server's administrator; do not go on over a connection you cannot check",
            False,
        )
    if isinstance(error, aiohttp.ClientSSLError | ssl.SSLError):
        text = str(error)
        if https and any(s in text for s in _NOT_TLS):
            plain = "http://" + url[len("https://") :]
            return Failure(
                "the server does not speak TLS",
                f"the server at {url} does not speak TLS",
                f"if it is a local test server, use {plain} ({_LOCAL_TEST_SERVER}); "
                "otherwise ask its administrator",
                False,
            )
        return Failure(
            "TLS failed",
            f"a secure (TLS) connection to the server at {url} failed",
            "check the URL; if it is right, ask the server's administrator",
            False,
        )
    if isinstance(error, aiohttp.ClientConnectorDNSError) or (
        isinstance(error, aiohttp.ClientConnectorError)
        and isinstance(error.os_error, socket.gaierror)
    ):
        return Failure(
            "server unreachable (name lookup failed)",
            f"cannot find the server {host} (name lookup failed)",
            "check the URL, and that this laptop is online; then try again",
            True,
        )
    if isinstance(error, aiohttp.ClientConnectorError):
        os_error = error.os_error
        if isinstance(os_error, ConnectionRefusedError):
            return Failure(
                "server unreachable (connection refused)",
                f"nothing answers at {url} (connection refused)",
                "check that the server is running and that the address and port are right; "
                "if this laptop is offline, try again when it is online",
                True,
            )
        why = (os_error.strerror or type(os_error).__name__).lower()
        return Failure(
            f"server unreachable ({why})",
            f"cannot reach the server at {url} ({why})",
            "check the network connection, then try again",
            True,
        )
    if isinstance(error, TimeoutError):
        if stalled:
            return Failure(
                "the transfer stalled (no answer in time)",
                f"the transfer to {url} stalled (no answer in time)",
                "a slow or unsteady connection: try again where the connection is better",
                True,
            )
        return Failure(
            "the server did not answer in time",
            f"the server at {url} did not answer in time",
            "the connection may be slow or down: try again later",
            True,
        )
    if isinstance(error, aiohttp.ServerDisconnectedError):
        hint = (
            "a slow or unsteady connection: try again"
            if https
            else "if the server uses TLS, use https://…; otherwise try again later"
        )
        return Failure(
            "the transfer was cut (the server closed the connection)"
            if stalled
            else "the server closed the connection",
            f"the server at {url} closed the connection without answering",
            hint,
            True,
        )
    if isinstance(error, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        return Failure(
            "the server URL is not valid",
            f"{url!r} is not a server URL this kit can use",
            "enroll again with the URL as http://HOST:PORT or https://HOST:PORT",
            False,
        )
    if isinstance(error, aiohttp.ClientError | OSError):
        return Failure(
            "the connection dropped",
            f"the connection to {url} dropped ({type(error).__name__})",
            "try again when the connection is steadier",
            True,
        )
    raise TypeError(f"not a connection failure: {type(error).__name__}")  # pragma: no cover


#: The most of a server's error message or hint the kit prints.
_SAID = 300


def server_error(raw: bytes) -> tuple[str, str | None] | None:
    """The message and hint of a server's error body (api-v1.md §2), made safe to print
    (control characters escaped, cut to a few hundred characters: a server, or someone in
    its place, chooses them), or None if ``raw`` is not one."""
    try:
        detail = msgspec.json.decode(raw, type=ErrorBody).error
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    hint = None if detail.hint is None else shown(detail.hint, _SAID)
    return shown(detail.message, _SAID), hint
