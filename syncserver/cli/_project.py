"""`syncserver init`, `run`, `unlock` and `lock`: a project's life on this machine (create
it, serve it, keep its key in an agent's memory for a while, end that agent)."""

from __future__ import annotations

import argparse
import datetime
import shlex
import signal
import sys
from pathlib import Path
from typing import Any

from schemas import certs

from .._time import now
from ..errors import ProjectMissing, SyncServerError
from ..project import IDENTITY_NAME, init_project
from ._common import (
    cli_actor,
    dir_arg,
    dir_option,
    opened,
    project_options,
    secret,
    secret_options,
)

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add ``init``, ``run``, ``unlock`` and ``lock`` to ``sub`` (from
    ``ArgumentParser.add_subparsers``)."""
    init = sub.add_parser("init", help="create a project: config, sealed keys, store")
    init.add_argument("directory", metavar="DIR")
    secret_options(init)
    init.set_defaults(func=_init)

    run = sub.add_parser("run", help="serve the project (HTTP API)")
    run.add_argument("--host", help="address to listen on (default: from the config)")
    run.add_argument("--port", type=int, help="port (default: from the config)")
    project_options(run)
    run.set_defaults(func=_run)

    from ..project.agent import DEFAULT_MINUTES, MAX_MINUTES

    ul = sub.add_parser(
        "unlock",
        help="keep the project key in an agent's memory for a while",
        description="Derive the project key once and keep it in a key agent's memory (never"
        " on disk) for the commands that follow on this project. It ends after --minutes, when"
        " identity.sealed changes, or with `syncserver lock`.",
    )
    ul.add_argument(
        "--minutes",
        type=int,
        default=DEFAULT_MINUTES,
        metavar="N",
        help=f"how long (default {DEFAULT_MINUTES}, at most {MAX_MINUTES})",
    )
    project_options(ul)
    ul.set_defaults(func=_unlock)
    lk = sub.add_parser("lock", help="end the key agent started by `syncserver unlock`")
    dir_option(lk)  # no secret: ending the agent needs none
    lk.set_defaults(func=_lock)


def _init(args: argparse.Namespace) -> int:
    from schemas import forms as schemas_forms

    from ..audit.tlog import verifier_key

    project = init_project(Path(args.directory), secret(args, confirm=True), actor=cli_actor())
    try:
        print(f"project {project.project_id} created in {args.directory}")
        print(f"  recipient key id  {project.identity.recipient_public.key_id.hex()}")
        print(f"  log origin        {project.log_origin}")
        fp = certs.fingerprint(project.identity.signing_public_bytes())
        print(f"  key fingerprint   {fp}")
        print("  (read it to interviewers: `collector status` shows the one their kit pinned)")
        vkey = verifier_key(project.log_origin, project.identity.signing_public)
        print(f"  log verifier key  {vkey}")
        print(
            "  (keep it apart from this server, e.g. printed: `audit verify --key` checks the"
            " log against it, not against the key the server's own store holds)"
        )
        d = f"--dir {shlex.quote(str(args.directory))}"
        shipped = shlex.quote(str(Path(schemas_forms.__file__).parent / "escapee-interview.toml"))
        print("next:")
        print(f"  1. publish a form:       syncserver forms publish {shipped} {d}")
        print(f"  2. enroll a device:      syncserver devices token --label NAME {d}")
        print(f"  3. run the server:       syncserver run {d}")
        print(f"  4. verify the audit log: syncserver audit verify {d} --key {shlex.quote(vkey)}")
    finally:
        project.close()
    return 0


def _run(args: argparse.Namespace) -> int:
    from ..audit.log import check_before_serving
    from ..records.attachments import leftover_plaintext
    from ..web import serve

    with opened(args) as project:
        cfg = project.config.server
        check = check_before_serving(project)  # before anything is signed or served
        print(f"audit log checked: {check.entries} entries ({check.seconds:.1f} s)")
        if check.unbound:
            print(
                f"warning: {check.unbound} audit entries after the last signed checkpoint were"
                " written before this version kept a MAC per entry: they cannot be checked",
                file=sys.stderr,
            )
        if n := leftover_plaintext(project):
            print(
                f"warning: {project.config.root / 'attachments'} holds {n} attachment files in"
                " clear text, left by an earlier version; the bundles in blobs/ keep every"
                " attachment encrypted, so shred that directory (e.g. `shred -u` each file)",
                file=sys.stderr,
            )
        stopped_by = serve(
            project,
            host=args.host or cfg.host,
            port=args.port if args.port is not None else cfg.port,
        )
    print("stopped: ingest workers ended, store closed")
    # Ctrl-C: 128 + SIGINT, as a shell reports an interrupted command (a script that ran
    # the server stops too); SIGTERM, a service manager's normal stop: success.
    return 128 + signal.SIGINT if stopped_by == signal.SIGINT else 0


def _unlock(args: argparse.Namespace) -> int:
    from ..project import agent
    from ..project.config import CONFIG_NAME
    from ..project.keys import unlock_key

    directory = Path(args.dir)
    if not (directory / CONFIG_NAME).exists():
        raise ProjectMissing(
            f"no project in {directory}", hint="create one with `syncserver init DIR`"
        )
    if not 1 <= args.minutes <= agent.MAX_MINUTES:
        raise SyncServerError(
            f"--minutes {args.minutes} is out of range",
            hint=f"an agent keeps the key 1 to {agent.MAX_MINUTES} minutes",
        )
    unlocked = unlock_key(directory / IDENTITY_NAME, secret(args))
    started = agent.start(directory / IDENTITY_NAME, unlocked, args.minutes)
    until = now() + datetime.timedelta(minutes=args.minutes)
    print(
        f"unlocked {directory} until {until:%H:%M} UTC ({args.minutes} min): its key is held in"
        f" memory by an agent (pid {started.pid}), never on disk"
    )
    print(
        f"next: run the commands you need, without the secret; `syncserver lock {dir_arg(args)}`"
        " ends it sooner"
    )
    return 0


def _lock(args: argparse.Namespace) -> int:
    from ..project import agent

    if agent.stop(Path(args.dir) / IDENTITY_NAME):
        print(f"locked: the key agent for {args.dir} has ended; commands ask for the secret again")
    else:
        print(f"no key agent was running for {args.dir}")
    return 0
