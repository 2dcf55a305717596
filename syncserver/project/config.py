"""Server configuration: a value, validated once (docs/spec/api-v1.md §8).

``DIR/sealsync.toml`` is read into :class:`Config` (unknown keys refused, every value
type- and range-checked), then ``SEALSYNC_*`` environment variables override single
settings (``SEALSYNC_SERVER_PORT=9000``). The result is passed explicitly; there are no
module-level settings.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import msgspec

from schemas.text import exact

from ..errors import ConfigError

__all__ = [
    "CONFIG_NAME",
    "Config",
    "DeviceSettings",
    "Limits",
    "RespondentSettings",
    "StoreSettings",
    "ServerSettings",
    "load_config",
    "render_config",
]

CONFIG_NAME = "sealsync.toml"
MiB = 1024 * 1024
_PORT = Annotated[int, msgspec.Meta(ge=0, le=65535)]
_POS = Annotated[int, msgspec.Meta(ge=1)]
# Strings that name things are matched whole (schemas/text.py): a host name or address;
# a file path without control or bidi formatting characters (a NUL would otherwise fail
# deep inside the server as a ValueError, a newline or an escape sequence would reach
# the log and the terminal); the store as ``scheme:`` and such a path.
_PATH_CHARS = r"[^\x00-\x1f\x7f-\x9f\u2028-\u202e\u2066-\u2069]"
_HOST = Annotated[str, msgspec.Meta(pattern=exact(r"[A-Za-z0-9.:%\[\]_-]{1,253}"))]
_PATH = Annotated[str, msgspec.Meta(pattern=exact(f"{_PATH_CHARS}{{0,4096}}"))]
_STORE = Annotated[
    str, msgspec.Meta(pattern=exact(f"[a-z][a-z0-9+.-]{{0,31}}:{_PATH_CHARS}{{1,4096}}"))
]
_WHAT = {
    "host": "a host name or IP address (letters, digits and . : - _ [ ] %)",
    "tls_cert": "a file path without control characters",
    "tls_key": "a file path without control characters",
    "weights": "a file path without control characters",
    "store": "'sqlite:' and a file path, or a postgresql:// URL, without control characters",
    "url": "'sqlite:' and a file path, or a postgresql:// URL, without control characters",
}
_AT = re.compile(r"Expected `str` matching regex '.*' - at `\$(?:\.[a-z]+)?\.([a-z_]+)`")


class ServerSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    host: _HOST = "127.0.0.1"
    port: _PORT = 8443
    tls_cert: _PATH = ""
    tls_key: _PATH = ""
    #: Worker processes that open and validate bundles: -1 one per core, 0 none.
    ingest_processes: Annotated[int, msgspec.Meta(ge=-1, le=64)] = -1
    #: A connection that has not sent a complete request head (line and headers) this
    #: long after it opened, or after its last answer, is closed (slow or idle clients).
    idle_timeout_seconds: Annotated[int, msgspec.Meta(ge=1, le=3600)] = 15
    #: A request body must have arrived this long after its head: else 408 and the
    #: connection is closed. Clients on slow links send smaller chunks.
    body_timeout_seconds: Annotated[int, msgspec.Meta(ge=1, le=3600)] = 120


class Limits(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    max_bundle_bytes: _POS = 256 * MiB
    max_chunk_bytes: _POS = 8 * MiB
    uploads_per_device: _POS = 4
    #: Uploads a device may have announced and not completed (each up to
    #: max_bundle_bytes on disk); more are refused until one completes or expires.
    open_uploads_per_device: _POS = 16
    #: An upload untouched for this long is deleted (a device asking again starts over).
    open_upload_days: _POS = 30
    requests_per_minute: _POS = 600
    clock_skew_seconds: _POS = 300


class DeviceSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    certificate_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] = 365
    token_hours: Annotated[int, msgspec.Meta(ge=1, le=24 * 30)] = 24


class RespondentSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    #: A matching weights file re-estimated for this project (docs/dedup.md), relative
    #: to the project directory; empty: the weights shipped with sealsync.
    weights: _PATH = ""


class StoreSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    #: ``sqlite:FILE`` (the embedded default, FILE relative to the project directory) or
    #: ``postgresql://USER@HOST:PORT/DB`` (several servers on one database). A password
    #: does not belong here: libpq reads it from ~/.pgpass, PGPASSFILE or PGPASSWORD.
    url: _STORE = "sqlite:store.db"


class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Everything the server reads at start-up. ``project_dir`` is set by the loader."""

    project_dir: str = ""
    store: StoreSettings = StoreSettings()
    server: ServerSettings = ServerSettings()
    limits: Limits = Limits()
    devices: DeviceSettings = DeviceSettings()
    respondents: RespondentSettings = RespondentSettings()

    @property
    def root(self) -> Path:
        return Path(self.project_dir)

    @property
    def postgres(self) -> bool:
        """Whether the store is PostgreSQL (else the embedded SQLite file)."""
        return self.store.url.startswith(("postgresql:", "postgres:"))

    @property
    def store_location(self) -> Path | str:
        """Where the store is: the SQLite file's path, or the PostgreSQL URL."""
        return self.store.url if self.postgres else self.sqlite_path

    @property
    def sqlite_path(self) -> Path:
        if not self.store.url.startswith("sqlite:"):
            raise ConfigError(
                "the store is not SQLite", hint="this needs [store] url = 'sqlite:FILE'"
            )
        return self.root / self.store.url.removeprefix("sqlite:")


