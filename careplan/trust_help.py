"""How to make a browser trust the simulator's test CA: one text for `careplan ca trust-help`
and the hub's /trust page.

The hub's TLS certificate is issued by the same test CA as the offices' certificates (ca.pem).
A browser that does not trust that CA shows a warning on every page; trusting it for the time of
a training, and removing it afterwards, is the clean way. The steps name the menus of current
Chromium, Firefox and Windows releases (menus move between versions: the commands do not).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from careplan.folding import continued, hanging


@dataclass(frozen=True, slots=True, kw_only=True)
class Section:
    title: str
    steps: tuple[str, ...]
    commands: tuple[str, ...] = ()


CA_NICKNAME = "careplan-sim test CA"


def sections(ca_file: str, hub_url: str) -> tuple[Section, ...]:
    """The steps, with the CA file's path and the hub's URL filled in."""
    return (
        Section(
            title="はじめに / first",
            steps=(
                f"テスト用認証局の証明書は {ca_file} です（ハブからは {hub_url}/ca.pem でも取得できます）。",
                "これはシミュレータのテスト専用の認証局です。研修が終わったら、信頼の設定を削除してください。",
                "ハブはクライアント証明書を求めることがあります。Webサイトを見るだけなら、"
                "証明書の選択画面では「キャンセル」を選んでください。",
            ),
        ),
        Section(
            title="Chromium / Google Chrome（Linux）",
            steps=(
                "設定 → プライバシーとセキュリティ → セキュリティ → 証明書の管理 → "
                "（ローカル証明書 →）認証局 → インポート で ca.pem を選びます。",
                "「この認証局をウェブサイトの識別に使用する」にチェックを入れて OK を押します。",
                "コマンドでは（libnss3-tools の certutil）:",
            ),
            commands=(f'certutil -d sql:$HOME/.pki/nssdb -A -t "C,," -n "{CA_NICKNAME}" -i {ca_file}',),
        ),
        Section(
            title="Firefox",
            steps=(
                "設定 → プライバシーとセキュリティ → 証明書 → 証明書を表示 → 認証局証明書 → "
                "インポート で ca.pem を選びます。",
                "「この認証局によるウェブサイトの識別を信頼する」にチェックを入れて OK を押します。",
            ),
        ),
        Section(
            title="Windows（Edge / Chrome）",
            steps=(
                "ca.pem を ca.crt という名前でコピーしてダブルクリック → 証明書のインストール → 現在のユーザー → "
                "「証明書をすべて次のストアに配置する」→ 信頼されたルート証明機関 を選びます。",
                "コマンドプロンプトでは:",
            ),
            commands=(f"certutil -addstore -user Root {ca_file}",),
        ),
        Section(
            title="研修の後で / afterwards",
            steps=("同じ画面で、この認証局を削除してください。コマンドでは:",),
            commands=(
                f'certutil -d sql:$HOME/.pki/nssdb -D -n "{CA_NICKNAME}"',
                'certutil -delstore -user Root "careplan-sim Test Office CA"   (Windows)',
            ),
        ),
    )


def as_text(ca_file: str, hub_url: str, width: int = 80) -> str:
    """The steps as plain text for a terminal, each folded to `width` cells (careplan.folding) with
    its continuation under its text; a command to paste continues with ` \\` (`_continued`)."""
    lines = ["ブラウザにテスト用認証局を信頼させる / trust the test CA in a browser", ""]
    for section in sections(ca_file, hub_url):
        lines.append(f"■ {section.title}")
        for step in section.steps:
            lines += hanging("  - ", step, width)
        for command in section.commands:
            windows = "Windows" in section.title or command.endswith("(Windows)")
            lines += [f"      {command}"] if windows else _continued(command, width)
        lines.append("")
    return "\n".join(lines)


def _continued(command: str, width: int) -> list[str]:
    """A POSIX shell command in lines of `width` cells joined by ` \\` (broken between words, never in
    a quoted one), so it still pastes as one command; a Windows command prompt stays whole."""
    return continued(re.findall(r'"[^"]*"|\S+', command), width, " " * 6, " " * 8)
