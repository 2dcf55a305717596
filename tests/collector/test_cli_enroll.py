"""`collector enroll` as a new user meets it (issue 11, "Every user error is one clear
message"): the server down, a URL without a scheme, https:// against the plain-HTTP
server `syncserver run` starts by default, and a token typed on the command line. Each
ends in one message saying what happened and what to do, exit 1, no traceback, and
nothing written to the kit. The token is read from a file, the environment or a prompt
that does not echo it."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

import msgspec
import pytest
from kit_cli_helpers import ServedProject, closed_port, kit_env, kit_objects, new_kit

from collector.cli import main as collector
from syncserver.access import devices

TOKEN_ENV = "SEALSYNC_ENROLL_TOKEN"


def run(home: Path, *args: str) -> int:
    return collector(["--home", str(home), "enroll", *args])


def refused(
    home: Path, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[str, dict[str, list[str]]]:
    """Run an enrollment that must fail: exit 1, nothing on stdout, no traceback, and the
    kit unchanged. Returns stderr."""
    before = kit_objects(home)
    assert run(home, *args) == 1
    out = capsys.readouterr()
    assert out.out == "" and "Traceback" not in out.err
    after = kit_objects(home)
    assert after == before and "enrollment" not in after["state"]
    return out.err, after


def test_enroll_with_the_server_down_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kit_env(monkeypatch)
    monkeypatch.setenv(TOKEN_ENV, "sst1_synthetic-token-never-valid")
    new_kit(tmp_path / "kit")
    port = closed_port()
    err, _ = refused(tmp_path / "kit", capsys, f"http://127.0.0.1:{port}")
    assert err == (
        f"collector: cannot enroll: nothing answers at http://127.0.0.1:{port} "
        "(connection refused)\n"
        "hint: check that the server is running and that the address and port are right; "
        "if this laptop is offline, try again when it is online (nothing was changed on "
        "this kit)\n"
    )


@pytest.mark.parametrize("given", ["127.0.0.1:8443", "localhost:8443"])
def test_enroll_with_a_url_without_a_scheme_says_how_to_write_it(
    given: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kit_env(monkeypatch)
    monkeypatch.setenv(TOKEN_ENV, "sst1_synthetic-token-never-valid")
    new_kit(tmp_path / "kit")
    err, _ = refused(tmp_path / "kit", capsys, given)
    assert err == (
        f"collector: {given!r} does not say how to reach the server: it must start with "
        "http:// or https://\n"
        f"hint: use http://{given} for a test server on this laptop (`syncserver run` "
        "serves plain HTTP on 127.0.0.1:8443 unless TLS is set in its sealsync.toml), "
        f"https://{given} for a server with TLS; ask the administrator if unsure\n"
    )


def test_enroll_with_https_against_the_default_plain_http_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's example used https:// against `syncserver run`'s default (plain HTTP
    on loopback): a traceback. Now one message says to use http:// for a local test
    server; with http://, as the README now says, the same token enrolls the kit."""
    kit_env(monkeypatch)
    home = tmp_path / "kit"
    new_kit(home)
    with ServedProject(tmp_path / "srv") as server:
        monkeypatch.setenv(TOKEN_ENV, server.token())
        https = f"https://127.0.0.1:{server.port}"
        err, _ = refused(home, capsys, https)
        assert err == (
            f"collector: cannot enroll: the server at {https} does not speak TLS\n"
            f"hint: if it is a local test server, use {server.url} (`syncserver run` serves "
            "plain HTTP on 127.0.0.1:8443 unless TLS is set in its sealsync.toml); otherwise "
            "ask its administrator (nothing was changed on this kit)\n"
        )
        assert devices.list_devices(server.project) == []  # the token was never sent
        assert run(home, server.url, "--label", "laptop-tls") == 0
        out = capsys.readouterr().out
        [device] = devices.list_devices(server.project)
        assert f"enrolled as device {device.device_id}; server keys pinned" in out
        assert "forms: escapee-interview v1" in out
    assert "enrollment" in kit_objects(home)["state"]


