"""`syncserver`: the admin command line (thin: it parses arguments and calls libraries).

:func:`build_parser` puts the parser together from the command modules, each of which
registers its own subcommands: :mod:`._project` (init, run, unlock, lock),
:mod:`._access` (devices, tokens), :mod:`._review` (quarantine, conflicts, records,
attachments), :mod:`._export`, :mod:`._respondents`, the audit commands and
:mod:`._forms`; what they share (who acts, the secret, opening the project with or
without it) is in :mod:`._common`. Every :class:`~syncserver.errors.SyncServerError`
ends as exit code 1 with its message and a hint; a reader that goes away
(``syncserver audit show | head -1``) ends it quietly.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Sequence

from schemas import __version__
from schemas.errors import SchemaError

from ..errors import SyncServerError
from . import _access, _forms, _project, _review
from ._common import open_unlocked, opened, project_options

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="syncserver", description="sealsync sync server and admin tools"
    )
    p.add_argument("--version", action="version", version=f"sealsync {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    # in the order `syncserver --help` lists them
    _project.register(sub)
    _access.register(sub)
    _review.register(sub)

    from . import _audit as cli_audit
    from . import _export as cli_export
    from . import _respondents as cli_respondents

    cli_export.register(sub, project_options, open_unlocked)
    cli_respondents.register(sub, project_options, opened)
    cli_audit.register(sub, project_options)
    _forms.register(sub)
    return p


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        code: int = func(args)
    except (SyncServerError, SchemaError) as e:
        print(f"syncserver: {e}", file=sys.stderr)
        return 1
    return code


def _discard_output() -> None:
    """Point stdout and stderr at /dev/null, so that nothing more is written to a pipe
    whose reader has gone (not even by the interpreter's flush at exit)."""
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(AttributeError, OSError, ValueError):
                os.dup2(null, stream.fileno())
    finally:
        os.close(null)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            return _main(argv)
        finally:
            sys.stdout.flush()  # here, not at exit: a reader that went away is met below
    except BrokenPipeError:
        # `syncserver audit show | head -1`: the reader has what it wanted. Quiet, and
        # 128 + SIGPIPE as for any command a closed pipe stops.
        _discard_output()
        return 128 + signal.SIGPIPE
    except KeyboardInterrupt:
        print("\nsyncserver: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT


if __name__ == "__main__":
    sys.exit(main())
