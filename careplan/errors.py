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

Exception tree (one class; the code carries the meaning):

    CareplanError(code, operation=None, detail="", fix="", findings=())
        .spec      -> ErrorSpec (message per operation, English explanation, HTTP status)
        .message   -> the exact Japanese message for this operation
        .to_wire() -> {"code", "message", "operation", "explanation", "detail", "fix", "findings"}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class Operation(StrEnum):
    """What the office was doing when it was refused; picks the message (R2.3)."""

    LOGIN = "login"
    SEND = "send"
    RECEIVE = "receive"
    LOAD = "load"
    ADMIN = "admin"


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


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorSpec:
    """One catalogue entry: what the office reads, what it means, how HTTP carries it."""

    code: str
    messages: Mapping[Operation, str]
    default_operation: Operation
    explanation: str
    status: int
    real: bool = True  # the Japanese text is the real system's (False: ours, the real one is silent)
    # Office-facing texts in Japanese first, English on request (being filled in for every entry).
    explanation_ja: str = ""
    fix_ja: str = ""
    fix_en: str = ""

    def __post_init__(self) -> None:
        if self.default_operation not in self.messages:
            raise ValueError(f"{self.code}: no message for {self.default_operation}")

    def message(self, operation: Operation | None = None) -> str:
        return self.messages.get(operation or self.default_operation) or self.messages[self.default_operation]


def _cert(code: str, explanation: str, status: int = 403) -> ErrorSpec:
    return ErrorSpec(
        code=code,
        messages=_CERT_MESSAGES,
        default_operation=Operation.SEND,
        explanation=explanation,
        status=status,
    )


def _failed(code: str, explanation: str, status: int = 400) -> ErrorSpec:
    return ErrorSpec(
        code=code,
        messages=_FAILED_MESSAGES,
        default_operation=Operation.SEND,
        explanation=explanation,
        status=status,
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
    )


