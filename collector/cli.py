"""`collector`: the field kit's command line (thin: it parses arguments and calls libraries).

The passphrase is read from a prompt, from ``--passphrase-file`` or from
``SEALSYNC_COLLECTOR_PASSPHRASE`` (for scripted use), never from the command line. Every
:class:`~collector.errors.CollectorError` ends as exit code 1 with its message and hint.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import io
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import aiohttp
import msgspec

from schemas import __version__
from schemas.errors import ResponseInvalid, SchemaError
from schemas.wire import EnrollmentResponse, SignedFormSet

from . import keystore, vault
from .errors import CollectorError, VaultError
from .interview import Interview, answers_from_file, run_terminal
from .kit import Draft, Kit, KitError
from .vault import Vault, shred

PASS_ENV = "SEALSYNC_COLLECTOR_PASSPHRASE"
INSECURE_FAST_KDF = "SEALSYNC_INSECURE_FAST_KDF"
MAX_FILE = 16 * 1024 * 1024


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
    print("next: `collector enroll URL TOKEN` (online) or `collector enroll --request FILE`")
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
    kit = _kit(args)
    if args.request:
        req = kit.enrollment_request(args.label)
        Path(args.request).write_bytes(msgspec.json.encode(req))
        print(f"request written to {args.request}: carry it to the administrator")
        print("(it holds no secret); then `collector enroll --file RESPONSE --url URL`")
        return 0
    if args.file:
        try:
            data = Path(args.file).read_bytes()[: MAX_FILE + 1]
            response = msgspec.json.decode(data, type=EnrollmentResponse)
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            raise KitError(
                "the file is not an enrollment response",
                hint="ask the administrator for the file made by `syncserver devices enroll-file`",
            ) from None
        device_id = kit.accept_enrollment(response, args.url or "")
        print(f"enrolled as device {device_id} (offline); server keys pinned")
        return 0
    if not (args.url and args.token):
        raise KitError("give URL and TOKEN, or --request FILE, or --file RESPONSE")

    async def online() -> None:
        async with _session() as session:
            device_id = await kit.enroll_online(session, args.url, args.token, args.label)
            print(f"enrolled as device {device_id}; server keys pinned")
            forms = await kit.fetch_forms(session)
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
                await kit.fetch_forms(session)

        try:
            asyncio.run(fetch())
        except (aiohttp.ClientError, TimeoutError, CollectorError) as e:
            print(f"(offline? forms not updated: {e.__class__.__name__})", file=sys.stderr)
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
            f"`collector drafts --resume {d.draft_id[:8]}`",
        ) from None
    d.answers, d.lang, d.stopped_early = iv.answers, iv.lang, iv.stopped_early
    kit.save_draft(d)
    if outcome == "paused":
        short = d.draft_id[:8]
        print(f"saved as draft {short}; resume with `collector drafts --resume {short}`")
        return 0
    rec = kit.finalize(d)
    print(
        f"interview finalized ({'stopped early' if d.stopped_early else 'complete'}); "
        f"`collector seal` seals it for upload"
    )
    del rec
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
        kit.finalize(d)
        print("answers checked and finalized; `collector seal` seals them for upload")
        return 0
    return _run_interview(kit, kit.new_draft(form, lang), lang)


def _drafts(args: argparse.Namespace) -> int:
    kit = _kit(args)
    if args.resume:
        d = kit.draft(args.resume)
        return _run_interview(kit, d, d.lang)
    drafts = kit.drafts()
    if not drafts:
        print("no drafts")
    for d in drafts:
        started = f"{d.started_at:%Y-%m-%d %H:%M}"
        print(
            f"{d.draft_id[:8]}  {d.form_id} v{d.form_version}  started {started}  "
            f"{len(d.answers)} answers"
        )
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


def _sync(args: argparse.Namespace) -> int:
    kit = _kit(args)
    state = {"n": 0, "total": 0}

    def bundle(bundle_id: object, n: int, total: int) -> None:
        state["n"], state["total"] = n, total
        bar(0, 1)

    def bar(done: int, size: int) -> None:
        width = 30
        filled = int(width * done / max(size, 1))
        print(
            f"\r[{'#' * filled}{'.' * (width - filled)}] bundle {state['n']}/{state['total']}"
            f"  {done / 1048576:.1f}/{size / 1048576:.1f} MiB",
            end="",
            flush=True,
        )

    async def run() -> int:
        async with _session() as session:
            report = await kit.sync(
                session, progress=bundle, dry_run=args.dry_run, bytes_progress=bar
            )
        print()
        if args.dry_run:
            print(f"{kit.status().sealed_not_uploaded} bundle(s) would be sent")
            return 0
        print(f"{len(report.uploaded)} uploaded, receipts verified, local copies deleted")
        for bid, why in report.failed.items():
            print(f"KEPT bundle {str(bid)[:8]}: {why}", file=sys.stderr)
        return 1 if report.failed else 0

    return asyncio.run(run())


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
    c = sub.add_parser("enroll", help="enroll with a server (online token or offline files)")
    c.add_argument("url", nargs="?")
    c.add_argument("token", nargs="?")
    c.add_argument("--label", default="field-kit", help="a name for this device (not a person's)")
    c.add_argument("--request", metavar="FILE", help="write an offline enrollment request")
    c.add_argument("--file", metavar="RESPONSE", help="accept an offline enrollment response")
    c.add_argument("--url", dest="url_opt", help=argparse.SUPPRESS)
    c.set_defaults(func=_enroll)
    c = sub.add_parser("forms", help="list forms; fetch new ones when online")
    c.add_argument("--file", metavar="FILE", help="import a signed form set from a file")
    c.add_argument("--offline", action="store_true", help="do not try the network")
    c.set_defaults(func=_forms)
    c = sub.add_parser("interview", help="run an interview (or enter one from --answers)")
    c.add_argument("form", metavar="FORM")
    c.add_argument("--lang", choices=["ko", "en"])
    c.add_argument("--answers", metavar="FILE", help="TOML/JSON answers, e.g. from paper")
    c.add_argument(
        "--stopped-early", action="store_true", help="with --answers: respondent stopped"
    )
    c.set_defaults(func=_interview)
    c = sub.add_parser("drafts", help="list interviews in progress, or resume one")
    c.add_argument("--resume", metavar="ID")
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "url_opt", None):
        args.url = args.url_opt
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        code: int = func(args)
    except ResponseInvalid as e:
        print(f"collector: {e}", file=sys.stderr)
        print("hint: fix every problem listed, then run the command again", file=sys.stderr)
        return 1
    except (CollectorError, SchemaError) as e:
        print(f"collector: {e}", file=sys.stderr)
        return 1
    finally:
        vault.release_held()
    return code


if __name__ == "__main__":
    sys.exit(main())
