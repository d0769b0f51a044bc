"""The error catalogue: every refusal of the system, by stable code.

Rules this module keeps:
1. A code is stable once published: scenario files, vendors' clients and QA suites match on it.
2. The Japanese message is the real system's text, verbatim from REQUIREMENTS.md, wherever the
   real system has one (`real=True`). Where the real system is silent the text is ours and says so
   (`real=False`); we never pass our own wording off as the platform's.
3. Certificate and signature refusals speak in the words of the operation that failed (R2.3):
   the same cause reads 正しい電子証明書… at login, 端末に登録されている証明書が一致しないため、送信…
   on send and …受信… on receive. The code names the cause; the operation picks the message.
4. The message is what the office sees; `detail` says exactly what was wrong and `fix` how to
   mend it. That pair is where we beat the real system.

5. Office staff read Japanese: every entry has its explanation and fix in Japanese and English,
   Japanese by default (`Lang`). The real system's messages stay as they are in both languages.
6. Every refusal says how to mend it: a raise site's own `fix`, else the entry's `fix_ja`/`fix_en`.

Exception tree (callers catch a category, or match `.code`; the catalogue entry picks the class,
so `CareplanError("CERT_REVOKED")` is a `CertificateError`):

    CareplanError(code, operation=None, detail="", fix="", findings=(), detail_en="", fix_en="")
     ├── CertificateError    CERT_*, SIGNER_MISMATCH: the office's electronic certificate (R2)
     ├── SignatureError      SIGNATURE_INVALID, MANIFEST_INVALID, FILE_TAMPERED, REPLAY, SIGNING_TIME_INVALID
     ├── SessionError        LOGIN_*, PASSWORD_*, CSRF_FAILED, SESSION_REQUIRED: user IDs and sessions (R1)
     ├── LicenceError        SENDER_NOT_APPLIED, RECIPIENT_NOT_LICENSED, LICENCE_*: 利用申請 and licences (R3)
     ├── FormatError         FORMAT_INVALID, FILE_TYPE_NOT_ALLOWED, DATA_LOAD_FAILED: what a file is (R4.2/5/6)
     ├── CombinationError    COMBINATION_INVALID, TOO_MANY_FILES, …_TOO_LARGE, …: sending units and limits (R4)
     ├── ReceiveError        ALREADY_DOWNLOADED, TRANSMISSION_NOT_FOUND: receiving (R5)
     ├── RequestError        BAD_REQUEST, NOT_FOUND, METHOD_NOT_ALLOWED, ADMIN_FORBIDDEN, OFFICE_EXISTS,
     │                       OFFICE_NOT_FOUND
     └── PlatformError       HUB_UNREACHABLE, INTERNAL: the hub cannot answer (CLI exit status 3 / 1)
        .spec      -> ErrorSpec (messages per operation, explanations, fixes, HTTP status, category)
        .message   -> the exact Japanese message for this operation
        .in_context(op) -> worded for `op` when raised without `operation=` (the hub: the route's)
        .to_wire(lang) -> {"code", "message", "operation", "explanation", "detail", "fix", "findings", "lang"}
        .exit_status   -> the `careplan` command's exit status for this refusal
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any, ClassVar


class Operation(StrEnum):
    """What the office was doing when it was refused; picks the message (R2.3)."""

    LOGIN = "login"
    SEND = "send"
    RECEIVE = "receive"
    LOAD = "load"
    ADMIN = "admin"


class Lang(StrEnum):
    """The language of explanations, details and fixes (messages of the real system stay Japanese)."""

    JA = "ja"
    EN = "en"


class Category(StrEnum):
    """What a refusal is about; picks the exception class (see the tree above)."""

    CERTIFICATE = "certificate"
    SIGNATURE = "signature"
    SESSION = "session"
    LICENCE = "licence"
    FORMAT = "format"
    COMBINATION = "combination"
    RECEIVE = "receive"
    REQUEST = "request"
    PLATFORM = "platform"


# Hiragana: every Japanese sentence has it (particles, endings); an English sentence naming a
# Japanese term (事業所ユーザID, 利用申請/更新, ダウンロード済) has kanji or katakana only.
_HIRAGANA = re.compile(r"[\u3041-\u309f]")


def is_japanese(text: str) -> bool:
    """True when `text` is a Japanese sentence, not an English one that names Japanese terms."""
    return bool(_HIRAGANA.search(text))


LANG_ENV = "CAREPLAN_LANG"  # `careplan --lang` puts its choice here for every command


def parse_lang(value: str | None, default: Lang = Lang.JA) -> Lang:
    """The language asked for by `--lang`, `CAREPLAN_LANG` or an Accept-Language header.

    Accept-Language is read in preference order (q values); the first of ja/en wins; anything
    else (or nothing) gives `default`."""
    if not value:
        return default
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate(value.split(",")):
        tag, _, params = item.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        ranked.append((-q, index, tag.strip().lower().split("-")[0]))
    for negative_q, _, tag in sorted(ranked):
        if negative_q < 0 and tag in Lang._value2member_map_:
            return Lang(tag)
    return default


# Messages of the real system, verbatim (REQUIREMENTS.md section in the comment).
MSG_LOGIN_CERT = "正しい電子証明書をインストールしてください。"  # R2.3
MSG_SEND_FAILED = "送信に失敗しました。再度実行してください。"  # R2.3
MSG_SEND_CERT = (  # R2.3
    "端末に登録されている証明書が一致しないため、送信に失敗しました。"
    "サポートサイトのエラー関連 FAQ を参考のうえ、再度実行してください。"
)
MSG_RECEIVE_FAILED = "受信に失敗しました。再度実行してください。"  # R2.3
MSG_RECEIVE_CERT = (  # R2.3
    "端末に登録されている証明書が一致しないため、受信に失敗しました。"
    "サポートサイトのエラー関連 FAQ を参考のうえ、再度実行してください。"
)
MSG_PASSWORD_EXPIRED = "パスワードの有効期限が切れています"  # R1.2
MSG_SENDER_NOT_APPLIED = (  # R3.6
    "送信に失敗しました。ケアプランデータ連携システムWebサイトより利用申請を行った後に再度実行してください。"
)
MSG_DATA_LOAD_FAILED = (  # R3.6, R4.6
    "データの読み込みに失敗しました。時間をおいてから再度実行もしくはアプリケーションを再起動してください。"
    "再度同様の操作を行っても事象が変わらない場合はサポートにお問い合わせください。"
)
MSG_RECIPIENT_NOT_LICENSED = (  # R3.7
    "送信に失敗しました。送信先事業所がケアプランデータ連携システムの利用申請を行っていない、"
    "または現在有効なライセンスを持っていません。送信先事業所が利用申請を行った後に再度送信してください。"
)
MSG_COMBINATION_INVALID = (  # R4.4
    "ファイルの組み合わせが正しくありません。CSVファイルの組み合わせを確認してください。"
)
MSG_FORMAT_INVALID = (  # R4.5
    "ケアプランデータの書式フォーマットが正しくありません。ケアプランデータ内の書式を確認してください。"
)
MSG_APPLICATION_DONE = "利用申請が正常に完了しております。"  # R3.5 (a notice, not an error)

_CERT_MESSAGES = MappingProxyType(
    {
        Operation.LOGIN: MSG_LOGIN_CERT,
        Operation.SEND: MSG_SEND_CERT,
        Operation.RECEIVE: MSG_RECEIVE_CERT,
    }
)
_FAILED_MESSAGES = MappingProxyType(
    {
        Operation.LOGIN: MSG_LOGIN_CERT,
        Operation.SEND: MSG_SEND_FAILED,
        Operation.RECEIVE: MSG_RECEIVE_FAILED,
    }
)

# The platform failed (out of reach, or a failure inside it): the real message of the operation.
_PLATFORM_MESSAGES = MappingProxyType(
    {
        Operation.LOAD: MSG_DATA_LOAD_FAILED,
        Operation.SEND: MSG_SEND_FAILED,
        Operation.RECEIVE: MSG_RECEIVE_FAILED,
    }
)


def _guess_category(code: str, status: int, messages: Mapping[Operation, str]) -> Category:
    """For entries that do not name their category: by their messages, the code's prefix, the status."""
    if messages is _CERT_MESSAGES:
        return Category.CERTIFICATE
    if messages is _FAILED_MESSAGES or code.startswith(("SIGNATURE_", "MANIFEST_")):
        return Category.SIGNATURE
    prefixes = {
        "CERT_": Category.CERTIFICATE,
        "LOGIN_": Category.SESSION,
        "PASSWORD_": Category.SESSION,
        "SESSION_": Category.SESSION,
        "LICENCE_": Category.LICENCE,
        "FILE_": Category.FORMAT,
    }
    for prefix, category in prefixes.items():
        if code.startswith(prefix):
            return category
    return Category.PLATFORM if status >= 500 else Category.REQUEST


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorSpec:
    """One catalogue entry: what the office reads, what it means, how HTTP carries it."""

    code: str
    messages: Mapping[Operation, str]
    default_operation: Operation
    explanation: str
    status: int
    real: bool = True  # the Japanese text is the real system's (False: ours, the real one is silent)
    # Office-facing texts: Japanese first, English on request; the fix is the default for raise sites.
    explanation_ja: str = ""
    fix_ja: str = ""
    fix_en: str = ""
    category: Category = None  # type: ignore[assignment]  # None: derived in __post_init__

    def __post_init__(self) -> None:
        if self.default_operation not in self.messages:
            raise ValueError(f"{self.code}: no message for {self.default_operation}")
        if self.category is None:  # an entry that does not name its category gets one from its code
            object.__setattr__(self, "category", _guess_category(self.code, self.status, self.messages))

    def explanation_in(self, lang: Lang) -> str:
        return self.explanation_ja if lang == Lang.JA and self.explanation_ja else self.explanation

    def fix_in(self, lang: Lang) -> str:
        return (self.fix_ja if lang == Lang.JA else self.fix_en) or self.fix_en or self.fix_ja

    @property
    def exit_status(self) -> int:
        """The `careplan` command's exit status: 3 when the hub cannot be reached, else 1."""
        return 3 if self.code == "HUB_UNREACHABLE" else 1

    def message(self, operation: Operation | None = None) -> str:
        return self.messages.get(operation or self.default_operation) or self.messages[self.default_operation]


