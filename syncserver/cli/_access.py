"""`syncserver devices` and `syncserver tokens`: who may reach the server (devices
enrolled with a one-time token or a request file, and revoked; role-scoped admin API
tokens)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import msgspec

from schemas.ids import parse_id
from schemas.wire import EnrollmentRequest

from .._time import now
from ..access import devices
from ..errors import SyncServerError
from ._common import cli_actor, dir_arg, opened, project_options, reading, shown

__all__ = ["MAX_REQUEST_FILE", "register"]

MAX_REQUEST_FILE = 64 * 1024


def register(sub: Any) -> None:
    """Add ``devices`` and ``tokens`` to ``sub`` (from ``ArgumentParser.add_subparsers``)."""
    dev = sub.add_parser("devices", help="enroll, list and revoke devices")
    dsub = dev.add_subparsers(dest="devices_command", metavar="ACTION")
    tok = dsub.add_parser("token", help="make a one-time enrollment token")
    tok.add_argument("--label", required=True, help="what the token is for (not a person's name)")
    project_options(tok)
    tok.set_defaults(func=_devices_token)
    ef = dsub.add_parser("enroll-file", help="enroll an offline device from its request file")
    ef.add_argument("request", metavar="REQUEST")
    ef.add_argument("-o", "--output", required=True, metavar="RESPONSE")
    project_options(ef)
    ef.set_defaults(func=_devices_enroll_file)
    ls = dsub.add_parser("list", help="list enrolled devices (no secret needed)")
    project_options(ls)
    ls.set_defaults(func=_devices_list)
    dt = dsub.add_parser(
        "tokens", help="list enrollment tokens: label, made, expiry, used by (no secret needed)"
    )
    project_options(dt)
    dt.set_defaults(func=_devices_tokens)
    rv = dsub.add_parser("revoke", help="revoke a device")
    rv.add_argument("device_id", metavar="DEVICE_ID")
    rv.add_argument("--reason", required=True, help="why (kept in the audit log)")
    project_options(rv)
    rv.set_defaults(func=_devices_revoke)

    tk = sub.add_parser("tokens", help="role-scoped admin API tokens")
    tsub = tk.add_subparsers(dest="tokens_command", metavar="ACTION")
    tc = tsub.add_parser("create", help="make a token (shown once)")
    tc.add_argument("--role", required=True, choices=["admin", "manager", "auditor"])
    tc.add_argument("--label", required=True, help="who or what holds it (not a secret)")
    project_options(tc)
    tc.set_defaults(func=_tokens_create)
    tl = tsub.add_parser("list", help="list tokens")
    project_options(tl)
    tl.set_defaults(func=_tokens_list)
    tr = tsub.add_parser("revoke", help="revoke a token by label")
    tr.add_argument("label")
    project_options(tr)
    tr.set_defaults(func=_tokens_revoke)


def _devices_token(args: argparse.Namespace) -> int:
    with opened(args) as project:
        token = devices.create_token(project, args.label, actor=cli_actor(), now=now())
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
    with opened(args) as project:
        response = devices.enroll(project, request, how="file", actor=cli_actor(), now=now())
    out = Path(args.output)
    out.write_bytes(msgspec.json.encode(response))
    print(f"device enrolled; carry {out} back to the device: `collector enroll --file {out}`")
    return 0


def _devices_list(args: argparse.Namespace) -> int:
    from ..access.enrollment_tokens import enrolled_by

    with reading(args) as project:
        rows = devices.list_devices(project)
        tokens = enrolled_by(project)
    if not rows:
        print(
            "no devices enrolled; make a token with"
            f" `syncserver devices token --label NAME {dir_arg(args)}`"
        )
    for d in rows:
        state = f"revoked {d.revoked:%Y-%m-%d}" if d.revoked else f"valid to {d.not_after:%Y-%m-%d}"
        how = f"token '{shown(tokens[d.device_id])}'" if d.device_id in tokens else d.how
        print(f"{d.serial:>4}  {d.device_id}  {d.label:<20}  {how:<5}  {state}  seq {d.last_seq}")
    return 0


def _devices_tokens(args: argparse.Namespace) -> int:
    from ..access.enrollment_tokens import list_enrollment_tokens

    with reading(args) as project:
        rows = list_enrollment_tokens(project)
    at = now()
    if not rows:
        print(
            "no enrollment tokens made; make one with"
            f" `syncserver devices token --label NAME {dir_arg(args)}`"
        )
    for t in rows:
        state = t.state(at)
        if t.used is not None:
            by = f"device {t.device_id} (serial {t.serial})" if t.device_id else "a device"
            what = f"used {t.used:%Y-%m-%d %H:%M} by {by}"
        elif state == "unused":
            what = f"unused, valid to {t.expires:%Y-%m-%d %H:%M}"
        else:
            what = f"expired unused {t.expires:%Y-%m-%d %H:%M}"
        print(f"{shown(t.label):<24} made {t.created:%Y-%m-%d %H:%M}  {what}")
    return 0


def _devices_revoke(args: argparse.Namespace) -> int:
    try:
        device_id = parse_id(args.device_id)
    except ValueError:
        raise SyncServerError(
            "not a device id", hint="copy it from `syncserver devices list`"
        ) from None
    with opened(args) as project:
        devices.revoke(project, device_id, args.reason, actor=cli_actor(), now=now())
    print(f"device {device_id} revoked; its later bundles will be quarantined")
    return 0


def _tokens_create(args: argparse.Namespace) -> int:
    from ..access.admin_tokens import create_token

    with opened(args) as project:
        token = create_token(project, args.role, args.label, actor=cli_actor(), now=now())
    print(token)
    print(f"({args.role} token '{args.label}': shown once, stored only as a hash)", file=sys.stderr)
    return 0


def _tokens_list(args: argparse.Namespace) -> int:
    from ..access.admin_tokens import list_tokens

    with reading(args) as project:
        rows = list_tokens(project)
    if not rows:
        print("no admin tokens")
    for t in rows:
        state = "revoked" if t.revoked else "live"
        print(f"{t.label:<24} {t.role:<8} {t.created:%Y-%m-%d}  {state}")
    return 0


def _tokens_revoke(args: argparse.Namespace) -> int:
    from ..access.admin_tokens import revoke_token

    with opened(args) as project:
        revoke_token(project, args.label, actor=cli_actor(), now=now())
    print(f"token '{args.label}' revoked")
    return 0