_SPECS: tuple[ErrorSpec, ...] = (
    # --- certificates and identity (R2) ---------------------------------------------------------
    _cert("CERT_MISSING", "No client certificate was presented in the TLS handshake.", 401),
    _cert("CERT_UNTRUSTED", "The certificate was not issued by a CA the hub trusts."),
    _cert(
        "CERT_KIND_NOT_ACCEPTED",
        "Only 介護保険証明書 and 請求委任事業所用ケアプラン証明書 are accepted (R2.1); "
        "代理人証明書 and 障害総合支援証明書 are not.",
    ),
    _cert("CERT_REVOKED", "The certificate is on the CA's revocation list."),
    _cert("CERT_EXPIRED", "The certificate's validity ended before the hub's current time."),
    _cert("CERT_NOT_YET_VALID", "The certificate's validity starts after the hub's current time."),
    _cert("CERT_MALFORMED", "The certificate lacks the office identity (事業所番号, KJ user ID)."),
    _cert("CERT_NO_CLIENT_AUTH", "The certificate lacks the TLS client-authentication usage (clientAuth EKU)."),
    _cert(
        "CERT_OFFICE_MISMATCH",
        "The certificate belongs to another office than the user ID or the session.",
    ),
    _cert(
        "SIGNER_MISMATCH",
        "The transmission was signed by another office or certificate than the one connected.",
    ),
    _failed("SIGNATURE_INVALID", "The CMS signature over the manifest does not verify."),
    _failed("MANIFEST_INVALID", "The transmission manifest is missing or malformed."),
    _failed("FILE_TAMPERED", "A file's name, size or SHA-256 differs from the signed manifest."),
    _failed("REPLAY", "This transmission id or signed manifest was already submitted.", 409),
    _failed(
        "SIGNING_TIME_INVALID",
        "The manifest's signing time is outside the tolerance around the hub's clock (stale or post-dated).",
    ),
    # --- sessions and accounts (R1) -------------------------------------------------------------
    _one(
        "LOGIN_FAILED",
        "ユーザIDまたはパスワードが正しくありません。",
        "Unknown user ID or wrong password.",
        401,
        op=Operation.LOGIN,
        real=False,
    ),
    _one(
        "LOGIN_THROTTLED",
        "ログインの試行回数が上限に達しました。しばらく時間をおいてから再度お試しください。",
        "Too many failed logins for this user ID from this certificate or address, or from this certificate or "
        "address at all; locked for a window that doubles with each further failure (hub clock, Retry-After).",
        429,
        op=Operation.LOGIN,
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
        real=False,
    ),
    _one(
        "CSRF_FAILED",
        "画面の有効期限が切れました。ページを再読み込みしてから、もう一度操作してください。",
        "A form was posted without the matching CSRF token (stale page, or a request from another site).",
        403,
        op=Operation.LOGIN,
        real=False,
    ),
    _one(
        "PASSWORD_EXPIRED",
        MSG_PASSWORD_EXPIRED,
        "The password is temporary or expired; change it on the usage website (R1.2).",
        403,
        op=Operation.LOGIN,
    ),
    _one(
        "SESSION_REQUIRED",
        "ログインしてください。",
        "No valid session: log in first (the session may have expired or been logged out).",
        401,
        op=Operation.LOGIN,
        real=False,
    ),
    # --- licensing (R3) -------------------------------------------------------------------------
    _one(
        "SENDER_NOT_APPLIED",
        MSG_SENDER_NOT_APPLIED,
        "The sending office has not completed its 利用申請 (R3.6).",
        403,
        op=Operation.SEND,
    ),
    _one(
        "RECIPIENT_NOT_LICENSED",
        MSG_RECIPIENT_NOT_LICENSED,
        "The recipient office is unknown, has not applied, or has no valid licence (R3.7).",
        403,
        op=Operation.SEND,
    ),
    _one(
        "DATA_LOAD_FAILED",
        MSG_DATA_LOAD_FAILED,
        "The client could not load data: no 利用申請 (R3.6) or a zip archive sent as is (R4.6).",
        400,
        op=Operation.LOAD,
    ),
    _one(
        "LICENCE_NOT_APPLIED",
        "利用申請が行われていません。利用状況Webサイトの「利用申請/更新」画面より利用申請を行ってください。",
        "The office has no licence to renew or cancel: it has not applied (R3.2).",
        409,
        op=Operation.ADMIN,
        real=False,
    ),
    _one(
        "LICENCE_ALREADY_APPLIED",
        "利用申請は既に完了しております。ライセンスの有効期限は利用状況Webサイトの「ライセンス」タブでご確認ください。",
        "The office already holds a licence in force, or its next term is already applied for or renews "
        "automatically (R3.5).",
        409,
        op=Operation.ADMIN,
        real=False,
    ),
    _one(
        "LICENCE_NO_CANCELLATION",
        "ライセンス有効期間中の途中解約は受け付けておりません。",
        "A licence cannot be cancelled during its period (R3.3).",
        409,
        op=Operation.ADMIN,
        real=False,
    ),
    _one(
        "LICENCE_RENEWAL_NOT_OPEN",
        "更新の受付期間ではありません。更新はライセンス有効期限の2か月前から受け付けております。",
        "Renewal opens two months before the licence period ends.",
        409,
        op=Operation.ADMIN,
        real=False,
    ),
    _one(
        "LICENCE_PAYMENT_NOT_DUE",
        "お支払いが必要な請求書はありません。",
        "No invoice of this licence is open: it is paid by deduction, already paid, or not in force (R3.1).",
        409,
        op=Operation.ADMIN,
        real=False,
    ),
    # --- sending rules and the standard (R4) ----------------------------------------------------
    _one(
        "COMBINATION_INVALID",
        MSG_COMBINATION_INVALID,
        "The files do not form a sending unit of the standard (R4.4, 標準仕様 2.4/3.4).",
        422,
        op=Operation.SEND,
    ),
    _one(
        "FORMAT_INVALID",
        MSG_FORMAT_INVALID,
        "A CSV file does not follow the standard's layout (R4.5); see the findings.",
        422,
        op=Operation.SEND,
    ),
    _one(
        "FILE_TYPE_NOT_ALLOWED",
        "送信できないファイル形式です。pdf、csv、jpeg、jpg、png、gif、txt のいずれかに変換してください。",
        "Only pdf, csv, jpeg, jpg, png, gif and txt may be sent (R4.2).",
        422,
        op=Operation.SEND,
        real=False,
    ),
    _one(
        "TOO_MANY_FILES",
        "1回の送信で送信できるファイルは7ファイルまでです。",
        "At most 7 files per transmission (R4.3).",
        413,
        op=Operation.SEND,
        real=False,
    ),
    _one(
        "TRANSMISSION_TOO_LARGE",
        "1回の送信で送信できるデータは10MBまでです。",
        "At most 10 MB per transmission (R4.3).",
        413,
        op=Operation.SEND,
        real=False,
    ),
    _one(
        "BULK_TOO_MANY_TRANSMISSIONS",
        "一括送信で送信できるのは50件までです。",
        "At most 50 transmissions per bulk send (R4.3).",
        413,
        op=Operation.SEND,
        real=False,
    ),
    _one(
        "SAME_OFFICE",
        "送信元と送信先の事業所番号が同じため、送信できません。",
        "Sender and recipient have the same 事業所番号 (R4.8).",
        422,
        op=Operation.SEND,
        real=False,
    ),
    # --- receiving (R5) -------------------------------------------------------------------------
    _one(
        "ALREADY_DOWNLOADED",
        "このデータはダウンロード済みのため、再度ダウンロードできません。送信元事業所に再送を依頼してください。",
        "A transmission can be downloaded once; the hub deleted it after the receipt (R5.2).",
        410,
        op=Operation.RECEIVE,
        real=False,
    ),
    _one(
        "TRANSMISSION_NOT_FOUND",
        "指定されたデータが見つかりません。",
        "No transmission with this id is addressed to (or was sent by) this office.",
        404,
        op=Operation.RECEIVE,
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
    # --- protocol and platform ------------------------------------------------------------------
    _one(
        "BAD_REQUEST",
        "要求の形式が正しくありません。",
        "The HTTP request is malformed (see detail).",
        400,
        op=Operation.LOAD,
        real=False,
    ),
    _one(
        "NOT_FOUND",
        "指定されたページが見つかりません。",
        "No such API route.",
        404,
        op=Operation.LOAD,
        real=False,
    ),
    _one(
        "ADMIN_FORBIDDEN",
        "管理APIを利用する権限がありません。",
        "The admin API needs the admin token and a loopback peer.",
        403,
        op=Operation.ADMIN,
        real=False,
    ),
    _one(
        "OFFICE_EXISTS",
        "この事業所番号は既に登録されています。",
        "An office with this 事業所番号 is already registered (R1.4: one per 事業所番号).",
        409,
        op=Operation.ADMIN,
        real=False,
    ),
    _one(
        "HUB_UNREACHABLE",
        MSG_DATA_LOAD_FAILED,
        "The client could not reach the hub (connection refused, TLS failure or timeout).",
        503,
        op=Operation.LOAD,
    ),
    _one(
        "INTERNAL",
        MSG_DATA_LOAD_FAILED,
        "An unexpected error in the hub; nothing was changed. The hub's log has the trace id.",
        500,
        op=Operation.LOAD,
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

    def to_dict(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.__slots__ if getattr(self, k) is not None}


class CareplanError(Exception):
    """A refusal from the catalogue. Raised by domain rules; turned into the wire format by the
    hub's middleware and back into this class by the client, so callers match on `.code`."""

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
        self.code = code
        self.operation = operation or CATALOGUE[code].default_operation
        self.detail = detail
        self.fix = fix
        # English versions of detail and fix where the raise site wrote them in Japanese.
        self.detail_en = detail_en
        self.fix_en = fix_en
        self.findings: tuple[Mapping[str, object], ...] = tuple(
            f.to_dict() if isinstance(f, Finding) else dict(f) for f in findings
        )
        super().__init__(f"{code}: {self.message}" + (f" ({detail})" if detail else ""))

    @property
    def spec(self) -> ErrorSpec:
        return CATALOGUE[self.code]

    @property
    def message(self) -> str:
        return self.spec.message(self.operation)

    @property
    def status(self) -> int:
        return self.spec.status

    def with_operation(self, operation: Operation) -> CareplanError:
        """The same refusal as seen by another operation (e.g. a certificate check at receive)."""
        return CareplanError(
            self.code,
            operation=operation,
            detail=self.detail,
            fix=self.fix,
            findings=self.findings,
            detail_en=self.detail_en,
            fix_en=self.fix_en,
        )

    def to_wire(self) -> dict[str, object]:
        return {
            "code": self.code,
            "message": self.message,
            "operation": str(self.operation),
            "explanation": self.spec.explanation,
            "detail": self.detail,
            "fix": self.fix,
            "findings": [dict(f) for f in self.findings],
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
        return cls(
            code,
            operation=operation,
            detail=detail,
            fix=str(body.get("fix") or ""),
            findings=findings,
        )


__all__ = [
    "CATALOGUE",
    "MSG_APPLICATION_DONE",
    "CareplanError",
    "ErrorSpec",
    "Finding",
    "Operation",
]
