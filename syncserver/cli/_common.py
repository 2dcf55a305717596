"""What every admin command shares: who acts, the secret, the project opened with or
without it, and the options that name them.

Secrets never come from the command line: the passphrase is read from a prompt, from
``--passphrase-file`` or from ``SEALSYNC_PASSPHRASE``; a key file is named with
``--key-file``. A command that signs, decrypts or writes first asks the key agent started
by ``syncserver unlock`` (:mod:`syncserver.project.agent`) and falls back to those
(:func:`opened`); a command that only reads opens the project without its secret
(:func:`reading`, :mod:`syncserver.project.readonly`).
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

from ..errors import PassphraseRejected, SyncServerError
from ..project import IDENTITY_NAME, Project, open_project
from ..project.keys import Secret

__all__ = [
    "cli_actor",
    "dir_arg",
    "dir_option",
    "open_unlocked",
    "opened",
    "project_options",
    "reading",
    "secret",
    "secret_options",
    "shown",
]


def cli_actor() -> str:
    """Who runs this command, as audit entries name them (audit-log-v1.md §14.1):
    ``cli:<login name>``, or ``cli:uid<N>`` when the name is unknown or not a plain label."""
    from schemas.text import valid_label

    try:
        user: str | None = getpass.getuser()
    except (OSError, KeyError):
        user = None
    if user is None or not valid_label(user) or " " in user:
        user = f"uid{os.getuid()}"
    return f"cli:{user}"


# -- options -----------------------------------------------------------------------------


def secret_options(p: argparse.ArgumentParser) -> None:
    """``--passphrase-file`` or ``--key-file``, for a command that may need the secret."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--passphrase-file", metavar="FILE", help="read the passphrase from FILE")
    g.add_argument("--key-file", metavar="FILE", help="unlock with a 32-byte key file")


def dir_option(p: argparse.ArgumentParser) -> None:
    """``--dir``, the project directory."""
    p.add_argument(
        "--dir",
        default=os.environ.get("SEALSYNC_DIR", "."),
        help="project directory (default: $SEALSYNC_DIR or .)",
    )


def project_options(p: argparse.ArgumentParser) -> None:
    """``--dir`` and the secret options, for a command on a project."""
    dir_option(p)
    secret_options(p)


# -- the secret and the project ----------------------------------------------------------


def secret(args: argparse.Namespace, *, confirm: bool = False) -> Secret:
    """The secret named by the options, else by ``SEALSYNC_PASSPHRASE``, else asked at the
    terminal (twice, and at least 12 characters, with ``confirm``)."""
    if getattr(args, "key_file", None):
        try:
            return Secret(key_file=Path(args.key_file).read_bytes()[:33])
        except OSError as e:
            raise SyncServerError(f"cannot read the key file ({e.strerror})") from None
    if getattr(args, "passphrase_file", None):
        try:
            text = Path(args.passphrase_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            raise SyncServerError("cannot read the passphrase file") from None
        return Secret(passphrase=text.rstrip("\r\n"))
    env = os.environ.get("SEALSYNC_PASSPHRASE")
    if env:
        return Secret(passphrase=env)
    if not sys.stdin.isatty():
        raise SyncServerError(
            "no passphrase given",
            hint="use --passphrase-file, --key-file or SEALSYNC_PASSPHRASE when not at a terminal",
        )
    first = getpass.getpass("project passphrase: ")
    if confirm:
        if len(first) < 12:
            raise SyncServerError("passphrase too short", hint="use at least 12 characters")
        if getpass.getpass("again: ") != first:
            raise SyncServerError("the passphrases differ", hint="run the command again")
    return Secret(passphrase=first)


def open_unlocked(args: argparse.Namespace) -> Project:
    """The project named by ``--dir``, unlocked by its key agent if one runs, else by the
    secret (prompt, file or environment)."""
    from ..project import agent

    directory = Path(args.dir)
    unlocked = agent.fetch(directory / IDENTITY_NAME)
    if unlocked is not None:
        with contextlib.suppress(PassphraseRejected):  # the file changed since: ask
            return open_project(directory, Secret(unlocked=unlocked))
    return open_project(directory, secret(args))


@contextlib.contextmanager
def opened(args: argparse.Namespace) -> Iterator[Project]:
    """The project named by ``--dir``, unlocked, and closed again afterwards."""
    project = open_unlocked(args)
    try:
        yield project
    finally:
        project.close()


@contextlib.contextmanager
def reading(args: argparse.Namespace) -> Iterator[Project]:
    """The project named by ``--dir`` for a command that only reads: no secret asked,
    the store opened read-only (:mod:`syncserver.project.readonly`)."""
    from ..project.readonly import open_read_only

    project = open_read_only(Path(args.dir))
    try:
        yield project
    finally:
        project.close()


# -- output ------------------------------------------------------------------------------


def dir_arg(args: argparse.Namespace) -> str:
    """``--dir DIR``, quoted for a shell, to repeat in a hint."""
    return f"--dir {shlex.quote(str(args.dir))}"


def shown(text: str) -> str:
    """Text stored from outside (a label), safe to print on a terminal."""
    return "".join(c if c.isprintable() else "?" for c in text)