def _cert(
    code: str,
    explanation: str,
    status: int = 403,
    *,
    explanation_ja: str = "",
    fix_ja: str = "",
    fix_en: str = "",
) -> ErrorSpec:
    return ErrorSpec(
        code=code,
        messages=_CERT_MESSAGES,
        default_operation=Operation.SEND,
        explanation=explanation,
        status=status,
        category=Category.CERTIFICATE,
        explanation_ja=explanation_ja,
        fix_ja=fix_ja,
        fix_en=fix_en,
    )


def _failed(
    code: str,
    explanation: str,
    status: int = 400,
    *,
    explanation_ja: str = "",
    fix_ja: str = "",
    fix_en: str = "",
) -> ErrorSpec:
    return ErrorSpec(
        code=code,
        messages=_FAILED_MESSAGES,
        default_operation=Operation.SEND,
        explanation=explanation,
        status=status,
        category=Category.SIGNATURE,
        explanation_ja=explanation_ja,
        fix_ja=fix_ja,
        fix_en=fix_en,
    )


def _one(
    code: str,
    message: str,
    explanation: str,
    status: int,
    *,
    op: Operation,
    real: bool = True,
    explanation_ja: str = "",
    fix_ja: str = "",
    fix_en: str = "",
    category: Category | None = None,
) -> ErrorSpec:
    return ErrorSpec(
        code=code,
        messages=MappingProxyType({op: message}),
        default_operation=op,
        explanation=explanation,
        status=status,
        real=real,
        explanation_ja=explanation_ja,
        fix_ja=fix_ja,
        fix_en=fix_en,
        category=category,  # type: ignore[arg-type]  # None: ErrorSpec derives it
    )


