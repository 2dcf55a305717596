"""Configuration strings that name things are matched whole (syncserver/config.py).

A host, a TLS file, the weights file and the store, from ``sealsync.toml`` or from a
``SEALSYNC_*`` variable, with a final newline or a control or bidi character, are one
:class:`ConfigError` naming the setting (before: a NUL in a path surfaced later as a
ValueError traceback, a newline or an escape sequence reached the log); a number in
another script's digits is refused the same way, not a traceback.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from syncserver.errors import ConfigError
from syncserver.project.config import Config, ServerSettings, load_config, render_config

GOOD = {
    "store.url": "sqlite:data/store.db",
    "server.host": "::1",
    "server.tls_cert": "tls/서버 cert.pem",
    "server.tls_key": 'tls/"key".pem',
    "respondents.weights": "weights-2024.json",
}
WHAT = {
    "store.url": "'sqlite:' and a file path, or a postgresql:// URL, without control characters",
    "server.host": "a host name or IP address (letters, digits and . : - _ [ ] %)",
    "server.tls_cert": "a file path without control characters",
    "server.tls_key": "a file path without control characters",
    "respondents.weights": "a file path without control characters",
}


def _write(root: Path, setting: str, value: str) -> None:
    section, _, key = setting.rpartition(".")
    escaped = (c if c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}" for c in value)
    quoted = '"' + "".join(escaped) + '"'
    head = f"{key} = {quoted}\n" if not section else f"[{section}]\n{key} = {quoted}\n"
    (root / "sealsync.toml").write_text(head, encoding="utf-8")


@pytest.mark.parametrize("setting", sorted(GOOD))
def test_good_values_load(tmp_path: Path, setting: str) -> None:
    _write(tmp_path, setting, GOOD[setting])
    cfg = load_config(tmp_path, env={})
    section, _, key = setting.rpartition(".")
    got = getattr(getattr(cfg, section) if section else cfg, key)
    assert got == GOOD[setting]


@pytest.mark.parametrize("setting", sorted(GOOD))
@pytest.mark.parametrize(
    "bad", ["\n", "\x00", "\x1b[2J", "\u202e"], ids=["lf", "nul", "esc", "rlo"]
)
def test_a_control_character_in_the_file_names_the_setting(
    tmp_path: Path, setting: str, bad: str
) -> None:
    _write(tmp_path, setting, GOOD[setting] + bad)
    with pytest.raises(ConfigError) as e:
        load_config(tmp_path, env={})
    assert e.value.message == f"sealsync.toml: Expected {WHAT[setting]} - at `$.{setting}`"
    assert e.value.hint == f"fix the setting named above in {tmp_path / 'sealsync.toml'}"


@pytest.mark.parametrize("setting", sorted(GOOD))
def test_a_control_character_from_the_environment_names_the_variable(
    tmp_path: Path, setting: str
) -> None:
    (tmp_path / "sealsync.toml").write_text("", encoding="utf-8")
    var = "SEALSYNC_" + setting.replace(".", "_").upper()
    with pytest.raises(ConfigError) as e:
        load_config(tmp_path, env={var: GOOD[setting][:1] + "\x00" + GOOD[setting][1:]})
    assert e.value.message == f"sealsync.toml: Expected {WHAT[setting]} - at `$.{setting}`"
    assert e.value.hint == f"fix the environment variable {var}, which overrides sealsync.toml"


def test_numbers_from_the_environment_are_ascii_digits(tmp_path: Path) -> None:
    (tmp_path / "sealsync.toml").write_text("", encoding="utf-8")
    cfg = load_config(
        tmp_path, env={"SEALSYNC_SERVER_PORT": "9000", "SEALSYNC_SERVER_INGEST_PROCESSES": "-1"}
    )
    assert (cfg.server.port, cfg.server.ingest_processes) == (9000, -1)
    for digits in ("²", "٩٠٠٠", "9000\n"):  # "²".isdigit() is True, int("²") fails
        with pytest.raises(ConfigError) as e:
            load_config(tmp_path, env={"SEALSYNC_SERVER_PORT": digits})
        assert e.value.message == "sealsync.toml: Expected `int`, got `str` - at `$.server.port`"
        assert e.value.hint == (
            "fix the environment variable SEALSYNC_SERVER_PORT, which overrides sealsync.toml"
        )


def test_rendered_config_round_trips_a_path_with_quotes(tmp_path: Path) -> None:
    cfg = Config(server=ServerSettings(tls_cert='tls/"cert".pem', tls_key="tls\\key.pem"))
    text = render_config(cfg)
    assert tomllib.loads(text)["server"]["tls_cert"] == 'tls/"cert".pem'
    (tmp_path / "sealsync.toml").write_text(text, encoding="utf-8")
    again = load_config(tmp_path, env={})
    assert (again.server.tls_cert, again.server.tls_key) == ('tls/"cert".pem', "tls\\key.pem")


def test_a_store_written_before_the_store_section_still_loads(tmp_path: Path) -> None:
    """Projects made before ``[store] url`` have ``store = "sqlite:…"`` at the top."""
    (tmp_path / "sealsync.toml").write_text('store = "sqlite:old.db"\n', encoding="utf-8")
    assert load_config(tmp_path, env={}).store.url == "sqlite:old.db"
    assert load_config(tmp_path, env={"SEALSYNC_STORE": "sqlite:env.db"}).store.url == (
        "sqlite:env.db"
    )
    with pytest.raises(ConfigError) as e:
        load_config(tmp_path, env={"SEALSYNC_STORE": "sqlite:e\x00v.db"})
    assert (
        e.value.hint == "fix the environment variable SEALSYNC_STORE, which overrides sealsync.toml"
    )


def test_a_postgresql_url_loads_and_a_password_in_it_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, "store.url", "postgresql://sealsync@db.example:5432/sealsync")
    cfg = load_config(tmp_path, env={})
    assert cfg.postgres and cfg.store.url == "postgresql://sealsync@db.example:5432/sealsync"
    for url in (
        "postgresql://sealsync:Quokka-7731@db.example/sealsync",
        "postgresql://sealsync@db.example/sealsync?password=Quokka-7731",
    ):
        _write(tmp_path, "store.url", url)
        with pytest.raises(ConfigError) as e:
            load_config(tmp_path, env={})
        assert e.value.message == "sealsync.toml: the store URL holds a password"
        assert "Quokka" not in str(e.value)
