"""`careplan ca …`: a test CA for office certificates, as files an office installs (PKCS#12)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from ca.authority import CertificateAuthority, DamagedIndex, Issued
from careplan.certificates import CertificateKind, identity_of, load_p12
from careplan.findings_ja import warning_ja
from careplan.folding import fold
from careplan.helptext import (
    also_after_the_command,
    hub_url,
    input_file,
    instant,
    number_in,
    os_error_text,
    with_examples,
)
from careplan.jst import for_people, json_times
from careplan.office import office_number_findings
from careplan.trust_help import as_text

DEFAULT_DIR = Path(".careplan-sim/ca")


EXAMPLES = {
    "": "例: careplan ca init\n    careplan ca show\n    careplan ca trust-help",
    "init": "例: careplan ca --dir .careplan-sim/ca init",
    "issue": "例: careplan ca issue --office 1171201369 --user KJ0000000002 \\\n"
    "      --name ハッピー訪問介護 --password secret --out houmon.p12",
    "reissue": "例: careplan ca reissue 3f2a… --password new-secret --out houmon-new.p12 \\\n      --revoke-old",
    "revoke": "例: careplan ca revoke 3f2a…（careplan ca show の serial）",
    "crl": "例: careplan ca crl --out crl.der --der",
    "show": "例: careplan ca show\n    careplan ca show --p12 houmon.p12 --password secret",
    "server-cert": "例: careplan ca server-cert --out .careplan-sim/tls \\\n      --host localhost --host 127.0.0.1",
    "trust-help": "例: careplan ca trust-help --hub https://127.0.0.1:8443",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="careplan ca", description="Test CA for KJ-style office certificates.")
    parser.add_argument(
        "--dir", type=Path, default=DEFAULT_DIR, help="CA directory (default: %(default)s; also after the command)"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output (also after the command)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("init", help="create the CA (if absent)")
    issue = sub.add_parser("issue", help="issue an office certificate as .p12")
    issue.add_argument("--office", required=True, help="事業所番号 (10 characters)")
    issue.add_argument("--user", required=True, help="KJ office user ID")
    issue.add_argument("--name", required=True, help="office name")
    issue.add_argument(
        "--kind",
        default="kaigo",
        choices=[k.slug for k in CertificateKind],
        help="certificate kind (default: %(default)s; the others test refusals, R2.1)",
    )
    issue.add_argument("--days", type=number_in(1, 36500), default=730, help="validity in days (default: %(default)s)")
    issue.add_argument("--not-before", type=instant, help="ISO 8601 start (default: now)")
    issue.add_argument("--password", required=True, help="the .p12 password")
    issue.add_argument("--out", type=Path, required=True, help="the .p12 file to write")
    issue.add_argument("--no-client-auth", action="store_true", help="omit the clientAuth usage (to test refusals)")
    reissue = sub.add_parser("reissue", help="a new .p12 for the office of a certificate (lost password, renewal)")
    reissue.add_argument("serial", type=_serial, help="serial (hex) of the office's current certificate")
    reissue.add_argument("--password", required=True, help="the new .p12 password")
    reissue.add_argument("--out", type=Path, required=True, help="the .p12 file to write")
    reissue.add_argument(
        "--days", type=number_in(1, 36500), default=730, help="validity in days (default: %(default)s)"
    )
    reissue.add_argument("--revoke-old", action="store_true", help="revoke the old certificate now")
    revoke = sub.add_parser("revoke", help="revoke by serial (hex) and publish the CRL")
    revoke.add_argument("serial", type=_serial, help="serial (hex) as `careplan ca show` lists it")
    crl = sub.add_parser("crl", help="publish the CRL and print where")
    crl.add_argument("--out", type=Path, help="also write it here (PEM, or DER with --der)")
    crl.add_argument("--der", action="store_true", help="write --out as DER instead of PEM")
    show = sub.add_parser("show", help="list issued certificates, or show one .p12")
    show.add_argument("--p12", type=input_file, help="a .p12 file to describe instead of the list")
    show.add_argument("--password", help="the password of --p12")
    server = sub.add_parser("server-cert", help="issue the hub's TLS certificate (PEM files)")
    server.add_argument("--out", type=Path, required=True, help="directory for hub.pem and hub-key.pem")
    server.add_argument(
        "--host", action="append", help="host name or IP (repeatable; default localhost, 127.0.0.1, ::1)"
    )
    trust = sub.add_parser("trust-help", help="how to make Chromium, Firefox or Windows trust this test CA")
    trust.add_argument(
        "--hub", default="https://127.0.0.1:8443", type=hub_url, help="the hub's URL (default: %(default)s)"
    )
    return with_examples(also_after_the_command(parser, "--dir", "--json"), EXAMPLES)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _issue(authority: CertificateAuthority, args: argparse.Namespace) -> dict[str, object]:
    for finding in office_number_findings(args.office):
        if finding.severity == "error":
            raise ValueError(f"{warning_ja(finding)} / {finding.message}")
        print(f"注意: {warning_ja(finding)}\nwarning: {finding.message}", file=sys.stderr)
    not_before = args.not_before
    issued = authority.issue_office(
        office_number=args.office,
        office_user_id=args.user,
        office_name=args.name,
        kind=CertificateKind.from_slug(args.kind),
        now=_now(),
        not_before=not_before,
        days=args.days,
        client_auth=not args.no_client_auth,
    )
    return _write_p12(authority, issued, args.password, args.out)


def _write_p12(authority: CertificateAuthority, issued: Issued, password: str, out: Path) -> dict[str, object]:
    out.parent.mkdir(parents=True, exist_ok=True)
    data = issued.to_p12(password, name=str(authority.index[-1]["office_name"]), ca=authority.certificate)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # never readable by others, not even briefly
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return authority.index[-1] | {"p12": str(out)}


def _show(authority: CertificateAuthority, args: argparse.Namespace) -> object:
    if args.p12:
        pair = load_p12(args.p12.read_bytes(), args.password or "")
        identity = identity_of(pair.certificate)
        return {
            "office_number": identity.office_number,
            "office_user_id": identity.office_user_id,
            "office_name": identity.office_name,
            "kind": identity.kind.value,
            "serial": f"{identity.serial:x}",
            "not_before": identity.not_before.isoformat(),
            "not_after": identity.not_after.isoformat(),
            "sha256": identity.fingerprint,
        }
    return authority.index


def _run(args: argparse.Namespace) -> object:
    if args.command == "init":
        authority = CertificateAuthority.open_or_create(args.dir, now=_now())
        return {
            "ca": str(args.dir / "ca.pem"),
            "crl": str(args.dir / "crl.pem"),
            "subject": authority.certificate.subject.rfc4514_string(),
        }
    authority = CertificateAuthority.load(args.dir)
    if args.command == "issue":
        return _issue(authority, args)
    if args.command == "reissue":
        issued = authority.reissue(args.serial, now=_now(), days=args.days, revoke_old=args.revoke_old)
        return _write_p12(authority, issued, args.password, args.out)
    if args.command == "revoke":
        return authority.revoke(args.serial, now=_now())
    if args.command == "crl":
        authority.save(now=_now())  # publishes the next CRL number; --out gets that same number
        crl = authority.crl(now=_now())
        if args.out:
            encoding = serialization.Encoding.DER if args.der else serialization.Encoding.PEM
            args.out.write_bytes(crl.public_bytes(encoding))
        return {
            "crl": str(args.out or args.dir / "crl.pem"),
            "revoked": [f"{s:x}" for s in authority.revoked_serials()],
        }
    if args.command == "server-cert":
        issued = authority.issue_server(hostnames=args.host or ("localhost", "127.0.0.1", "::1"), now=_now())
        write_server_cert(issued.cert_pem(), issued.key_pem(), args.out)
        return {"cert": str(args.out / "hub.pem"), "key": str(args.out / "hub-key.pem")}
    return _show(authority, args)


def _serial(text: str) -> int:
    """A serial as `careplan ca show` lists it (hex); anything else is a usage error (exit 2)."""
    try:
        return int(text, 16)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} はシリアル番号（16進数、careplan ca show の serial）ではありません\n"
            f"{text!r} is not a serial (hex, as careplan ca show lists it)"
        ) from None


def write_server_cert(cert_pem: bytes, key_pem: bytes, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "hub.pem").write_bytes(cert_pem)
    key = directory / "hub-key.pem"
    key.touch(mode=0o600)
    key.write_bytes(key_pem)


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.command == "trust-help":  # text only: works before the CA exists
        width = shutil.get_terminal_size().columns  # $COLUMNS, the terminal's, else 80 (piped)
        print(as_text(str((args.dir / "ca.pem").resolve()), args.hub.rstrip("/"), width))
        return 0
    try:
        result = _run(args)
    except OSError as exc:
        print(
            f"careplan ca: ファイルまたはフォルダを使えません / cannot use a file or folder\n  {os_error_text(exc)}",
            file=sys.stderr,
        )
        return 2
    except (ValueError, KeyError) as exc:  # the authority's refusals (an unknown serial, a bad .p12)
        reason = str(exc.args[0] if exc.args else exc)
        width = shutil.get_terminal_size().columns
        said = [f"  {line}" for part in reason.split(" / ", 1) for line in fold(part, max(20, width - 2))]
        where = [f"  {exc.path}"] if isinstance(exc, DamagedIndex) else []  # a path whole, never folded
        print("\n".join(["careplan ca: 実行できません / refused:", *where, *said]), file=sys.stderr)
        return 2
    if args.json or not isinstance(result, list):
        print(json.dumps(json_times(result), ensure_ascii=False, indent=2))
    else:
        print("\n".join(_listing(result, shutil.get_terminal_size().columns)))
    return 0


def _listing(index: list[dict[str, Any]], width: int) -> list[str]:
    """Every certificate the CA issued, three lines each within `width` cells (a terminal's, or
    $COLUMNS, or 80 piped): its serial whole (as reissue and revoke take it) and its state, the
    office, then the kind and validity; Japanese first."""
    lines = [f"証明書一覧 / certificates（{len(index)}件）"]
    for entry in index:
        state = f"失効 / revoked {for_people(entry['revoked_at'])}" if entry["revoked_at"] else "有効 / valid"
        kind = CertificateKind.from_slug(str(entry["kind"]))
        office = fold(f"{entry['office_number']} {entry['office_name']}", max(20, width - 2))
        lines += [f"{entry['serial']}  {state}", *(f"  {part}" for part in office)]
        lines.append(f"  {kind.value} ({kind.slug})  期限 / until {for_people(entry['not_after'])}")
    return lines