_SPECS: tuple[ErrorSpec, ...] = (
    # --- certificates and identity (R2) ---------------------------------------------------------
    _cert(
        "CERT_MISSING",
        "No client certificate was presented in the TLS handshake.",
        401,
        explanation_ja="TLS接続のときにクライアント証明書（事業所の電子証明書）が提示されませんでした。",
        fix_ja=(
            "事業所の電子証明書（.p12）を端末にインストールし、ログインのときに指定してください（careplan client "
            "login --p12 …）。"
        ),
        fix_en=(
            "Install the office certificate (.p12) on this terminal and give it at login (careplan client login --p12 "
            "…)."
        ),
    ),
    _cert(
        "CERT_UNTRUSTED",
        "The certificate was not issued by a CA the hub trusts.",
        explanation_ja="ハブが信頼する認証局が発行した証明書ではありません。",
        fix_ja="このハブの認証局が発行した事業所の電子証明書を使ってください（careplan ca issue）。",
        fix_en="Use an office certificate issued by this hub's CA (careplan ca issue).",
    ),
    _cert(
        "CERT_KIND_NOT_ACCEPTED",
        "Only 介護保険証明書 and 請求委任事業所用ケアプラン証明書 are accepted (R2.1); "
        "代理人証明書 and 障害総合支援証明書 are not.",
        explanation_ja=(
            "受け付ける証明書は介護保険証明書と請求委任事業所用ケアプラン証明書だけです（R2.1）。"
            "代理人証明書・障害総合支援証明書は使えません。"
        ),
        fix_ja="介護保険証明書または請求委任事業所用ケアプラン証明書をインストールしてください。",
        fix_en="Install a 介護保険証明書 or a 請求委任事業所用ケアプラン証明書.",
    ),
    _cert(
        "CERT_REVOKED",
        "The certificate is on the CA's revocation list.",
        explanation_ja="証明書は認証局によって失効されています。",
        fix_ja="証明書を再発行してもらい、端末にインストールし直してください（careplan ca reissue）。",
        fix_en="Have the certificate re-issued and install the new one (careplan ca reissue).",
    ),
    _cert(
        "CERT_EXPIRED",
        "The certificate's validity ended before the hub's current time.",
        explanation_ja="証明書の有効期間が、ハブの現在時刻より前に終わっています。",
        fix_ja="新しい証明書を発行してもらい、端末にインストールし直してください。",
        fix_en="Have a new certificate issued and install it on this terminal.",
    ),
    _cert(
        "CERT_NOT_YET_VALID",
        "The certificate's validity starts after the hub's current time.",
        explanation_ja="証明書の有効期間が、まだ始まっていません（開始がハブの現在時刻より後）。",
        fix_ja="有効期間の開始を待つか、端末とハブの時刻を確認してください。",
        fix_en="Wait until the validity starts, or check the clocks of the terminal and the hub.",
    ),
    _cert(
        "CERT_MALFORMED",
        "The certificate lacks the office identity (事業所番号, KJ user ID).",
        explanation_ja="証明書に事業所の識別情報（事業所番号・KJユーザID）がありません。",
        fix_ja="このシステム用に発行された事業所の電子証明書を使ってください。",
        fix_en="Use an office certificate issued for this system.",
    ),
    _cert(
        "CERT_NO_CLIENT_AUTH",
        "The certificate lacks the TLS client-authentication usage (clientAuth EKU).",
        explanation_ja="証明書にTLSクライアント認証の用途（clientAuth）がありません。",
        fix_ja="クライアント認証用に発行された事業所の電子証明書を使ってください。",
        fix_en="Use an office certificate issued for client authentication.",
    ),
    _cert(
        "CERT_OFFICE_MISMATCH",
        "The certificate belongs to another office than the user ID or the session.",
        explanation_ja="証明書が、ユーザIDまたはセッションとは別の事業所のものです。",
        fix_ja="この事業所の電子証明書と、この事業所のユーザIDでログインし直してください。",
        fix_en="Log in again with this office's certificate and this office's user ID.",
    ),
    _cert(
        "SIGNER_MISMATCH",
        "The transmission was signed by another office or certificate than the one connected.",
        explanation_ja="送信データの電子署名が、接続している事業所・証明書とは別の証明書で行われています。",
        fix_ja="接続に使っている証明書で署名し直して、もう一度送信してください。",
        fix_en="Sign with the certificate used for the connection and send again.",
    ),
    _failed(
        "SIGNATURE_INVALID",
        "The CMS signature over the manifest does not verify.",
        explanation_ja="送信内容の明細（マニフェスト）に対する電子署名（CMS）を検証できません。",
        fix_ja="送信データが途中で変わっていないか確認し、もう一度送信してください。",
        fix_en="Check that nothing altered the data on the way and send again.",
    ),
    _failed(
        "MANIFEST_INVALID",
        "The transmission manifest is missing or malformed.",
        explanation_ja="送信データの明細（マニフェスト）がないか、形式が正しくありません。",
        fix_ja="API説明（/api）のとおりにマニフェストを作り、もう一度送信してください。",
        fix_en="Build the manifest as the API description (/api) says and send again.",
    ),
    _failed(
        "FILE_TAMPERED",
        "A file's name, size or SHA-256 differs from the signed manifest.",
        explanation_ja="ファイルの名前・サイズ・SHA-256のいずれかが、署名された明細（マニフェスト）と異なります。",
        fix_ja="ファイルを変えずに、もう一度送信してください。",
        fix_en="Send the files again, unchanged.",
    ),
    _failed(
        "REPLAY",
        "This transmission id or signed manifest was already submitted.",
        409,
        explanation_ja="この送信ID（または署名済みの明細）は既に送信されています。",
        fix_ja="送信一覧で既に届いていないか確認してください。改めて送る場合は新しい送信として送信してください。",
        fix_en="Check the send list: it may have arrived already. To send it again, send it as a new transmission.",
    ),
    _failed(
        "SIGNING_TIME_INVALID",
        "The manifest's signing time is outside the tolerance around the hub's clock (stale or post-dated).",
        explanation_ja=(
            "明細（マニフェスト）の署名時刻が、ハブの時刻から許容範囲を超えてずれています（古い、または未来の日時）。"
        ),
        fix_ja="端末の時刻を合わせてから、もう一度送信してください。",
        fix_en="Set the terminal's clock right and send again.",
    ),
    # --- sessions and accounts (R1) -------------------------------------------------------------
    _one(
        "LOGIN_FAILED",
        "ユーザIDまたはパスワードが正しくありません。",
        "Unknown user ID or wrong password.",
        401,
        op=Operation.LOGIN,
        category=Category.SESSION,
        explanation_ja="ユーザIDが登録されていないか、パスワードが正しくありません。",
        fix_ja="ユーザID（KJ… または C…）とパスワードを確かめて、もう一度ログインしてください。",
        fix_en="Check the user ID (KJ… or C…) and the password, and log in again.",
        real=False,
    ),
    _one(
        "LOGIN_THROTTLED",
        "ログインの試行回数が上限に達しました。しばらく時間をおいてから再度お試しください。",
        "Too many failed logins for this user ID from this certificate or address, or from this certificate or "
        "address at all; locked for a window that doubles with each further failure (hub clock, Retry-After).",
        429,
        op=Operation.LOGIN,
        category=Category.SESSION,
        explanation_ja="このユーザIDへのこの証明書・接続元からの（または接続元全体からの）ログインの失敗が上限に"
        "達しました。失敗が続くたびにロックの時間は倍になります（ハブ時刻、Retry-After）。",
        fix_ja="Retry-After（または詳細）の時刻まで待ってから、正しいパスワードでログインしてください。",
        fix_en="Wait until the time in Retry-After (or the detail), then log in with the right password.",
        real=False,
    ),
    _one(
        "PASSWORD_RULE",
        "新しいパスワードが条件を満たしていません。10文字以上で英大文字・英小文字・数字・記号のうち3種類以上を含め、"
        "ユーザIDやよく使われる語を含まない、現在のパスワードとは異なるものにしてください。",
        "A new password needs 10+ characters mixing three of upper case, lower case, digits and symbols, no user ID "
        "or common word, differs from the current one, typed twice.",
        422,
        op=Operation.LOGIN,
        category=Category.SESSION,
        explanation_ja=(
            "新しいパスワードは10文字以上で、英大文字・英小文字・数字・記号のうち3種類以上を含み、ユーザIDや"
            "よく使われる語を含まず、現在のものと異なり、2回同じものを入力する必要があります。"
        ),
        fix_ja="条件を満たすパスワードを、2回同じように入力してください。",
        fix_en="Type a password that meets the rules, twice alike.",
        real=False,
    ),
    _one(
        "CSRF_FAILED",
        "画面の有効期限が切れました。ページを再読み込みしてから、もう一度操作してください。",
        "A form was posted without the matching CSRF token (stale page, or a request from another site).",
        403,
        op=Operation.LOGIN,
        category=Category.SESSION,
        explanation_ja="フォームが、対応するCSRFトークンなしで送信されました（古い画面、または別のサイトからの送信）。",
        fix_ja="ページを再読み込みしてから、もう一度送信してください。",
        fix_en="Reload the page and submit the form again.",
        real=False,
    ),
    _one(
        "PASSWORD_EXPIRED",
        MSG_PASSWORD_EXPIRED,
        "The password is temporary or expired; change it on the usage website (R1.2).",
        403,
        op=Operation.LOGIN,
        category=Category.SESSION,
        explanation_ja="パスワードが仮パスワードか、有効期限が切れています（R1.2）。",
        fix_ja="利用状況Webサイト（/web/）でパスワードを変更してください。",
        fix_en="Change the password on the usage website (/web/).",
    ),
    _one(
        "SESSION_REQUIRED",
        "ログインしてください。",
        "No valid session: log in first (the session may have expired or been logged out).",
        401,
        op=Operation.LOGIN,
        category=Category.SESSION,
        explanation_ja="有効なセッションがありません（期限切れ、またはログアウト済み）。",
        fix_ja="ログインし直してください（careplan client login）。",
        fix_en="Log in again (careplan client login).",
        real=False,
    ),
    # --- licensing (R3) -------------------------------------------------------------------------
    _one(
        "SENDER_NOT_APPLIED",
        MSG_SENDER_NOT_APPLIED,
        "The sending office has not completed its 利用申請 (R3.6).",
        403,
        op=Operation.SEND,
        category=Category.LICENCE,
        explanation_ja="送信元事業所の利用申請が完了していません（R3.6）。",
        fix_ja="利用状況Webサイトの「利用申請/更新」で利用申請を行ってから送信してください。",
        fix_en="Apply on the usage website's 利用申請/更新 page, then send.",
    ),
    _one(
        "RECIPIENT_NOT_LICENSED",
        MSG_RECIPIENT_NOT_LICENSED,
        "The recipient office is unknown, has not applied, or has no valid licence (R3.7).",
        403,
        op=Operation.SEND,
        category=Category.LICENCE,
        explanation_ja="送信先事業所が未登録か、利用申請をしていないか、有効なライセンスを持っていません（R3.7）。",
        fix_ja="送信先の事業所番号を確かめ（事業所検索 /directory）、送信先に利用申請を依頼してください。",
        fix_en="Check the recipient's 事業所番号 (directory: /directory) and ask it to apply.",
    ),
    _one(
        "DATA_LOAD_FAILED",
        MSG_DATA_LOAD_FAILED,
        "The client could not load data: no 利用申請 (R3.6), or a zip file sent as is (R4.6): a zip archive, or a "
        "document in a zip container such as an Excel workbook (.xlsx).",
        400,
        op=Operation.LOAD,
        category=Category.FORMAT,
        explanation_ja=(
            "データを読み込めませんでした。利用申請が済んでいない（R3.6）か、zip 形式のファイル（zip 圧縮ファイル、"
            "または Excel ブック .xlsx などの文書）をそのまま送ろうとしています（R4.6）。"
        ),
        fix_ja=(
            "zip 形式のファイルは、時間をおいても再起動しても送れません。zip 圧縮ファイルは展開し、中のファイルを"
            "送信してください。標準仕様の CSV の名前で保存された Excel ブック（.xlsx）などの文書は、表計算ソフトで"
            "「CSV（コンマ区切り）」を選んで Shift_JIS (MS932) で保存し直すか、介護ソフトから CSV を出力し直して"
            "ください。利用申請がまだの場合は、先に利用申請を行ってください。"
        ),
        fix_en=(
            "A zip container cannot be sent however long you wait or restart: unpack a zip archive and send its "
            "files; save an Excel workbook (.xlsx) or another office document under a standard CSV name again as "
            "'CSV (Comma delimited)' in Shift_JIS (MS932), or export the CSV again from the care software. Without a "
            "利用申請, apply first."
        ),
    ),
    _one(
        "LICENCE_NOT_APPLIED",
        "利用申請が行われていません。利用状況Webサイトの「利用申請/更新」画面より利用申請を行ってください。",
        "The office has no licence to renew or cancel: it has not applied (R3.2).",
        409,
        op=Operation.ADMIN,
        category=Category.LICENCE,
        explanation_ja="利用申請をしていないため、更新・解約・支払いの対象となるライセンスがありません（R3.2）。",
        fix_ja="「利用申請/更新」画面で利用申請を行ってください。",
        fix_en="Apply on the 利用申請/更新 page first.",
        real=False,
    ),
    _one(
        "LICENCE_ALREADY_APPLIED",
        "利用申請は既に完了しております。ライセンスの有効期限は利用状況Webサイトの「ライセンス」タブでご確認ください。",
        "The office already holds a licence in force, or its next term is already applied for or renews "
        "automatically (R3.5).",
        409,
        op=Operation.ADMIN,
        category=Category.LICENCE,
        explanation_ja="有効なライセンスがあるか、次の期間が申請済み・自動更新の予定です（R3.5）。",
        fix_ja="手続きは不要です。有効期限は「ライセンス」タブで確認できます。",
        fix_en="Nothing to do: the licence tab shows the period.",
        real=False,
    ),
    _one(
        "LICENCE_NO_CANCELLATION",
        "ライセンス有効期間中の途中解約は受け付けておりません。",
        "A licence cannot be cancelled during its period (R3.3).",
        409,
        op=Operation.ADMIN,
        category=Category.LICENCE,
        explanation_ja="ライセンスの有効期間中は解約できません（R3.3）。",
        fix_ja="有効期間の終わりまでお待ちください。更新しなければ期間満了で終了します。",
        fix_en="Wait for the period to end; without renewal the licence ends then.",
        real=False,
    ),
    _one(
        "LICENCE_RENEWAL_NOT_OPEN",
        "更新の受付期間ではありません。更新はライセンス有効期限の2か月前から受け付けております。",
        "Renewal opens two months before the licence period ends.",
        409,
        op=Operation.ADMIN,
        category=Category.LICENCE,
        explanation_ja="更新の受付は、ライセンス期間が終わる2か月前からです。",
        fix_ja="有効期限の2か月前になってから更新してください。",
        fix_en="Renew within the two months before the licence ends.",
        real=False,
    ),
    _one(
        "LICENCE_PAYMENT_NOT_DUE",
        "お支払いが必要な請求書はありません。",
        "No invoice of this licence is open: it is paid by deduction, already paid, or not in force (R3.1).",
        409,
        op=Operation.ADMIN,
        category=Category.LICENCE,
        explanation_ja=(
            "支払いが必要な請求書がありません（控除による支払い、支払済み、またはライセンスが有効でない）（R3.1）。"
        ),
        fix_ja="手続きは不要です。支払いの状況は「ライセンス」タブで確認できます。",
        fix_en="Nothing to pay: the licence tab shows the payment.",
        real=False,
    ),
    # --- sending rules and the standard (R4) ----------------------------------------------------
    _one(
        "COMBINATION_INVALID",
        MSG_COMBINATION_INVALID,
        "The files do not form a sending unit of the standard (R4.4, 標準仕様 2.4/3.4).",
        422,
        op=Operation.SEND,
        category=Category.COMBINATION,
        explanation_ja="ファイルの組み合わせが、標準仕様の送信単位になっていません（R4.4、標準仕様 2.4/3.4）。",
        fix_ja=(
            "指摘事項を見て、1回の送信を1つの送信単位（同じデータ種類・同じ送信先）にしてください。careplan validate "
            "で送信前に確認できます。"
        ),
        fix_en=(
            "Make each transmission one sending unit (one data kind, one recipient) as the findings say; careplan "
            "validate checks this before sending."
        ),
    ),
    _one(
        "FORMAT_INVALID",
        MSG_FORMAT_INVALID,
        "A CSV file does not follow the standard's layout (R4.5); see the findings.",
        422,
        op=Operation.SEND,
        category=Category.FORMAT,
        explanation_ja="CSVファイルが標準仕様のレイアウトに従っていません（R4.5）。指摘事項を参照してください。",
        fix_ja="指摘事項のファイル・行・項目を直してから送信してください。careplan validate で送信前に確認できます。",
        fix_en=(
            "Correct the file, line and field the findings name and send again; careplan validate checks before "
            "sending."
        ),
    ),
    _one(
        "FILE_TYPE_NOT_ALLOWED",
        "送信できないファイル形式です。pdf、csv、jpeg、jpg、png、gif、txt のいずれかに変換してください。",
        "Only pdf, csv, jpeg, jpg, png, gif and txt may be sent (R4.2).",
        422,
        op=Operation.SEND,
        category=Category.FORMAT,
        explanation_ja="送信できるのは pdf・csv・jpeg・jpg・png・gif・txt だけです（R4.2）。",
        fix_ja="Word・Excel の文書はPDFに変換してから送信してください。",
        fix_en="Convert Word or Excel documents to PDF, then send.",
        real=False,
    ),
    _one(
        "TOO_MANY_FILES",
        "1回の送信で送信できるファイルは7ファイルまでです。",
        "At most 7 files per transmission (R4.3).",
        413,
        op=Operation.SEND,
        category=Category.COMBINATION,
        explanation_ja="1回の送信は7ファイルまでです（R4.3）。",
        fix_ja="7ファイル以下ずつに分けて送信するか、一括送信（bulk-send）を使ってください。",
        fix_en="Split the files into transmissions of at most 7, or use bulk-send.",
        real=False,
    ),
    _one(
        "TRANSMISSION_TOO_LARGE",
        "1回の送信で送信できるデータは10MBまでです。",
        "At most 10 MB per transmission (R4.3).",
        413,
        op=Operation.SEND,
        category=Category.COMBINATION,
        explanation_ja="1回の送信は10MBまでです（R4.3）。",
        fix_ja="ファイルを分けて、1回10MB以下にして送信してください。",
        fix_en="Split the files so that each transmission is at most 10 MB.",
        real=False,
    ),
    _one(
        "BULK_TOO_MANY_TRANSMISSIONS",
        "一括送信で送信できるのは50件までです。",
        "At most 50 transmissions per bulk send (R4.3).",
        413,
        op=Operation.SEND,
        category=Category.COMBINATION,
        explanation_ja="一括送信は1回50件までです（R4.3）。",
        fix_ja="50件以下ずつに分けて一括送信してください。",
        fix_en="Split into bulk sends of at most 50 transmissions.",
        real=False,
    ),
    _one(
        "SAME_OFFICE",
        "送信元と送信先の事業所番号が同じため、送信できません。",
        "Sender and recipient have the same 事業所番号 (R4.8).",
        422,
        op=Operation.SEND,
        category=Category.COMBINATION,
        explanation_ja="送信元と送信先の事業所番号が同じです（R4.8）。",
        fix_ja="送信先の事業所番号を確かめてください。",
        fix_en="Check the recipient's 事業所番号.",
        real=False,
    ),
    # --- receiving (R5) -------------------------------------------------------------------------
    _one(
        "ALREADY_DOWNLOADED",
        "このデータはダウンロード済みのため、再度ダウンロードできません。送信元事業所に再送を依頼してください。",
        "A transmission can be downloaded once; the hub deleted it after the receipt (R5.2).",
        410,
        op=Operation.RECEIVE,
        category=Category.RECEIVE,
        explanation_ja="データは1回だけダウンロードできます。受領の後、ハブはデータを削除しました（R5.2）。",
        fix_ja="送信元事業所に再送を依頼してください。",
        fix_en="Ask the sender to send it again.",
        real=False,
    ),
    _one(
        "TRANSMISSION_NOT_FOUND",
        "指定されたデータが見つかりません。",
        "No transmission with this id is addressed to (or was sent by) this office.",
        404,
        op=Operation.RECEIVE,
        category=Category.RECEIVE,
        explanation_ja="この事業所あて（またはこの事業所が送信した）この送信IDのデータはありません。",
        fix_ja="受信一覧（careplan client inbox）で送信IDを確かめてください。",
        fix_en="Check the transmission id in the inbox (careplan client inbox).",
        real=False,
    ),
    # --- issue 9 part B: malformed input, slow and flooding clients ------------------------------
    _one(
        "MULTIPART_MALFORMED",
        "送信データ（multipart/form-data）の形式が正しくありません。",
        "The multipart/form-data body cannot be parsed: no or wrong boundary, no closing boundary, a "
        "truncated body, part headers too long or not ended by CRLF, too many parts, or an invalid part name.",
        400,
        op=Operation.LOAD,
        real=False,
        explanation_ja="multipart/form-data の本文を解析できません（boundary の欠落・不一致、終端の欠落、"
        "途中で切れた本文、長すぎる・CRLF で終わらないパートヘッダ、多すぎるパート、不正なパート名など）。",
        fix_ja="RFC 7578 に従い、Content-Type の boundary と同じ境界で各パートを区切り、"
        "終端（--boundary--）まで送ってください。",
        fix_en="Send RFC 7578 multipart/form-data: the boundary of Content-Type between parts, and the closing "
        "--boundary-- at the end.",
    ),
    _one(
        "BODY_TOO_LARGE",
        "要求の本文が大きすぎます。",
        "The request body is larger than this route accepts (forms and JSON: max_form_bytes, 1 MiB by default).",
        413,
        op=Operation.LOAD,
        real=False,
        explanation_ja="要求の本文がこの宛先の上限（フォームと JSON は既定で 1 MiB）を超えています。",
        fix_ja="本文を小さくしてください。ファイルの送信は POST /api/v1/transmissions を使ってください。",
        fix_en="Send a smaller body; files go to POST /api/v1/transmissions.",
    ),
    _one(
        "REQUEST_TIMEOUT",
        "要求の受信が時間内に完了しませんでした。通信環境を確認のうえ、再度実行してください。",
        "The request's headers did not arrive within header_timeout, or its body arrived slower than "
        "body_min_rate; the hub closes such connections so that slow clients cannot hold it.",
        408,
        op=Operation.LOAD,
        real=False,
        explanation_ja="要求ヘッダが header_timeout 以内に届かなかったか、"
        "本文の受信速度が body_min_rate を下回りました。低速な接続がハブを占有しないよう、接続を切断しました。",
        fix_ja="要求を一度に送ってください。回線が遅い場合は、ファイルを分けて送信してください。",
        fix_en="Send the request in one go; on a slow line, split the files over several sends.",
    ),
    _one(
        "HUB_BUSY",
        "現在混み合っています。しばらく時間をおいてから再度実行してください。",
        "The hub holds its maximum number of connections (max_connections); retry after Retry-After seconds.",
        503,
        op=Operation.LOAD,
        real=False,
        explanation_ja="ハブの同時接続数が上限（max_connections）に達しています。",
        fix_ja="Retry-After ヘッダの秒数だけ待ってから、再度実行してください。",
        fix_en="Wait for the seconds of the Retry-After header, then try again.",
    ),
    _one(
        "RATE_LIMITED",
        "短時間に多くの要求があったため、一時的に受け付けを制限しています。しばらく時間をおいてから再度実行してください。",
        "Too many requests from this address to a route open without a certificate or session (web login, "
        "directory correction, certificate-less API calls) within a minute.",
        429,
        op=Operation.LOAD,
        real=False,
        explanation_ja="証明書やログインなしで使える画面・API（Web ログイン、掲載情報の修正依頼、"
        "証明書なしの API 要求）に、同じアドレスから 1 分間に多くの要求がありました。",
        fix_ja="Retry-After ヘッダの秒数だけ待ってから、再度実行してください。",
        fix_en="Wait for the seconds of the Retry-After header, then try again.",
    ),
    _one(
        "CORRECTION_LIMIT",
        "掲載情報の修正依頼の受付数が上限に達しました。翌日以降に再度ご依頼ください。",
        "Directory correction requests are capped per address per day and for all addresses per day (hub clock).",
        429,
        op=Operation.LOAD,
        real=False,
        explanation_ja="掲載情報の修正依頼は、アドレスごとと全体で 1 日あたりの受付数に上限があります"
        "（ハブの時計で判定）。",
        fix_ja="翌日以降に再度依頼してください。急ぎの場合はサポートにお問い合わせください。",
        fix_en="Ask again on a later day; if it is urgent, contact support.",
    ),
    # --- issue 9 part C: integrity (file names, signature encoding, hub clock) ------------------
    _one(
        "FILE_NAME_RESERVED",
        "Windowsで予約されている名前（CON、PRN、AUX、NUL、COM1～COM9、LPT1～LPT9）はファイル名に使用できません。"
        "ファイル名を変更してから再度送信してください。",
        "A file name is a Windows device name (CON, PRN, AUX, NUL, COM0-9, LPT0-9, CONIN$, CONOUT$), "
        "with any extension and in any case: a Windows receiver cannot save it.",
        422,
        op=Operation.SEND,
        real=False,
        explanation_ja="ファイル名（拡張子を除く部分）がWindowsのデバイス名です。大文字・小文字や拡張子に関係なく、"
        "Windowsの受信側では保存できません。",
        fix_ja="ファイル名を変更してください（例: CON.txt → CON_memo.txt）。",
        fix_en="Rename the file (e.g. CON.txt -> CON_memo.txt).",
    ),
    _one(
        "FILE_NAME_TRAILING_DOT",
        "ファイル名の末尾にピリオド（.）または空白は使用できません。ファイル名を変更してから再度送信してください。",
        "A file name ends in a dot or a space: Windows drops them, so the receiver would save another name.",
        422,
        op=Operation.SEND,
        real=False,
        explanation_ja="ファイル名がピリオドまたは空白で終わっています。Windowsは末尾のピリオドと空白を取り除くため、"
        "受信側では別の名前で保存されてしまいます。",
        fix_ja="末尾のピリオドと空白を取り除いたファイル名にしてください。",
        fix_en="Remove the trailing dots and spaces from the file name.",
    ),
    _one(
        "FILE_NAME_DUPLICATE",
        "大文字・小文字や文字の合成方法の違いを除くと同じになるファイル名が、1回の送信に含まれています。"
        "ファイル名を変更してから再度送信してください。",
        "Two file names of one transmission are equal after case folding and Unicode NFC (a.txt and A.txt, "
        "composed and decomposed kana): on Windows and macOS one would overwrite the other.",
        422,
        op=Operation.SEND,
        real=False,
        explanation_ja="1回の送信に、大文字・小文字の違い（a.txt と A.txt）や濁点の合成・分解の違いだけで"
        "同じ名前になるファイルが含まれています。Windows・macOSの受信側では一方が他方を上書きします。",
        fix_ja="どちらかのファイル名を変更するか、別々に送信してください。",
        fix_en="Rename one of the files, or send them separately.",
    ),
    ErrorSpec(
        code="SIGNATURE_NOT_DETACHED",
        messages=_FAILED_MESSAGES,
        default_operation=Operation.SEND,
        explanation="The CMS signature carries the manifest inside it (attached); the API takes detached "
        "SignedData only, so what is verified is exactly the manifest part sent beside it.",
        status=400,
        explanation_ja="署名（CMS SignedData）の中にマニフェストが含まれています（アタッチ署名）。"
        "APIはデタッチ署名のみを受け付けます。",
        fix_ja="マニフェストを含めないデタッチ署名で署名し直してください"
        "（openssl cms -sign -binary、PKCS7Options.DetachedSignature）。",
        fix_en="Sign again as a detached signature (openssl cms -sign -binary without -nodetach; "
        "PKCS7Options.DetachedSignature).",
    ),
    ErrorSpec(
        code="SIGNATURE_NOT_DER",
        messages=_FAILED_MESSAGES,
        default_operation=Operation.SEND,
        explanation="The CMS signature is not in DER (e.g. BER indefinite lengths or non-minimal length "
        "octets): one signature must have exactly one encoding.",
        status=400,
        explanation_ja="署名がDER形式ではありません（BERの不定長形式や冗長な長さ表現など）。"
        "署名の符号化は一通りでなければなりません。",
        fix_ja="署名をDER形式で出力してください（openssl cms -outform DER）。",
        fix_en="Output the signature in DER (openssl cms -outform DER).",
    ),
    _one(
        "CLOCK_BEFORE_RECORDED",
        "ハブの時刻が記録済みの出来事より前のため、この操作は行えません。",
        "The hub's clock stands before a recorded fact this operation builds on (a licence application or "
        "payment recorded on a later day): the clock was moved back. Nothing was changed.",
        409,
        op=Operation.ADMIN,
        real=False,
        explanation_ja="ハブの時計が戻されたため、この操作が前提とする記録（利用申請・支払いなど）が未来の日付に"
        "なっています。何も変更されていません。",
        fix_ja="ハブの時計を最新の記録以降の日時に進めてから（careplan hub clock set / advance）、"
        "もう一度操作してください。",
        fix_en="Move the hub's clock to or after the latest recorded event (careplan hub clock set / advance), "
        "then try again.",
    ),
    # --- control plane: steering and watching a running hub (issue 11; HUB_BUSY is issue 9B's) ----
    _one(
        "SNAPSHOT_NOT_FOUND",
        "指定されたスナップショットが見つかりません。",
        "No snapshot of this name is stored in the hub's data directory.",
        404,
        op=Operation.ADMIN,
        real=False,
        explanation_ja="この名前のスナップショットはハブのデータディレクトリにありません。",
        fix_ja="careplan hub snapshot list で保存済みの名前を確認してください。",
        fix_en="List the stored names with `careplan hub snapshot list`.",
    ),
    _one(
        "CORRECTION_NOT_FOUND",
        "指定された掲載情報の修正依頼が見つかりません。",
        "No directory correction request has this id.",
        404,
        op=Operation.ADMIN,
        real=False,
        explanation_ja="この番号の掲載情報修正依頼はありません。",
        fix_ja="careplan hub corrections で依頼の番号を確認してください。",
        fix_en="List the requests and their ids with `careplan hub corrections`.",
    ),
    # --- storage: the hub's database (issue 15, PostgreSQL backend) ------------------------------
    _one(
        "DATABASE_UNAVAILABLE",
        "現在サービスを利用できません。しばらく時間をおいてから再度実行してください。",
        "The hub cannot reach its database (PostgreSQL down, restarting, unreachable or refusing the "
        "connection); nothing was changed. The hub serves again as soon as the database is back.",
        503,
        op=Operation.LOAD,
        real=False,
        explanation_ja="ハブがデータベース（PostgreSQL）に接続できません（停止中・再起動中・到達不能・接続拒否）。"
        "何も変更されていません。データベースが復旧すると、ハブは再び応答します。",
        fix_ja="Retry-After ヘッダの秒数だけ待ってから再度実行してください。続く場合はハブの管理者に"
        "データベースの状態を確認するよう依頼してください。",
        fix_en="Wait for the seconds of the Retry-After header and try again; if it persists, ask the hub's "
        "operator to check the database.",
    ),
    # --- protocol and platform ------------------------------------------------------------------
    _one(
        "BAD_REQUEST",
        "要求の形式が正しくありません。",
        "The HTTP request is malformed (see detail).",
        400,
        op=Operation.LOAD,
        category=Category.REQUEST,
        explanation_ja="HTTP要求の形式が正しくありません（詳細を参照）。",
        fix_ja="詳細に書かれた点を直して、もう一度送ってください。APIの形式は /api で確認できます。",
        fix_en="Correct what the detail names and send again; the API description is at /api.",
        real=False,
    ),
    _one(
        "NOT_FOUND",
        "指定されたページが見つかりません。",
        "No such API route.",
        404,
        op=Operation.LOAD,
        category=Category.REQUEST,
        explanation_ja="そのようなページ・APIはありません。",
        fix_ja="URLを確かめてください。トップページ（/）から各ページへ移動できます。",
        fix_en="Check the URL; the landing page (/) links every page.",
        real=False,
    ),
    _one(
        "METHOD_NOT_ALLOWED",
        "この操作はこのURLでは利用できません。",
        "The route exists, but not for this HTTP method; the Allow header lists the methods it takes.",
        405,
        op=Operation.LOAD,
        category=Category.REQUEST,
        explanation_ja="このURLはこのHTTPメソッドを受け付けません。使えるメソッドは Allow ヘッダにあります。",
        fix_ja="Allow ヘッダにあるメソッドで送ってください（API説明 /api を参照）。",
        fix_en="Use one of the methods in the Allow header (see the API description at /api).",
        real=False,
    ),
    _one(
        "ADMIN_FORBIDDEN",
        "管理APIを利用する権限がありません。",
        "The admin API needs the admin token and a loopback peer.",
        403,
        op=Operation.ADMIN,
        category=Category.REQUEST,
        explanation_ja="管理APIには管理トークンと、同じマシン（ループバック）からの接続が必要です。",
        fix_ja=(
            "このマシンから、data_dir/admin-token のトークンを 'Authorization: Bearer <トークン>' で送ってください。"
        ),
        fix_en="Send 'Authorization: Bearer <token>' with the token in data_dir/admin-token, from this machine.",
        real=False,
    ),
    _one(
        "OFFICE_EXISTS",
        "この事業所番号は既に登録されています。",
        "An office with this 事業所番号 is already registered (R1.4: one per 事業所番号).",
        409,
        op=Operation.ADMIN,
        category=Category.REQUEST,
        explanation_ja="この事業所番号の事業所は既に登録されています（R1.4：事業所番号ごとに1つ）。",
        fix_ja="登録済みの事業所をそのまま使うか、別の事業所番号で登録してください。",
        fix_en="Use the registered office, or register another 事業所番号.",
        real=False,
    ),
    _one(
        "OFFICE_NOT_FOUND",
        "指定された事業所は登録されていません。",
        "No office with this 事業所番号 is registered on the hub.",
        404,
        op=Operation.ADMIN,
        category=Category.REQUEST,
        explanation_ja="この事業所番号の事業所はハブに登録されていません。",
        fix_ja="事業所番号を確かめてください。まだ登録されていない事業所は、先に POST /admin/v1/offices で"
        "登録してください。",
        fix_en="Check the 事業所番号; register an office that is not registered yet with POST /admin/v1/offices.",
        real=False,
    ),
    ErrorSpec(
        code="HUB_UNREACHABLE",
        # What the office was doing picks the real message: a send that cannot reach the platform
        # failed as a send (R2.3), a receive as a receive; loading a list (and logging in) is the
        # client's data load (R3.6, FAQ 操作-1).
        messages=_PLATFORM_MESSAGES,
        default_operation=Operation.LOAD,
        explanation="The client could not reach the hub (connection refused, TLS failure or timeout).",
        status=503,
        category=Category.PLATFORM,
        explanation_ja="ハブに接続できませんでした（接続の拒否、TLSの失敗、またはタイムアウト）。",
        fix_ja="ハブが起動しているか（careplan up）と、URLを確かめてください。",
        fix_en="Check that the hub runs (careplan up) and the URL.",
    ),
    ErrorSpec(
        code="INTERNAL",
        # The hub words it for the operation of the route it failed in (hub.operations: a submit
        # fails as a send, the inbox and downloads as a receive, anything else as a data load; no
        # login or admin wording, so those read as a data load); a client reports it under its own
        # operation, as for HUB_UNREACHABLE.
        messages=_PLATFORM_MESSAGES,
        default_operation=Operation.LOAD,
        explanation="An unexpected error in the hub; nothing was changed. The hub's log has the trace id.",
        status=500,
        category=Category.PLATFORM,
        explanation_ja="ハブの内部で想定外のエラーが起きました。何も変更されていません。ハブのログに追跡IDがあります。",
        fix_ja="もう一度実行してください。続く場合は、詳細の追跡IDを添えてハブの管理者に連絡してください。",
        fix_en="Try again; if it persists, give the trace id in the detail to the hub's operator.",
    ),
)

