"""`collector`: the field kit's command line (thin: it parses arguments and calls libraries).

Secrets never come from the command line, where every user of the computer can read
them in the process list: the passphrase is read from a prompt, from
``--passphrase-file`` or from ``SEALSYNC_COLLECTOR_PASSPHRASE``; the one-time enrollment
token from a prompt (not echoed), ``--token-file`` or ``SEALSYNC_ENROLL_TOKEN``.

How a command ends: 0 done; 1 a :class:`~collector.errors.CollectorError` (its message
and hint, one line each, no traceback); 130 Ctrl-C, with one line saying what state the
kit is in; 141 the output was closed early (``collector status | head -1``): quietly,
as a program stopped by SIGPIPE would.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import io
import os
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import aiohttp
import msgspec

from schemas import __version__
from schemas.errors import ResponseInvalid, SchemaError
from schemas.wire import EnrollmentResponse, SignedFormSet

from . import keystore, vault
from ._net import looks_like_token, server_url
from .errors import CollectorError, VaultError
from .interview import Interview, answers_from_file, run_terminal
from .kit import Draft, Kit, KitError, SyncReport
from .sync import Retry
from .vault import Vault, shred

PASS_ENV = "SEALSYNC_COLLECTOR_PASSPHRASE"
TOKEN_ENV = "SEALSYNC_ENROLL_TOKEN"
INSECURE_FAST_KDF = "SEALSYNC_INSECURE_FAST_KDF"
MAX_FILE = 16 * 1024 * 1024
MAX_TOKEN = 4096
ANSWERS_DOC = "docs/answers-file.md"


def _home(args: argparse.Namespace) -> Path:
    return Path(args.home) if args.home else keystore.default_home()


def _read_passphrase(args: argparse.Namespace, prompt: str, *, confirm: bool = False) -> str:
    if getattr(args, "passphrase_file", None):
        try:
            return Path(args.passphrase_file).read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError):
            raise CollectorError("cannot read the passphrase file") from None
    if os.environ.get(PASS_ENV):
        return os.environ[PASS_ENV]
    if not sys.stdin.isatty():
        raise CollectorError(
            "no passphrase given",
            hint=f"use --passphrase-file or {PASS_ENV} when not at a terminal",
        )
    first = getpass.getpass(prompt)
    if confirm and getpass.getpass("again: ") != first:
        raise CollectorError("the passphrases differ", hint="run the command again")
    return first


def _read_token(args: argparse.Namespace) -> str:
    """The one-time enrollment token: from --token-file, SEALSYNC_ENROLL_TOKEN, or a
    prompt that does not echo it. Never from the command line."""
    if args.token_file:
        try:
            with open(args.token_file, "rb") as f:
                token = f.read(MAX_TOKEN + 1).decode("utf-8").strip()
        except OSError as e:
            raise CollectorError(
                f"cannot read the token file ({e.strerror or type(e).__name__})",
                hint="check the path given to --token-file",
            ) from None
        except UnicodeDecodeError:
            token = "\x00"  # not text: reported as malformed below
    elif os.environ.get(TOKEN_ENV):
        token = os.environ[TOKEN_ENV].strip()
    elif sys.stdin.isatty():
        token = getpass.getpass("one-time enrollment token (not shown as you type): ").strip()
    else:
        raise CollectorError(
            "no enrollment token given",
            hint=f"use --token-file FILE or {TOKEN_ENV} when not at a terminal",
        )
    if not token or len(token) > MAX_TOKEN or not all(c.isprintable() and c != " " for c in token):
        raise CollectorError(
            "the enrollment token is empty or malformed",
            hint="it is one line, as the administrator gave it (`syncserver devices token`)",
        )
    return token


def _lock(home: Path) -> None:
    """One command at a time per kit: a seal and a sync running together could each
    overwrite the other's chain state. The lock is on the kit's directory itself (no
    file of its own); the system drops it when the process ends, however it ends."""
    if not home.is_dir():
        return  # no kit here yet: unlocking says so
    if not vault.hold(home):
        raise CollectorError(
            "another collector command is using this kit",
            hint="wait for it to finish (or close it), then run this command again",
        )


def _kit(args: argparse.Namespace) -> Kit:
    home = _home(args)
    _lock(home)
    keys = keystore.unlock(home, _read_passphrase(args, "kit passphrase: "))
    return Kit(Vault(home, keys.data_key), keys.device_key)


def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120, sock_connect=15))


def _err(line: str) -> None:
    """A line on stderr, after ending any progress bar left open on the terminal."""
    _CONSOLE.end_line()
    print(line, file=sys.stderr, flush=True)


def _retry_line(r: Retry) -> None:
    _err(str(r))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


# -- commands ----------------------------------------------------------------------------


def _init(args: argparse.Namespace) -> int:
    home = _home(args)
    passphrase = _read_passphrase(args, "new kit passphrase: ", confirm=True)
    duress = None
    if args.duress:
        duress = os.environ.get(PASS_ENV + "_DURESS") or getpass.getpass(
            "duress passphrase (wipes the kit when entered): "
        )
    if os.environ.get(INSECURE_FAST_KDF):  # tests only: never on a real kit
        print(f"WARNING: {INSECURE_FAST_KDF} is set: weak passphrase protection", file=sys.stderr)
        kdf = keystore.KdfParams(memory_kib=1024, iterations=1, lanes=1)
    else:
        print("measuring this laptop to tune the passphrase protection (about a second)…")
        kdf = keystore.tune_kdf(0.5)
    keystore.create(home, passphrase, duress=duress, max_attempts=args.max_attempts, kdf=kdf)
    print(f"kit created in {home}")
    print(
        "next: `collector enroll URL` (online; it asks for the one-time token) or "
        "`collector enroll --request FILE` (offline)"
    )
    return 0


def _passphrase(args: argparse.Namespace) -> int:
    home = _home(args)
    old = _read_passphrase(args, "current passphrase: ")
    new = os.environ.get(PASS_ENV + "_NEW") or getpass.getpass("new passphrase: ")
    keystore.change_passphrase(home, old, new)
    print("passphrase changed")
    return 0


def _wipe(args: argparse.Namespace) -> int:
    home = _home(args)
    if not args.now:
        if not sys.stdin.isatty():
            raise CollectorError("refusing to wipe without confirmation", hint="add --now")
        if input(f"delete every key and interview in {home}? type WIPE: ") != "WIPE":
            print("nothing deleted")
            return 1
    keystore.wipe(home)
    print("kit wiped (see docs/collector-at-rest.md for what a wipe can guarantee on SSDs)")
    return 0


def _enroll(args: argparse.Namespace) -> int:
    if args.token is not None or (args.url and looks_like_token(args.url)):
        raise CollectorError(
            "the enrollment token must not be given on the command line: every user of "
            "this computer can read it in the process list (nothing was sent)",
            hint=f"leave it out to be asked for it, or use --token-file FILE or {TOKEN_ENV}; "
            "if others use this computer, ask the administrator for a new token",
        )
    if args.request:
        kit = _kit(args)
        req = kit.enrollment_request(args.label)
        Path(args.request).write_bytes(msgspec.json.encode(req))
        print(f"request written to {args.request}: carry it to the administrator")
        print("(it holds no secret); then `collector enroll --file RESPONSE --url URL`")
        return 0
    if args.file:
        url = server_url(args.url) if args.url else ""
        kit = _kit(args)
        try:
            data = Path(args.file).read_bytes()[: MAX_FILE + 1]
            response = msgspec.json.decode(data, type=EnrollmentResponse)
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            raise KitError(
                "the file is not an enrollment response",
                hint="ask the administrator for the file made by `syncserver devices enroll-file`",
            ) from None
        device_id = kit.accept_enrollment(response, url)
        print(f"enrolled as device {device_id} (offline); server keys pinned")
        return 0
    if not args.url:
        raise KitError(
            "give the server's URL (`collector enroll URL`), or --request FILE, or --file RESPONSE"
        )
    url = server_url(args.url)  # checked before anything is asked or sent
    token = _read_token(args)
    kit = _kit(args)

    async def online() -> None:
        async with _session() as session:
            device_id = await kit.enroll_online(session, url, token, args.label)
            print(f"enrolled as device {device_id}; server keys pinned")
            try:
                forms = await kit.fetch_forms(session, on_retry=_retry_line)
            except CollectorError as e:
                _err(f"forms not fetched yet ({e.message}): run `collector forms` when online")
                return
            print(f"forms: {', '.join(f'{i} v{v}' for i, v in forms) or 'none published yet'}")

    asyncio.run(online())
    return 0


def _forms(args: argparse.Namespace) -> int:
    kit = _kit(args)
    if args.file:
        try:
            signed = msgspec.json.decode(
                Path(args.file).read_bytes()[:MAX_FILE], type=SignedFormSet
            )
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            raise KitError("the file is not a signed form set") from None
        kit.accept_forms(signed)
    elif not args.offline and kit.enrollment().server_url:

        async def fetch() -> None:
            async with _session() as session:
                await kit.fetch_forms(session, on_retry=_retry_line)

        try:
            asyncio.run(fetch())
        except CollectorError as e:
            _err(f"forms not updated ({e.message}); the forms on this kit are listed below")
    for f in kit.forms():
        print(f"{f.id:<30} v{f.version:<4} {f.title.get('ko', '')} / {f.title.get('en', '')}")
    return 0


def _run_interview(kit: Kit, d: Draft, lang: str) -> int:
    if isinstance(sys.stdin, io.TextIOWrapper):  # broken bytes become U+FFFD: re-asked
        sys.stdin.reconfigure(encoding="utf-8", errors="replace")
    form = kit.form(d.form_id, d.form_version)
    iv = Interview(form, d.answers, lang=lang)

    def save(answers: dict[str, object]) -> None:
        d.answers, d.lang, d.stopped_early = answers, iv.lang, iv.stopped_early
        kit.save_draft(d)  # encrypted, atomic: the moment the answer is given

    try:
        outcome = run_terminal(iv, on_change=save)
    except VaultError as e:  # a full disk, most likely: say what is kept and what is not
        raise KitError(
            f"the last answer was NOT saved: {e.message}",
            hint="every answer before it is saved; free some disk space, then resume with "
            f"`collector drafts --resume {kit.short_ids().get(d.draft_id, d.draft_id)}`",
        ) from None
    d.answers, d.lang, d.stopped_early = iv.answers, iv.lang, iv.stopped_early
    kit.save_draft(d)
    if outcome == "paused":
        short = kit.short_ids()[d.draft_id]
        print(f"saved as draft {short}; resume with `collector drafts --resume {short}`")
        return 0
    rec = kit.finalize(d)
    short = kit.short_ids()[str(rec.record_id)]
    print(
        f"interview finalized ({'stopped early' if d.stopped_early else 'complete'}) as {short}; "
        "`collector seal` seals it for upload"
    )
    return 0


def _interview(args: argparse.Namespace) -> int:
    kit = _kit(args)
    form = kit.form(args.form)
    lang = args.lang or form.default_language
    if args.answers:
        try:
            answers = answers_from_file(form, args.answers, stopped_early=args.stopped_early)
        except OSError as e:
            raise KitError(f"cannot read the answers file ({e.strerror})") from None
        d = kit.new_draft(form, lang)
        d.answers, d.stopped_early = answers, args.stopped_early
        kit.save_draft(d)
        rec = kit.finalize(d)
        short = kit.short_ids()[str(rec.record_id)]
        print(
            f"answers checked and finalized as interview {short}; `collector attach {short} "
            "FILE` adds a recording or scan; `collector seal` seals it for upload"
        )
        return 0
    return _run_interview(kit, kit.new_draft(form, lang), lang)


def _drafts(args: argparse.Namespace) -> int:
    kit = _kit(args)
    if args.delete:
        return _delete_draft(kit, args)
    if args.resume:
        d = kit.draft(args.resume)
        return _run_interview(kit, d, d.lang)
    shown = kit.short_ids()
    drafts, finals = kit.drafts(), kit.finalized_records()
    width = max(map(len, shown.values()), default=8)
    if not drafts:
        print("no drafts")
    for d in drafts:
        extra = f", {_count(len(d.attachments), 'attachment')}" if d.attachments else ""
        print(
            f"{shown[d.draft_id]:<{width}}  {d.form_id} v{d.form_version}  "
            f"started {d.started_at:%Y-%m-%d %H:%M}  {_count(len(d.answers), 'answer')}{extra}"
        )
    if finals:
        print("finalized, waiting for `collector seal` (`collector attach ID FILE` adds files):")
    for r in finals:
        extra = f"  {_count(len(r.attachments), 'attachment')}" if r.attachments else ""
        print(
            f"{shown[str(r.record_id)]:<{width}}  {r.form_id} v{r.form_version}  "
            f"finalized {r.modified_at:%Y-%m-%d %H:%M}{extra}"
        )
    return 0


def _delete_draft(kit: Kit, args: argparse.Namespace) -> int:
    d = kit.draft(args.delete)
    short = kit.short_ids()[d.draft_id]
    held = _count(len(d.answers), "answer")
    if d.attachments:
        held += f", {_count(len(d.attachments), 'attachment')}"
    started = f"{d.started_at:%Y-%m-%d %H:%M}"
    what = f"draft {short} ({d.form_id} v{d.form_version}, started {started}, {held})"
    if not args.yes:
        if not sys.stdin.isatty():
            raise CollectorError(
                f"refusing to delete {what} without confirmation (nothing was deleted)",
                hint="add --yes to delete it from a script",
            )
        reply = input(f"delete {what} from this kit? It cannot be undone. [y/N] ")
        if reply.strip().lower() not in ("y", "yes"):
            print("nothing deleted")
            return 1
    kit.delete_draft(d)
    print(f"deleted {what}: overwritten and removed from the kit")
    return 0


def _attach(args: argparse.Namespace) -> int:
    kit = _kit(args)
    ref = kit.attach_to(args.id, args.file, media_type=args.type)
    print(f"attached as {ref.name} ({ref.media_type}, {ref.size:,} bytes), encrypted in the kit")
    if args.shred_original:
        shred(Path(args.file))
        print(
            "the original file was overwritten and deleted (see docs/collector-at-rest.md "
            "for what that can guarantee on SSDs)"
        )
    else:
        print(
            "note: the original file is still where it was, unencrypted; "
            "--shred-original removes it"
        )
    return 0


def _seal(args: argparse.Namespace) -> int:
    kit = _kit(args)
    ids = kit.seal(max_records=args.max_records, max_bytes=args.max_mb * 1024 * 1024)
    print(
        f"{len(ids)} bundle(s) sealed; the interviews in them can no longer be read on this "
        "laptop. `collector sync` uploads them when a connection is there."
    )
    return 0


def _size(n: int, total: int) -> str:
    """``n`` of ``total`` bytes in a unit in which small bundles move too."""
    if total < 1024:
        return f"{n}/{total} B"
    if total < 1024 * 1024:
        return f"{n / 1024:.1f}/{total / 1024:.1f} KiB"
    return f"{n / 1048576:.1f}/{total / 1048576:.1f} MiB"


class _Console:
    """Whether a progress bar is drawn on stdout with its line still open."""

    def __init__(self) -> None:
        self.open = False

    def end_line(self) -> None:
        if self.open:
            self.open = False
            print(flush=True)


_CONSOLE = _Console()


def _sync(args: argparse.Namespace) -> int:
    kit = _kit(args)
    sizes = {e.bundle_id: e.size for e in kit.outbox()}
    state = {"n": 0, "total": 0, "size": 0}

    def bundle(bundle_id: uuid.UUID, n: int, total: int) -> None:
        state.update(n=n, total=total, size=sizes.get(bundle_id, 0))
        if not args.dry_run:
            bar(0, state["size"])

    def bar(done: int, size: int) -> None:
        width = 30
        filled = int(width * done / max(size, 1))
        print(
            f"\r[{'#' * filled}{'.' * (width - filled)}] bundle {state['n']}/{state['total']}"
            f"  {_size(done, size)}",
            end="",
            flush=True,
        )
        _CONSOLE.open = True

    async def run() -> SyncReport:
        async with _session() as session:
            return await kit.sync(
                session,
                progress=bundle,
                dry_run=args.dry_run,
                bytes_progress=bar,
                on_retry=_retry_line,
            )

    report = asyncio.run(run())
    _CONSOLE.end_line()
    if args.dry_run:
        print(f"{_count(len(sizes), 'bundle')} would be sent")
        return 0
    _sync_summary(report, kit.bundle_ids())
    return 1 if report.failed else 0


def _sync_summary(report: SyncReport, shown: dict[uuid.UUID, str]) -> None:
    """Say honestly what happened: what was uploaded, what is kept, and why."""
    up, kept = len(report.uploaded), len(report.failed)
    total = up + kept
    if total == 0:
        print("nothing to upload")
        return
    if kept == 0:
        print(f"{up} uploaded; receipts verified; local copies deleted")
        return
    done = f"{up} of {_count(total, 'bundle')} uploaded"
    if up:
        done += " (receipts verified; local copies deleted)"
    still = f"all {kept} are" if up == 0 and kept > 1 else f"{kept} {'is' if kept == 1 else 'are'}"
    e = report.unavailable
    if e is None:
        print(f"{done}; {still} kept on this laptop (reasons below)")
    elif e.reached:
        print(
            f"{done}; {still} kept on this laptop: the server kept failing. "
            "Run `collector sync` again later."
        )
    elif e.transient:
        print(
            f"{done}; {still} kept on this laptop: the server could not be reached. "
            "Run `collector sync` again when online."
        )
    else:
        print(f"{done}; {still} kept on this laptop: the server could not be used (see below)")
    unreached = e.message if e is not None else None
    for bid, why in report.failed.items():
        if why != unreached:
            _err(f"KEPT bundle {shown.get(bid, bid.hex)}: {why}")
    if e is not None:
        _err(f"collector: {e}")


def _status(args: argparse.Namespace) -> int:
    st = _kit(args).status()
    print(f"enrolled           {'yes, device ' + str(st.device_id) if st.enrolled else 'no'}")
    print(f"forms              {', '.join(f'{i} v{v}' for i, v in st.forms) or 'none'}")
    print(f"drafts             {st.drafts}")
    print(f"finalized          {st.finalized}")
    print(f"sealed, not sent   {st.sealed_not_uploaded}")
    print(f"receipted          {st.receipted}")
    print(
        f"last sync          {st.last_sync:%Y-%m-%d %H:%M} UTC"
        if st.last_sync
        else "last sync          never"
    )
    if st.project_fingerprint:
        print(f"project key        {st.project_fingerprint}  (compare with the administrator's)")
    if st.certificate_expires:
        print(f"certificate until  {st.certificate_expires:%Y-%m-%d}")
    for a in st.attention:
        print(f"! {a}")
    return 0


# -- parser ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="collector", description="sealsync field kit: offline, encrypted interviews"
    )
    p.add_argument("--version", action="version", version=f"sealsync {__version__}")
    p.add_argument(
        "--home", help="kit directory (default: $SEALSYNC_COLLECTOR_HOME or the user data dir)"
    )
    p.add_argument("--passphrase-file", metavar="FILE", help="read the passphrase from FILE")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    c = sub.add_parser("init", help="create the encrypted kit (keys, passphrase)")
    c.add_argument("--duress", action="store_true", help="also set a duress passphrase that wipes")
    c.add_argument("--max-attempts", type=int, default=10, help="wrong passphrases before a wipe")
    c.set_defaults(func=_init)
    c = sub.add_parser("passphrase", help="change the passphrase")
    c.set_defaults(func=_passphrase)
    c = sub.add_parser("wipe", help="delete keys and all data")
    c.add_argument("--now", action="store_true", help="do not ask for confirmation")
    c.set_defaults(func=_wipe)
    c = sub.add_parser(
        "enroll",
        help="enroll with a server (online with a one-time token, or offline files)",
        description="Enroll this kit with a sync server. Online: `collector enroll URL`, "
        "where URL is http://HOST:PORT (`syncserver run` serves plain HTTP on "
        "127.0.0.1:8443 by default) or https://HOST:PORT (a server with TLS set in its "
        "sealsync.toml); the one-time token is asked for without echo, or read from "
        f"--token-file FILE or {TOKEN_ENV}, never from the command line. Offline: "
        "--request FILE, then --file RESPONSE.",
    )
    c.add_argument("url", nargs="?", metavar="URL", help="the server, http(s)://HOST:PORT")
    c.add_argument("token", nargs="?", help=argparse.SUPPRESS)  # refused: see _enroll
    c.add_argument(
        "--token-file", metavar="FILE", help="read the one-time enrollment token from FILE"
    )
    c.add_argument("--label", default="field-kit", help="a name for this device (not a person's)")
    c.add_argument("--request", metavar="FILE", help="write an offline enrollment request")
    c.add_argument("--file", metavar="RESPONSE", help="accept an offline enrollment response")
    c.add_argument("--url", dest="url_opt", help=argparse.SUPPRESS)
    c.set_defaults(func=_enroll)
    c = sub.add_parser("forms", help="list forms; fetch new ones when online")
    c.add_argument("--file", metavar="FILE", help="import a signed form set from a file")
    c.add_argument("--offline", action="store_true", help="do not try the network")
    c.set_defaults(func=_forms)
    c = sub.add_parser(
        "interview",
        help="run an interview (or enter one from --answers)",
        description="Run an interview in this terminal, or enter a whole response typed "
        "in from paper with --answers.",
        epilog=f"Answers files: {ANSWERS_DOC} describes the format (TOML or JSON), with a "
        "complete example for the shipped form and the errors people meet.",
    )
    c.add_argument("form", metavar="FORM")
    c.add_argument("--lang", choices=["ko", "en"])
    c.add_argument(
        "--answers", metavar="FILE", help=f"TOML/JSON answers, e.g. from paper (see {ANSWERS_DOC})"
    )
    c.add_argument(
        "--stopped-early", action="store_true", help="with --answers: respondent stopped"
    )
    c.set_defaults(func=_interview)
    c = sub.add_parser("drafts", help="list interviews in progress; resume or delete one")
    how = c.add_mutually_exclusive_group()
    how.add_argument("--resume", metavar="ID", help="go on with a draft (its id as listed)")
    how.add_argument(
        "--delete", metavar="ID", help="delete a draft and its attachments (asks first)"
    )
    c.add_argument("--yes", action="store_true", help="with --delete: do not ask (for scripts)")
    c.set_defaults(func=_drafts)
    c = sub.add_parser("attach", help="attach a recording, photo or scan to an interview")
    c.add_argument("id", metavar="ID", help="a draft id, or a finalized interview's record id")
    c.add_argument("file", metavar="FILE")
    c.add_argument("--type", help="media type, e.g. audio/ogg (default: from the extension)")
    c.add_argument(
        "--shred-original",
        action="store_true",
        help="overwrite and delete the original file once it is in the kit",
    )
    c.set_defaults(func=_attach)
    c = sub.add_parser("seal", help="seal finalized interviews into bundles")
    c.add_argument("--max-records", type=int, default=50, help="records per bundle (default 50)")
    c.add_argument(
        "--max-mb", type=int, default=64, help="about this many MiB per bundle (default 64)"
    )
    c.set_defaults(func=_seal)
    c = sub.add_parser("sync", help="upload sealed bundles; keep each until its receipt verifies")
    c.add_argument("--dry-run", action="store_true", help="show what would be sent")
    c.set_defaults(func=_sync)
    c = sub.add_parser("status", help="what the kit holds and what needs attention")
    c.set_defaults(func=_status)
    return p


def _interrupted(args: argparse.Namespace | None) -> str:
    """What Ctrl-C leaves behind, for the command that was running (only what is true)."""
    command = getattr(args, "command", None)
    if command == "drafts" and getattr(args, "delete", None):
        return "interrupted; if `collector drafts` still lists the draft, delete it again"
    return _INTERRUPTED.get(command or "", "interrupted; nothing was changed")


_INTERRUPTED = {
    "init": "interrupted; run `collector init` again (it says so if the kit was already made)",
    "passphrase": "interrupted; the passphrase is the old one or the new one, never a mix",
    "wipe": "interrupted; the wipe may be unfinished: run `collector wipe --now` to finish it",
    "enroll": "interrupted; `collector status` shows whether this kit is enrolled (if not and "
    "the token was sent, ask the administrator for a new one)",
    "forms": "interrupted; nothing was lost: the forms already on this kit stay",
    "interview": "interrupted; nothing was lost: every answer given is saved "
    "(`collector drafts` lists the interview)",
    "drafts": "interrupted; nothing was lost: every answer given is saved "
    "(`collector drafts` lists the interview)",
    "attach": "interrupted; nothing was lost: the original file is deleted only once it is "
    "in the kit; `collector drafts` shows whether it was attached",
    "seal": "interrupted; nothing was lost: each interview is still finalized or sealed in "
    "a bundle; `collector seal` seals the rest",
    "sync": "interrupted; nothing was lost: every bundle without a verified receipt stays "
    "on this laptop; run `collector sync` again",
    "status": "interrupted; nothing was changed",
}


def _closed(stream: TextIO) -> bool:
    """Whether ``stream`` is a pipe whose reader has gone (`collector status | head -1`)."""
    try:
        stream.flush()
    except (OSError, ValueError):
        return True
    return False


def _quiet() -> None:
    """Send what is left of stdout (and of stderr, if it is closed too) to /dev/null, so
    that the interpreter's last flush at exit does not complain either."""
    for stream in (sys.stdout, sys.stderr):
        if stream is sys.stderr and not _closed(stream):
            continue
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, io.UnsupportedOperation):
            pass


