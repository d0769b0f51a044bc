"""`careplan ca init | issue | revoke | crl | show | server-cert` on a CA directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509

from ca.cli import main
from careplan.certificates import CertificateKind, identity_of, load_p12
from careplan.office import with_check_digit

OFFICE = with_check_digit("137010009")


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> object:
    assert main(list(args)) == 0
    return json.loads(capsys.readouterr().out)


def _issue(capsys: pytest.CaptureFixture[str], ca_dir: str, name: str, *args: str) -> dict[str, object]:
    issued = _run(capsys, "--dir", ca_dir, "issue", "--office", OFFICE, "--user", f"KJ{OFFICE}", "--name", name, *args)
    assert isinstance(issued, dict)
    return issued


def test_issue_show_revoke_and_crl(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ca_dir = str(tmp_path / "ca")
    _run(capsys, "--dir", ca_dir, "init")
    issued = _issue(
        capsys, ca_dir, "テスト事業所", "--kind", "seikyu-inin", "--password", "pw", "--out", str(tmp_path / "t.p12")
    )
    pair = load_p12((tmp_path / "t.p12").read_bytes(), "pw")
    identity = identity_of(pair.certificate)
    assert (identity.office_number, identity.kind) == (OFFICE, CertificateKind.SEIKYU_ININ)
    assert (tmp_path / "t.p12").stat().st_mode & 0o777 == 0o600

    shown = _run(capsys, "--dir", ca_dir, "show", "--p12", str(tmp_path / "t.p12"), "--password", "pw")
    assert shown["serial"] == issued["serial"]  # type: ignore[index]

    _run(capsys, "--dir", ca_dir, "revoke", str(issued["serial"]))  # type: ignore[index]
    published = _run(capsys, "--dir", ca_dir, "crl", "--out", str(tmp_path / "crl.der"), "--der")
    assert published["revoked"] == [issued["serial"]]  # type: ignore[index]
    crl = x509.load_der_x509_crl((tmp_path / "crl.der").read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(pair.certificate.serial_number) is not None


def test_server_certificate_names_loopback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ca_dir = str(tmp_path / "ca")
    _run(capsys, "--dir", ca_dir, "init")
    _run(capsys, "--dir", ca_dir, "server-cert", "--out", str(tmp_path / "tls"))
    cert = x509.load_pem_x509_certificate((tmp_path / "tls" / "hub.pem").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert (tmp_path / "tls" / "hub-key.pem").stat().st_mode & 0o777 == 0o600


def test_refusals_are_clear(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each refusal: a line saying so, then the reason in Japanese, then in English, each folded
    (one line of 124 columns before, and an unknown serial said in English only)."""
    from rich.cells import cell_len

    monkeypatch.setenv("COLUMNS", "80")
    ca_dir = str(tmp_path / "ca")
    _run(capsys, "--dir", ca_dir, "init")
    assert (
        main(
            [
                "--dir",
                ca_dir,
                "issue",
                "--office",
                "12345",
                "--user",
                "KJ1",
                "--name",
                "x",
                "--password",
                "p",
                "--out",
                str(tmp_path / "x.p12"),
            ]
        )
        == 2
    )
    said = capsys.readouterr().err.splitlines()
    assert said[1].startswith("  事業所番号が10桁ではありません。事業所番号: 12345（期待値 都道府県番号(2)+")
    assert all(cell_len(line) <= 80 for line in said) and "is not 10 characters" in " ".join(said)  # was 124
    assert main(["--dir", ca_dir, "revoke", "abcdef"]) == 2
    said = capsys.readouterr().err.splitlines()
    assert said[0].endswith("refused:") and said[1].startswith("  シリアル abcdef の証明書はこの認証局が発行")
    assert said[-1] == "  serial abcdef was not issued by this CA"
    assert main(["--dir", str(tmp_path / "none"), "show"]) == 2