CATALOGUE: Mapping[str, ErrorSpec] = MappingProxyType({spec.code: spec for spec in _SPECS})


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One precise problem inside a refused request (a file, line, field and rule).

    The standard's validator produces these; other refusals may carry one to say exactly where.
    """

    rule: str
    message: str
    severity: str = "error"
    file: str | None = None
    line: int | None = None
    field_no: int | None = None
    field_name: str | None = None
    value: str | None = None
    expected: str | None = None
    section: str | None = None
    fix: str | None = None
    # English beside a Japanese message/fix (office-facing text is Japanese first).
    message_en: str | None = None
    fix_en: str | None = None
    # Japanese beside an `expected` worded in English ("6 digits"): what a Japanese report shows.
    # `expected` stays as it was for the tools that read it.
    expected_ja: str | None = None
    # The length in characters of the whole value when `value` holds only its beginning.
    value_length: int | None = None

    def to_dict(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.__slots__ if getattr(self, k) is not None}


class CareplanError(Exception):
    """A refusal from the catalogue. Raised by domain rules; turned into the wire format by the
    hub's middleware and back into the same class by the client, so callers catch a category
    (`except CertificateError`) or match on `.code`.

    `CareplanError(code, …)` builds the subclass of the code's category; a subclass called with a
    code of another category raises TypeError (an unknown code: KeyError). `detail` and `fix` are
    Japanese at raise sites, `detail_en`/`fix_en` their English; a missing fix falls back to the
    catalogue's, so no refusal leaves without one."""

    category: ClassVar[Category | None] = None

    def __new__(cls, *args: Any, **kwargs: Any) -> CareplanError:
        if cls is not CareplanError and cls not in ERROR_CLASSES.values():
            return super().__new__(cls)  # a subclass with its own constructor: __init__ checks the code
        code = str(args[0] if args else kwargs.get("code"))
        if code not in CATALOGUE:
            raise KeyError(f"unknown error code {code!r}")
        target = ERROR_CLASSES[CATALOGUE[code].category]
        if not issubclass(target, cls):
            raise TypeError(f"{code} is a {target.__name__}, not a {cls.__name__}")
        return super().__new__(target)

    def __init__(
        self,
        code: str,
        *,
        operation: Operation | None = None,
        detail: str = "",
        fix: str = "",
        findings: Sequence[Finding | Mapping[str, object]] = (),
        detail_en: str = "",
        fix_en: str = "",
    ) -> None:
        if code not in CATALOGUE:
            raise KeyError(f"unknown error code {code!r}")
        category = type(self).category
        if category is not None and CATALOGUE[code].category is not category:
            raise TypeError(f"{code} is not a {type(self).__name__}")
        self.code = code
        self.operation = operation or CATALOGUE[code].default_operation
        # False: the raise site did not say which operation failed, so where it is answered may
        # (`in_context`: the hub words it for the route it leaves from).
        self.operation_named = operation is not None
        self.detail = detail
        self.fix = fix
        # English versions of detail and fix where the raise site wrote them in Japanese.
        self.detail_en = detail_en
        self.fix_en = fix_en
        self.findings: tuple[Mapping[str, object], ...] = tuple(
            f.to_dict() if isinstance(f, Finding) else dict(f) for f in findings
        )
        super().__init__(f"{code}: {self.message}" + (f" ({detail})" if detail else ""))

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions pickle as cls(*args); ours are rebuilt from the code and keywords instead.
        return (_rebuild, (self.code, self._fields()))

    def _fields(self) -> dict[str, Any]:
        return {
            "operation": self.operation if self.operation_named else None,
            "detail": self.detail,
            "fix": self.fix,
            "findings": self.findings,
            "detail_en": self.detail_en,
            "fix_en": self.fix_en,
        }

    @property
    def spec(self) -> ErrorSpec:
        return CATALOGUE[self.code]

    @property
    def message(self) -> str:
        return self.spec.message(self.operation)

    @property
    def status(self) -> int:
        return self.spec.status

    @property
    def exit_status(self) -> int:
        return self.spec.exit_status

    def explanation_in(self, lang: Lang = Lang.JA) -> str:
        return self.spec.explanation_in(lang)

    def detail_in(self, lang: Lang = Lang.JA) -> str:
        """The detail in `lang`; a raise site without a translation gives what it has."""
        return (self.detail_en or self.detail) if lang == Lang.EN else self.detail

    def fix_in(self, lang: Lang = Lang.JA) -> str:
        """The raise site's fix in `lang`, else the catalogue's (never empty)."""
        if lang == Lang.EN:
            own = self.fix_en or (self.fix if not is_japanese(self.fix) else "")
        else:
            own = self.fix if is_japanese(self.fix) else ""
        return own or self.spec.fix_in(lang)

    def with_operation(self, operation: Operation) -> CareplanError:
        """The same refusal as seen by another operation (e.g. a certificate check at receive)."""
        return CareplanError(self.code, **(self._fields() | {"operation": operation}))

    def in_context(self, operation: Operation) -> CareplanError:
        """The refusal as read where `operation` was under way (R2.3, rule 3): worded for it when
        the raise site named no operation and the catalogue words this code for `operation`
        (INTERNAL inside a send reads 送信に失敗しました。…); otherwise this refusal unchanged."""
        if self.operation_named or operation is self.operation or operation not in self.spec.messages:
            return self
        return self.with_operation(operation)

    def to_wire(self, lang: Lang | str = Lang.JA) -> dict[str, object]:
        lang = Lang(lang)
        return {
            "code": self.code,
            "message": self.message,
            "operation": str(self.operation),
            "explanation": self.explanation_in(lang),
            "detail": self.detail_in(lang),
            "fix": self.fix_in(lang),
            "findings": [dict(f) for f in self.findings],
            "lang": str(lang),
        }

    @classmethod
    def from_wire(cls, body: Mapping[str, object]) -> CareplanError:
        """Rebuild a refusal sent by a hub; an unknown code becomes INTERNAL with the original."""
        code = str(body.get("code", "INTERNAL"))
        op_text = str(body.get("operation") or "")
        operation = Operation(op_text) if op_text in Operation._value2member_map_ else None
        detail = str(body.get("detail") or "")
        if code not in CATALOGUE:
            detail = f"unknown code {code} from the hub: {body.get('message')} {detail}".strip()
            code = "INTERNAL"
        raw = body.get("findings")
        findings = [f for f in raw if isinstance(f, Mapping)] if isinstance(raw, list) else []
        fix = str(body.get("fix") or "")
        english = body.get("lang") == Lang.EN
        return CareplanError(
            code,
            operation=operation,
            detail=detail,
            fix=fix,
            findings=findings,
            detail_en=detail if english else "",
            fix_en=fix if english else "",
        )