def _at_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (OSError, ValueError):
        return False


def _say(*lines: str) -> None:
    """Lines on stderr; nothing if stderr is closed too."""
    try:
        _CONSOLE.end_line()
        for line in lines:
            print(line, file=sys.stderr)
        sys.stderr.flush()
    except (OSError, ValueError):
        _quiet()


def main(argv: Sequence[str] | None = None) -> int:
    args: argparse.Namespace | None = None
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if getattr(args, "url_opt", None):
            args.url = args.url_opt
        func = getattr(args, "func", None)
        if func is None:
            parser.print_help()
            return 2
        code: int = func(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's last flush
        return code
    except ResponseInvalid as e:
        _say(f"collector: {e}", "hint: fix every problem listed, then run the command again")
        return 1
    except (CollectorError, SchemaError) as e:
        _say(f"collector: {e}")
        return 1
    except KeyboardInterrupt:
        after_echo = [""] if _at_terminal(sys.stderr) else []  # the terminal's ^C ends no line
        _say(*after_echo, f"collector: {_interrupted(args)}")
        return 130
    except BrokenPipeError:  # only our output does this: aiohttp wraps its sockets' errors
        _quiet()
        return 141
    finally:
        vault.release_held()
        _CONSOLE.open = False


if __name__ == "__main__":
    sys.exit(main())
