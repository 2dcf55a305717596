"""`syncserver`: the admin command line (thin: it parses arguments and calls libraries).

Secrets never come from the command line: the passphrase is read from a prompt, from
``--passphrase-file`` or from ``SEALSYNC_PASSPHRASE``; a key file is named with
``--key-file``. A command that signs, decrypts or writes first asks the key agent started
by ``syncserver unlock`` (:mod:`syncserver.project.agent`) and falls back to those; a command that
only reads opens the project without its secret (:mod:`syncserver.project.readonly`). Every
:class:`~syncserver.errors.SyncServerError` ends as exit code 1 with its message and a
hint; a reader that goes away (``syncserver audit show | head -1``) ends it quietly.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import getpass
import os
import shlex
import signal
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import msgspec

from schemas import __version__, certs
from schemas.errors import FormInvalid, SchemaError
from schemas.ids import parse_id
from schemas.survey import Form, import_xlsform, load_form
from schemas.wire import EnrollmentRequest

from ..access import devices
from ..errors import PassphraseRejected, ProjectMissing, SyncServerError
from ..project import IDENTITY_NAME, Project, init_project, open_project
from ..project.keys import Secret

MAX_REQUEST_FILE = 64 * 1024


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


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


def _load(path: Path) -> tuple[Form, list[str]]:
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        result = import_xlsform(path)
        return result.form, [str(w) for w in result.warnings]
    return load_form(path), []


def _forms_check(args: argparse.Namespace) -> int:
    status = 0
    for name in args.files:
        path = Path(name)
        try:
            form, warnings = _load(path)
        except FormInvalid as e:
            print(f"{path}: {e}", file=sys.stderr)
            status = 1
            continue
        items = len(form.walk())
        print(
            f"{path}: ok: form '{form.id}' v{form.version}, {items} items, "
            f"languages {', '.join(form.languages)}"
        )
        for w in warnings:
            print(f"  warning: {w}")
    if status:
        print(
            "hint: fix every problem listed, then run `syncserver forms check` again",
            file=sys.stderr,
        )
    return status


# -- secrets -----------------------------------------------------------------------------


def _secret(args: argparse.Namespace, *, confirm: bool = False) -> Secret:
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


def _project(args: argparse.Namespace) -> Project:
    """The project named by ``--dir``, unlocked by its key agent if one runs, else by the
    secret (prompt, file or environment)."""
    from ..project import agent

    directory = Path(args.dir)
    unlocked = agent.fetch(directory / IDENTITY_NAME)
    if unlocked is not None:
        with contextlib.suppress(PassphraseRejected):  # the file changed since: ask
            return open_project(directory, Secret(unlocked=unlocked))
    return open_project(directory, _secret(args))


@contextlib.contextmanager
def _reading(args: argparse.Namespace) -> Iterator[Project]:
    """The project named by ``--dir`` for a command that only reads: no secret asked,
    the store opened read-only (:mod:`syncserver.project.readonly`)."""
    from ..project.readonly import open_read_only

    project = open_read_only(Path(args.dir))
    try:
        yield project
    finally:
        project.close()


def _dir_arg(args: argparse.Namespace) -> str:
    """``--dir DIR``, quoted for a shell, to repeat in a hint."""
    return f"--dir {shlex.quote(str(args.dir))}"


def _shown(text: str) -> str:
    """Text stored from outside (a label), safe to print on a terminal."""
    return "".join(c if c.isprintable() else "?" for c in text)


@contextlib.contextmanager
def _opened(args: argparse.Namespace) -> Iterator[Project]:
    """The project named by ``--dir``, unlocked, and closed again afterwards."""
    project = _project(args)
    try:
        yield project
    finally:
        project.close()


# -- commands ----------------------------------------------------------------------------


def _init(args: argparse.Namespace) -> int:
    from schemas import forms as schemas_forms

    from ..audit.tlog import verifier_key

    project = init_project(Path(args.directory), _secret(args, confirm=True), actor=cli_actor())
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


def _devices_token(args: argparse.Namespace) -> int:
    with _opened(args) as project:
        token = devices.create_token(project, args.label, actor=cli_actor(), now=_now())
    hours = project.config.devices.token_hours
    print(token)
    print(
        f"(one-time enrollment token, valid {hours} h; it is not stored and not shown again)",
        file=sys.stderr,
    )
    return 0


def _devices_enroll_file(args: argparse.Namespace) -> int:
    try:
        data = Path(args.request).read_bytes()[: MAX_REQUEST_FILE + 1]
        if len(data) > MAX_REQUEST_FILE:
            raise ValueError
        request = msgspec.json.decode(data, type=EnrollmentRequest)
    except OSError as e:
        raise SyncServerError(f"cannot read the request file ({e.strerror})") from None
    except (ValueError, msgspec.DecodeError, msgspec.ValidationError):
        raise SyncServerError(
            "the request file is not an enrollment request",
            hint="create it on the device with `collector enroll --request FILE`",
        ) from None
    with _opened(args) as project:
        response = devices.enroll(project, request, how="file", actor=cli_actor(), now=_now())
    out = Path(args.output)
    out.write_bytes(msgspec.json.encode(response))
    print(f"device enrolled; carry {out} back to the device: `collector enroll --file {out}`")
    return 0


def _devices_list(args: argparse.Namespace) -> int:
    from ..access.enrollment_tokens import enrolled_by

    with _reading(args) as project:
        rows = devices.list_devices(project)
        tokens = enrolled_by(project)
    if not rows:
        print(
            "no devices enrolled; make a token with"
            f" `syncserver devices token --label NAME {_dir_arg(args)}`"
        )
    for d in rows:
        state = f"revoked {d.revoked:%Y-%m-%d}" if d.revoked else f"valid to {d.not_after:%Y-%m-%d}"
        how = f"token '{_shown(tokens[d.device_id])}'" if d.device_id in tokens else d.how
        print(f"{d.serial:>4}  {d.device_id}  {d.label:<20}  {how:<5}  {state}  seq {d.last_seq}")
    return 0


def _devices_tokens(args: argparse.Namespace) -> int:
    from ..access.enrollment_tokens import list_enrollment_tokens

    with _reading(args) as project:
        rows = list_enrollment_tokens(project)
    now = _now()
    if not rows:
        print(
            "no enrollment tokens made; make one with"
            f" `syncserver devices token --label NAME {_dir_arg(args)}`"
        )
    for t in rows:
        state = t.state(now)
        if t.used is not None:
            by = f"device {t.device_id} (serial {t.serial})" if t.device_id else "a device"
            what = f"used {t.used:%Y-%m-%d %H:%M} by {by}"
        elif state == "unused":
            what = f"unused, valid to {t.expires:%Y-%m-%d %H:%M}"
        else:
            what = f"expired unused {t.expires:%Y-%m-%d %H:%M}"
        print(f"{_shown(t.label):<24} made {t.created:%Y-%m-%d %H:%M}  {what}")
    return 0


def _devices_revoke(args: argparse.Namespace) -> int:
    try:
        device_id = parse_id(args.device_id)
    except ValueError:
        raise SyncServerError(
            "not a device id", hint="copy it from `syncserver devices list`"
        ) from None
    with _opened(args) as project:
        devices.revoke(project, device_id, args.reason, actor=cli_actor(), now=_now())
    print(f"device {device_id} revoked; its later bundles will be quarantined")
    return 0


def _run(args: argparse.Namespace) -> int:
    from ..audit.log import check_before_serving
    from ..records.attachments import leftover_plaintext
    from ..web import serve

    with _opened(args) as project:
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


def _forms_publish(args: argparse.Namespace) -> int:
    from ..forms import publish_form

    form, warnings = _load(Path(args.file))
    for w in warnings:
        print(f"  warning: {w}")
    with _opened(args) as project:
        new = publish_form(project, form, actor=cli_actor(), now=_now())
    state = "published" if new else "already published (no change)"
    print(f"form '{form.id}' v{form.version}: {state}")
    return 0


def _forms_list(args: argparse.Namespace) -> int:
    from ..forms import list_forms

    with _reading(args) as project:
        rows = list_forms(project)
    if not rows:
        print("no forms published; publish one with `syncserver forms publish FILE`")
    for f in rows:
        print(f"{f.form_id:<30} v{f.version:<4} {f.published:%Y-%m-%d %H:%M}  {f.digest[:16]}")
    return 0


def _uuid(text: str, what: str) -> uuid.UUID:
    try:
        return parse_id(text)
    except ValueError:
        raise SyncServerError(f"not a {what} id: {text!r}") from None


def _quarantine_list(args: argparse.Namespace) -> int:
    from ..records.review import list_quarantine

    with _reading(args) as project:
        items = list_quarantine(project, include_released=args.all)
    if not items:
        print("quarantine is empty")
    for q in items:
        what = f"record {q.record_id} v{q.version}" if q.record_id else "whole bundle"
        done = f"  released {q.released:%Y-%m-%d}" if q.released else ""
        print(
            f"{q.id:>5}  {q.created:%Y-%m-%d %H:%M}  bundle {q.bundle_id}  {what}: {q.reason}{done}"
        )
    return 0


def _quarantine_show(args: argparse.Namespace) -> int:
    from ..records.quarantine_hints import hint_for
    from ..records.review import list_quarantine

    with _reading(args) as project:
        items = {q.id: q for q in list_quarantine(project, include_released=True)}
    q = items.get(args.id)
    if q is None:
        raise SyncServerError(
            f"no quarantine item {args.id}", hint="see `syncserver quarantine list`"
        )
    print(f"item {q.id}: {q.reason}")
    print(f"  bundle  {q.bundle_id}")
    if q.record_id:
        print(f"  record  {q.record_id} v{q.version}")
    for p in q.problems:
        print(f"  - {p}")
    if q.released:
        print(
            f"released {q.released:%Y-%m-%d %H:%M}: what still failed then is a newer item"
            f" (`syncserver quarantine list {_dir_arg(args)}`)"
        )
    else:
        print(f"hint: {hint_for(q.reason, q.id, _dir_arg(args))}")
    return 0


def _quarantine_release(args: argparse.Namespace) -> int:
    from ..ingest import Preparer
    from ..ingest.uploads import UploadArea
    from ..records.review import list_quarantine, release

    with _opened(args) as project:
        area, preparer = UploadArea(project.config.root), Preparer.for_project(project)
        r = release(project, area, preparer, args.id, actor=cli_actor(), now=_now())
        again = [q.id for q in list_quarantine(project) if q.bundle_id == r.bundle_id]
    if r.state == "quarantined":  # the whole bundle, again
        print(
            f"released item {args.id}: bundle {r.bundle_id} is back in quarantine as a whole"
            f" (item {again[-1] if again else '?'}): {'; '.join(r.reasons)}"
        )
        print(
            f"hint: see `syncserver quarantine show {again[-1] if again else ''} {_dir_arg(args)}`"
        )
        return 0
    print(
        f"released item {args.id}: bundle {r.bundle_id} ingested again: {r.accepted} accepted, "
        f"{r.quarantined} back in quarantine"
    )
    if r.quarantined:
        print(f"hint: see `syncserver quarantine list {_dir_arg(args)}`")
    return 0


def _conflicts_list(args: argparse.Namespace) -> int:
    from ..records.review import list_conflicts

    with _reading(args) as project:
        conflicts = list_conflicts(project)
    if not conflicts:
        print("no conflicts")
    for rid, versions in conflicts.items():
        print(f"record {rid}:")
        for ver, sha in versions:
            print(f"  v{ver}  {sha.hex()}")
    return 0


def _conflicts_resolve(args: argparse.Namespace) -> int:
    from ..records.review import resolve_conflict

    try:
        keep = bytes.fromhex(args.keep)
    except ValueError:
        raise SyncServerError("--keep takes the hex SHA-256 shown by `conflicts list`") from None
    with _opened(args) as project:
        resolve_conflict(
            project, _uuid(args.record_id, "record"), keep, actor=cli_actor(), now=_now()
        )
    print("resolved: the kept version is current; the others are kept as history")
    return 0


def _records_show(args: argparse.Namespace) -> int:
    from ..records.review import record_history

    opener = _opened if args.include_sensitive else _reading  # only that needs the key
    with opener(args) as project:
        history = record_history(
            project,
            _uuid(args.record_id, "record"),
            include_sensitive=args.include_sensitive,
            actor=cli_actor(),
        )
    for h in history:
        print(
            f"v{h.version}  {h.status:<10} review={h.review:<10} {h.received:%Y-%m-%d %H:%M}  "
            f"form {h.form_id} v{h.form_version}  bundle {h.bundle_id}  device {h.device_id}"
        )
        if args.answers:
            for k, v in h.answers.items():
                print(f"      {k} = {v!r}")
    if args.include_sensitive:
        print(
            "(sensitive answers shown: this access is recorded in the audit log)", file=sys.stderr
        )
    return 0


def _attachments_get(args: argparse.Namespace) -> int:
    from ..records.attachments import extract_attachment

    out = Path(args.out)
    with _opened(args) as project:
        n = extract_attachment(
            project, _uuid(args.record_id, "record"), args.name, out, actor=cli_actor(), now=_now()
        )
    print(f"wrote {n} bytes to {out} (this access is recorded in the audit log)")
    print(
        "keep the file on an encrypted disk and delete it when done: it may identify the"
        " respondent",
        file=sys.stderr,
    )
    return 0


def _records_review(args: argparse.Namespace) -> int:
    from ..records.review import set_review

    with _opened(args) as project:
        set_review(
            project, _uuid(args.record_id, "record"), args.state, actor=cli_actor(), now=_now()
        )
    print(f"record {args.record_id}: {args.state}")
    return 0


def _tokens_create(args: argparse.Namespace) -> int:
    from ..access.admin_tokens import create_token

    with _opened(args) as project:
        token = create_token(project, args.role, args.label, actor=cli_actor(), now=_now())
    print(token)
    print(f"({args.role} token '{args.label}': shown once, stored only as a hash)", file=sys.stderr)
    return 0


def _tokens_list(args: argparse.Namespace) -> int:
    from ..access.admin_tokens import list_tokens

    with _reading(args) as project:
        rows = list_tokens(project)
    if not rows:
        print("no admin tokens")
    for t in rows:
        state = "revoked" if t.revoked else "live"
        print(f"{t.label:<24} {t.role:<8} {t.created:%Y-%m-%d}  {state}")
    return 0


def _tokens_revoke(args: argparse.Namespace) -> int:
    from ..access.admin_tokens import revoke_token

    with _opened(args) as project:
        revoke_token(project, args.label, actor=cli_actor(), now=_now())
    print(f"token '{args.label}' revoked")
    return 0


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
    unlocked = unlock_key(directory / IDENTITY_NAME, _secret(args))
    started = agent.start(directory / IDENTITY_NAME, unlocked, args.minutes)
    until = _now() + datetime.timedelta(minutes=args.minutes)
    print(
        f"unlocked {directory} until {until:%H:%M} UTC ({args.minutes} min): its key is held in"
        f" memory by an agent (pid {started.pid}), never on disk"
    )
    print(
        f"next: run the commands you need, without the secret; `syncserver lock {_dir_arg(args)}`"
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


# -- parser ------------------------------------------------------------------------------


def _secret_options(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--passphrase-file", metavar="FILE", help="read the passphrase from FILE")
    g.add_argument("--key-file", metavar="FILE", help="unlock with a 32-byte key file")


def _project_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dir",
        default=os.environ.get("SEALSYNC_DIR", "."),
        help="project directory (default: $SEALSYNC_DIR or .)",
    )
    _secret_options(p)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="syncserver", description="sealsync sync server and admin tools"
    )
    p.add_argument("--version", action="version", version=f"sealsync {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    init = sub.add_parser("init", help="create a project: config, sealed keys, store")
    init.add_argument("directory", metavar="DIR")
    _secret_options(init)
    init.set_defaults(func=_init)

    run = sub.add_parser("run", help="serve the project (HTTP API)")
    run.add_argument("--host", help="address to listen on (default: from the config)")
    run.add_argument("--port", type=int, help="port (default: from the config)")
    _project_options(run)
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
    _project_options(ul)
    ul.set_defaults(func=_unlock)
    lk = sub.add_parser("lock", help="end the key agent started by `syncserver unlock`")
    lk.add_argument(
        "--dir",
        default=os.environ.get("SEALSYNC_DIR", "."),
        help="project directory (default: $SEALSYNC_DIR or .)",
    )
    lk.set_defaults(func=_lock)

    dev = sub.add_parser("devices", help="enroll, list and revoke devices")
    dsub = dev.add_subparsers(dest="devices_command", metavar="ACTION")
    tok = dsub.add_parser("token", help="make a one-time enrollment token")
    tok.add_argument("--label", required=True, help="what the token is for (not a person's name)")
    _project_options(tok)
    tok.set_defaults(func=_devices_token)
    ef = dsub.add_parser("enroll-file", help="enroll an offline device from its request file")
    ef.add_argument("request", metavar="REQUEST")
    ef.add_argument("-o", "--output", required=True, metavar="RESPONSE")
    _project_options(ef)
    ef.set_defaults(func=_devices_enroll_file)
    ls = dsub.add_parser("list", help="list enrolled devices (no secret needed)")
    _project_options(ls)
    ls.set_defaults(func=_devices_list)
    dt = dsub.add_parser(
        "tokens", help="list enrollment tokens: label, made, expiry, used by (no secret needed)"
    )
    _project_options(dt)
    dt.set_defaults(func=_devices_tokens)
    rv = dsub.add_parser("revoke", help="revoke a device")
    rv.add_argument("device_id", metavar="DEVICE_ID")
    rv.add_argument("--reason", required=True, help="why (kept in the audit log)")
    _project_options(rv)
    rv.set_defaults(func=_devices_revoke)

    tk = sub.add_parser("tokens", help="role-scoped admin API tokens")
    tsub = tk.add_subparsers(dest="tokens_command", metavar="ACTION")
    tc = tsub.add_parser("create", help="make a token (shown once)")
    tc.add_argument("--role", required=True, choices=["admin", "manager", "auditor"])
    tc.add_argument("--label", required=True, help="who or what holds it (not a secret)")
    _project_options(tc)
    tc.set_defaults(func=_tokens_create)
    tl = tsub.add_parser("list", help="list tokens")
    _project_options(tl)
    tl.set_defaults(func=_tokens_list)
    tr = tsub.add_parser("revoke", help="revoke a token by label")
    tr.add_argument("label")
    _project_options(tr)
    tr.set_defaults(func=_tokens_revoke)

    q = sub.add_parser("quarantine", help="what did not get into the data, and why")
    qsub = q.add_subparsers(dest="quarantine_command", metavar="ACTION")
    ql = qsub.add_parser("list", help="list quarantined bundles and records")
    ql.add_argument("--all", action="store_true", help="include released items")
    _project_options(ql)
    ql.set_defaults(func=_quarantine_list)
    qs = qsub.add_parser("show", help="one item with its problems")
    qs.add_argument("id", type=int)
    _project_options(qs)
    qs.set_defaults(func=_quarantine_show)
    qr = qsub.add_parser("release", help="ingest the item's bundle again")
    qr.add_argument("id", type=int)
    _project_options(qr)
    qr.set_defaults(func=_quarantine_release)

    cf = sub.add_parser("conflicts", help="concurrent edits to review")
    csub = cf.add_subparsers(dest="conflicts_command", metavar="ACTION")
    cl = csub.add_parser("list", help="records with conflicting versions")
    _project_options(cl)
    cl.set_defaults(func=_conflicts_list)
    cr = csub.add_parser("resolve", help="keep one version as current")
    cr.add_argument("record_id")
    cr.add_argument("--keep", required=True, metavar="SHA256", help="the version to keep")
    _project_options(cr)
    cr.set_defaults(func=_conflicts_resolve)

    rc = sub.add_parser("records", help="record history and review")
    rsub = rc.add_subparsers(dest="records_command", metavar="ACTION")
    rs = rsub.add_parser("show", help="every version of a record")
    rs.add_argument("record_id")
    rs.add_argument("--answers", action="store_true", help="print the answers too")
    rs.add_argument(
        "--include-sensitive", action="store_true", help="decrypt sensitive answers (logged)"
    )
    _project_options(rs)
    rs.set_defaults(func=_records_show)
    rr = rsub.add_parser("review", help="set the review state of the current version")
    rr.add_argument("record_id")
    rr.add_argument(
        "--state", required=True, choices=["received", "has_issues", "approved", "rejected"]
    )
    _project_options(rr)
    rr.set_defaults(func=_records_review)

    at = sub.add_parser(
        "attachments",
        help="attachments (kept encrypted inside their bundles)",
        description="Attachments stay inside their sealed bundles on the server; take one"
        " out only when you need it. Every extraction is an audit entry.",
    )
    asub = at.add_subparsers(dest="attachments_command", metavar="ACTION")
    ag = asub.add_parser("get", help="write one attachment of a record to a new file")
    ag.add_argument("record_id")
    ag.add_argument("name", help="the attachment's name in the record")
    ag.add_argument("--out", required=True, metavar="FILE", help="a new file (mode 0600)")
    _project_options(ag)
    ag.set_defaults(func=_attachments_get)

    from ..audit import verify as audit_verify
    from . import _export as cli_export
    from . import _respondents as cli_respondents

    cli_export.register(sub, _project_options, _project)
    cli_respondents.register(sub, _project_options, _opened)
    audit_verify.register(sub, _project_options)

    forms = sub.add_parser("forms", help="survey forms")
    fsub = forms.add_subparsers(dest="forms_command", metavar="ACTION")
    check = fsub.add_parser(
        "check", help="check form files (.toml, .yaml, .xlsx) and list every problem"
    )
    check.add_argument("files", nargs="+", metavar="FILE")
    check.set_defaults(func=_forms_check)
    pub = fsub.add_parser("publish", help="publish a form version for devices and ingest")
    pub.add_argument("file", metavar="FILE")
    _project_options(pub)
    pub.set_defaults(func=_forms_publish)
    fl = fsub.add_parser("list", help="list published forms")
    _project_options(fl)
    fl.set_defaults(func=_forms_list)
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