def _rebuild(code: str, fields: dict[str, Any]) -> CareplanError:
    return CareplanError(code, **fields)


class CertificateError(CareplanError):
    """The office's electronic certificate or signer is not the right one (R2)."""

    category = Category.CERTIFICATE


class SignatureError(CareplanError):
    """The signed manifest does not hold: signature, files, replay or signing time (R2.4)."""

    category = Category.SIGNATURE


class SessionError(CareplanError):
    """User ID, password or session (R1.2, R1.3)."""

    category = Category.SESSION


class LicenceError(CareplanError):
    """利用申請 and licences of sender and recipient (R3)."""

    category = Category.LICENCE


class FormatError(CareplanError):
    """What a file is: the standard's layout, an allowed type, not a zip (R4.2, R4.5, R4.6)."""

    category = Category.FORMAT


class CombinationError(CareplanError):
    """Sending units and limits: files per transmission, size, bulk count, recipient (R4.3, R4.4, R4.8)."""

    category = Category.COMBINATION


class ReceiveError(CareplanError):
    """Receiving: already downloaded or not there (R5)."""

    category = Category.RECEIVE


class RequestError(CareplanError):
    """The HTTP request itself: malformed, unknown route or method, admin rights, duplicates."""

    category = Category.REQUEST


class PlatformError(CareplanError):
    """The hub cannot answer: unreachable, or an unexpected error inside it."""

    category = Category.PLATFORM


ERROR_CLASSES: Mapping[Category, type[CareplanError]] = MappingProxyType(
    {cls.category: cls for cls in CareplanError.__subclasses__() if cls.category is not None}
)


__all__ = [
    "CATALOGUE",
    "ERROR_CLASSES",
    "MSG_APPLICATION_DONE",
    "CareplanError",
    "Category",
    "CertificateError",
    "CombinationError",
    "ErrorSpec",
    "Finding",
    "FormatError",
    "Lang",
    "LicenceError",
    "Operation",
    "PlatformError",
    "ReceiveError",
    "RequestError",
    "SessionError",
    "SignatureError",
    "is_japanese",
    "parse_lang",
]