@pytest.mark.parametrize("where", ["after the url", "instead of the url"])
def test_a_token_on_the_command_line_is_refused_and_never_shown(
    where: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kit_env(monkeypatch)
    home = tmp_path / "kit"
    new_kit(home)
    with ServedProject(tmp_path / "srv") as server:
        token = server.token()
        args = [server.url, token] if where == "after the url" else [token]
        err, _ = refused(home, capsys, *args)
        assert devices.list_devices(server.project) == []  # nothing was sent
    assert token not in err and token[5:] not in err
    assert err == (
        "collector: the enrollment token must not be given on the command line: every "
        "user of this computer can read it in the process list (nothing was sent)\n"
        "hint: leave it out to be asked for it, or use --token-file FILE or "
        "SEALSYNC_ENROLL_TOKEN; if others use this computer, ask the administrator for a "
        "new token\n"
    )


def test_the_token_comes_from_a_file_the_environment_or_a_prompt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kit_env(monkeypatch)
    with ServedProject(tmp_path / "srv") as server:
        # a file (a trailing newline, as an editor leaves it)
        new_kit(tmp_path / "a")
        token_file = tmp_path / "token.txt"
        token_file.write_text(server.token() + "\n", encoding="utf-8")
        assert run(tmp_path / "a", server.url, "--token-file", str(token_file)) == 0
        # the environment
        new_kit(tmp_path / "b")
        monkeypatch.setenv(TOKEN_ENV, server.token())
        assert run(tmp_path / "b", server.url) == 0
        monkeypatch.delenv(TOKEN_ENV)
        # a prompt at a terminal, through getpass (never echoed), never input()
        new_kit(tmp_path / "c")
        prompts: list[str] = []
        token = server.token()

        def fake_getpass(prompt: str = "") -> str:
            prompts.append(prompt)
            return token

        monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
        monkeypatch.setattr(getpass, "getpass", fake_getpass)
        monkeypatch.setattr("builtins.input", lambda *_: pytest.fail("token read with input()"))
        assert run(tmp_path / "c", server.url) == 0
        assert prompts == ["one-time enrollment token (not shown as you type): "]
        assert len(devices.list_devices(server.project)) == 3
    out = capsys.readouterr()
    assert out.out.count("enrolled as device") == 3 and out.err == ""
    for home in ("a", "b", "c"):
        assert "enrollment" in kit_objects(tmp_path / home)["state"]


def test_no_token_or_a_bad_token_file_is_one_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kit_env(monkeypatch)
    home = tmp_path / "kit"
    new_kit(home)
    url = f"http://127.0.0.1:{closed_port()}"  # never reached: the token is checked first
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    err, _ = refused(home, capsys, url)
    assert err == (
        "collector: no enrollment token given\n"
        "hint: use --token-file FILE or SEALSYNC_ENROLL_TOKEN when not at a terminal\n"
    )
    err, _ = refused(home, capsys, url, "--token-file", str(tmp_path / "missing.txt"))
    assert err == (
        "collector: cannot read the token file (No such file or directory)\n"
        "hint: check the path given to --token-file\n"
    )
    empty = tmp_path / "empty.txt"
    empty.write_text("\n", encoding="utf-8")
    err, _ = refused(home, capsys, url, "--token-file", str(empty))
    assert err == (
        "collector: the enrollment token is empty or malformed\n"
        "hint: it is one line, as the administrator gave it (`syncserver devices token`)\n"
    )


@pytest.mark.parametrize("host", ["192.0.2.7", "sync.example.org", "[2001:db8::7]"])
def test_plain_http_to_another_machine_is_refused_before_anything_is_sent(
    host: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The token and the server's keys (taken on first use) must not cross a network in
    clear: http:// is for a server on this laptop only. Nothing is sent: the hosts here
    are documentation addresses that nothing answers."""
    kit_env(monkeypatch)
    monkeypatch.setenv(TOKEN_ENV, "sst1_synthetic-token-never-valid")
    new_kit(tmp_path / "kit")
    err, _ = refused(tmp_path / "kit", capsys, f"http://{host}:8443")
    name = host.strip("[]")
    assert err == (
        f"collector: plain http:// to {name} would carry the enrollment token and the"
        " server's keys across the network unprotected\n"
        f"hint: use https://{host}:8443 (the administrator sets TLS in sealsync.toml); plain"
        " http:// is only for a server on this laptop (http://127.0.0.1:PORT)\n"
    )


@pytest.mark.parametrize("url", ["http://127.0.0.1:9", "http://localhost:9", "http://[::1]:9"])
def test_plain_http_to_this_machine_is_allowed(url: str) -> None:
    from collector._net import server_url

    assert server_url(url) == url


@pytest.mark.parametrize("label", ["kit\n7", "kit\u202e7", " kit", "k" * 65, ""])
def test_a_device_label_that_is_not_exact_is_refused_before_anything_is_sent(
    label: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kit_env(monkeypatch)
    new_kit(tmp_path / "kit")
    err, _ = refused(tmp_path / "kit", capsys, "--request", str(tmp_path / "req"), "--label", label)
    assert "cannot be a device label" in err and "\n7" not in err and "\u202e" not in err
    assert not (tmp_path / "req").exists()


def test_a_servers_error_message_is_printed_escaped_and_cut() -> None:
    from collector._net import server_error

    body = msgspec.json.encode(
        {"error": {"code": "x", "message": "no\x1b[2Jway" + "y" * 1000, "hint": "a\u202eb"}}
    )
    said = server_error(body)
    assert said is not None
    message, hint = said
    assert message.startswith("no\\x1b[2Jway") and len(message) <= 320
    assert hint == "a\\u202eb"
    assert server_error(b"<html>") is None