_SECTIONS = ("store", "server", "limits", "devices", "respondents")


def _overrides(cfg: dict[str, Any], env: Mapping[str, str]) -> None:
    for key, value in env.items():
        if not key.startswith("SEALSYNC_") or key == "SEALSYNC_PASSPHRASE":
            continue
        parts = key.removeprefix("SEALSYNC_").lower().split("_", 1)
        if parts[0] == "store" and len(parts) == 1:
            cfg["store"] = {"url": value}
        elif len(parts) == 2 and parts[0] in (
            "store",
            "server",
            "limits",
            "devices",
            "respondents",
        ):
            section = cfg.setdefault(parts[0], {})
            whole = re.fullmatch(r"-?[0-9]{1,18}", value) is not None
            section[parts[1]] = int(value) if whole else value


def load_config(project_dir: Path, env: Mapping[str, str] | None = None) -> Config:
    """Read ``project_dir/sealsync.toml`` and environment overrides; check everything."""
    path = project_dir / CONFIG_NAME
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"no {CONFIG_NAME} in {project_dir}",
            hint="create a project with `syncserver init DIR`",
        ) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path.name} cannot be read: {e}") from None
    environ = os.environ if env is None else env
    if isinstance(raw.get("store"), str):  # written before [store]: store = "sqlite:…"
        raw["store"] = {"url": raw["store"]}
    _overrides(raw, environ)
    raw["project_dir"] = str(project_dir)
    try:
        config = msgspec.convert(raw, Config)
    except msgspec.ValidationError as e:
        message = str(e)
        hint = f"fix the setting named above in {path}"
        at = re.search(r" - at `\$\.([a-z_.]+)`$", message)
        var = "SEALSYNC_" + at[1].replace(".", "_").upper() if at else ""
        if var == "SEALSYNC_STORE_URL" and var not in environ:
            var = "SEALSYNC_STORE"  # the store's URL, set the short way
        if var in environ:
            hint = f"fix the environment variable {var}, which overrides {path.name}"
        raise ConfigError(f"{path.name}: {_explain(message)}", hint=hint) from None
    if config.postgres and _has_password(config.store.url):
        raise ConfigError(
            f"{path.name}: the store URL holds a password",
            hint="keep it out of the configuration: libpq reads it from ~/.pgpass,"
            " PGPASSFILE or PGPASSWORD",
        )
    return config


def _has_password(url: str) -> bool:
    """Whether a libpq URL carries a password (in its user part or as a parameter)."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qs(parts.query)
    return parts.password is not None or "password" in query


def _explain(message: str) -> str:
    """msgspec's "Expected `str` matching regex '…'" said as what the setting must be."""
    m = _AT.fullmatch(message)
    if m is None or m[1] not in _WHAT:
        return message
    where = message[message.rindex(" - at ") :]
    return f"Expected {_WHAT[m[1]]}{where}"


def _q(value: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's): a path may hold a quote."""
    return json.dumps(value, ensure_ascii=False)


def render_config(config: Config) -> str:
    """The TOML text written by ``syncserver init`` (every setting, with defaults)."""
    s, lim, dev = config.server, config.limits, config.devices
    return (
        "# sealsync server configuration. Every setting can be overridden by an\n"
        "# environment variable: SEALSYNC_<SECTION>_<NAME>, e.g. SEALSYNC_SERVER_PORT.\n"
        "[store]\n"
        f"url = {_q(config.store.url)}"
        "  # sqlite:FILE, or postgresql://USER@HOST:PORT/DB (password in ~/.pgpass)\n\n"
        "[server]\n"
        f"host = {_q(s.host)}\nport = {s.port}\n"
        f"tls_cert = {_q(s.tls_cert)}  # PEM file; with tls_key, serve HTTPS\n"
        f"tls_key = {_q(s.tls_key)}\n"
        f"ingest_processes = {s.ingest_processes}"
        "  # worker processes opening bundles: -1 one per core, 0 none\n"
        f"idle_timeout_seconds = {s.idle_timeout_seconds}"
        "  # close a connection with no complete request head after this\n"
        f"body_timeout_seconds = {s.body_timeout_seconds}"
        "  # a request body must arrive within this (else 408)\n\n"
        "[limits]\n"
        f"max_bundle_bytes = {lim.max_bundle_bytes}\nmax_chunk_bytes = {lim.max_chunk_bytes}\n"
        f"uploads_per_device = {lim.uploads_per_device}\n"
        f"open_uploads_per_device = {lim.open_uploads_per_device}"
        "  # announced, not completed\n"
        f"open_upload_days = {lim.open_upload_days}"
        "  # an upload untouched this long is deleted\n"
        f"requests_per_minute = {lim.requests_per_minute}\n"
        f"clock_skew_seconds = {lim.clock_skew_seconds}\n\n"
        "[devices]\n"
        f"certificate_days = {dev.certificate_days}\ntoken_hours = {dev.token_hours}\n\n"
        "[respondents]\n"
        f"weights = {_q(config.respondents.weights)}  # re-estimated weights (docs/dedup.md);"
        " empty: the shipped ones\n"
    )