def test_reissue_for_a_lost_password(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ca_dir = str(tmp_path / "ca")
    _run(capsys, "--dir", ca_dir, "init")
    first = _issue(capsys, ca_dir, "テスト", "--password", "old", "--out", str(tmp_path / "old.p12"))
    second = _run(
        capsys,
        "--dir",
        ca_dir,
        "reissue",
        str(first["serial"]),
        "--password",
        "new",  # type: ignore[index]
        "--out",
        str(tmp_path / "new.p12"),
        "--revoke-old",
    )
    renewed = identity_of(load_p12((tmp_path / "new.p12").read_bytes(), "new").certificate)
    assert (renewed.office_number, renewed.office_user_id) == (OFFICE, f"KJ{OFFICE}")
    assert second["serial"] != first["serial"]  # type: ignore[index]
    index = {e["serial"]: e for e in _run(capsys, "--dir", ca_dir, "--json", "show")}  # type: ignore[union-attr]
    assert index[first["serial"]]["revoked_at"] and not index[second["serial"]]["revoked_at"]  # type: ignore[index]


def test_trust_help_fits_80_columns_and_its_commands_paste_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its steps were one line each (up to 177 columns) and the certutil command 118 with a long path."""
    from rich.cells import cell_len

    from careplan.trust_help import CA_NICKNAME

    monkeypatch.setenv("COLUMNS", "80")
    ca_dir = tmp_path / "研修用のデータ" / "ca"
    assert main(["--dir", str(ca_dir), "trust-help"]) == 0
    text = capsys.readouterr().out
    ca_file = str((ca_dir / "ca.pem").resolve())
    windows = [line for line in text.splitlines() if line.lstrip().startswith("certutil -addstore")]
    assert windows == [f"      certutil -addstore -user Root {ca_file}"]  # a Windows prompt has no `\`: whole
    lines = [line for line in text.splitlines() if line not in windows]
    too_wide = [line for line in lines if cell_len(line) > 80]
    assert all(line.strip() == ca_file for line in too_wide), too_wide  # a path wider than a line stays whole
    pasted = text.replace(" \\\n        ", " ")  # what a shell reads
    assert f'certutil -d sql:$HOME/.pki/nssdb -A -t "C,," -n "{CA_NICKNAME}" -i {ca_file}\n' in pasted
    assert "信頼されたルート証明機関" in "".join(text.split())


def test_show_lists_each_certificate_japanese_first_within_80_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The list was one line a certificate of 123-129 columns, English only ('valid', 'until')."""
    from rich.cells import cell_len

    monkeypatch.setenv("COLUMNS", "80")
    ca_dir = str(tmp_path / "ca")
    _run(capsys, "--dir", ca_dir, "init")
    name = "ひまわり訪問介護ステーション株式会社 本店営業所 サービス提供責任者室"
    kept = _issue(capsys, ca_dir, name, "--password", "pw", "--out", str(tmp_path / "a.p12"))
    gone = _issue(capsys, ca_dir, "テスト", "--kind", "dairinin", "--password", "pw", "--out", str(tmp_path / "b.p12"))
    _run(capsys, "--dir", ca_dir, "revoke", str(gone["serial"]))
    assert main(["--dir", ca_dir, "show"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert all(cell_len(line) <= 80 for line in lines), max(lines, key=cell_len)
    assert lines[0] == "証明書一覧 / certificates（2件）"
    assert f"{kept['serial']}  有効 / valid" in lines and any(f"{gone['serial']}  失効 / revoked " in x for x in lines)
    assert "".join(name.split()) in "".join("".join(lines).split())
    assert any(line.startswith("  代理人証明書 (dairinin)  期限 / until ") for line in lines)


def test_dir_and_json_also_work_after_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`careplan ca show --dir DIR --json` (it was 'unrecognized arguments: --dir'), as the hub's
    --data and the client's --profile: the same answer as with both before the command."""
    ca_dir = str(tmp_path / "ca")
    _run(capsys, "init", "--dir", ca_dir)
    assert (tmp_path / "ca" / "ca.pem").exists()
    _issue(capsys, ca_dir, "テスト事業所", "--password", "pw", "--out", str(tmp_path / "t.p12"))
    before = _run(capsys, "--dir", ca_dir, "--json", "show")
    after = _run(capsys, "show", "--dir", ca_dir, "--json")
    assert after == before and len(before) == 1  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["garbage", "{}", "[1]", '[{"serial": 5}]'])
def test_a_damaged_record_of_issued_certificates_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    """index.json cut short or edited: exit 70 'unexpected error … KeyError/TypeError'; now the file
    and what is wrong with it (status 2)."""
    ca_dir = tmp_path / "ca"
    _run(capsys, "--dir", str(ca_dir), "init")
    (ca_dir / "index.json").write_text(text)
    assert main(["--dir", str(ca_dir), "show"]) == 2
    said = capsys.readouterr()
    assert f"  {ca_dir / 'index.json'}" in said.err.splitlines() and "発行記録" in said.err, said.err  # whole
