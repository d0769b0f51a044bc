"""The office side of the exchange: an async client for the hub, as the 連携クライアントアプリ does it.

Rules this module keeps:
1. The terminal's certificate (PKCS#12) is both the TLS client certificate and the signing key.
2. Before uploading, files are checked with the same rules and codes the hub applies
   (`careplan.standard`), so an office learns about a broken file before sending it. Warnings (a
   BOM, a blank line, a check digit) do not stop the send: they go to the caller's `warned`
   before the upload, as `careplan validate` would show them.
3. Every hub refusal comes back as the CareplanError the hub raised (its code, message, detail);
   a connection failure becomes HUB_UNREACHABLE, or CERT_UNTRUSTED when the hub's trust anchors
   show that the terminal's certificate is not one it accepts (a handshake cannot say so itself).
4. A download is verified (signature, signer, every file's SHA-256) and written completely before
   it is acknowledged; the source files of a send are never touched (R4.7). A refusal in any step
   of a download is the receive's (R2.3: `receiving`), as the office reads it.
5. A send whose answer was lost (connection reset or timeout, a 5xx answer) is retried with the
   SAME transmission id, signature and files (the hub answers an identical resubmission with the
   stored record and `already_stored`), a bounded number of times with exponential backoff and full
   jitter, honouring Retry-After: a retry never makes a second transmission.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import itertools
import json
import os
import random
import shutil
import ssl
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from careplan import standard
from careplan.certificates import KeyPair, OfficeIdentity, identity_of, judge_certificate, load_p12
from careplan.errors import CareplanError, Finding, Lang, Operation
from careplan.manifest import Manifest
from careplan.signature import sign, verify
from client.retry import DEFAULT_RETRY, HubTrouble, RetryPolicy, answer_lost, retry_after_seconds

Progress = Callable[[int], None]
Warned = Callable[[str, Sequence[Finding]], None]  # (recipient, the pre-check's warnings), before the upload
CHUNK = 64 * 1024
FETCH_ATTEMPTS = 3  # a cut download is repeated this often in all
T = TypeVar("T")


def _no_progress(_: int) -> None:
    return None


def _no_warnings(_recipient: str, _warnings: Sequence[Finding]) -> None:
    return None


# The platform failed (out of reach, or a failure inside it): the office reads the real message of
# what it was doing (a send: 送信に失敗しました…, a receive: 受信に失敗しました…, a list: the data load).
PLATFORM_FAILURES = frozenset({"HUB_UNREACHABLE", "INTERNAL"})


def receiving(error: CareplanError) -> CareplanError:
    """`error` as a refusal of the receive it happened in (R2.3): every step of a download (the
    inbox's listing, the signed answer, each file, the checks of the manifest and the files, the
    receipt) reads as 受信…, whatever operation the hub's answer named (a fault answers with the
    code's default) or a check shared with the send side raised with (FILE_TAMPERED, a send's by
    default). The code keeps its own message; a code with one for the receive gives that one."""
    return error if error.operation is Operation.RECEIVE else error.with_operation(Operation.RECEIVE)


def hub_unreachable(url: str, exc: BaseException, operation: Operation) -> CareplanError:
    """HUB_UNREACHABLE for a connection to `url` that failed with `exc`: the reason as aiohttp words
    it (`Cannot connect to host …`), not the exception's repr; a timeout has no words of its own."""
    reason = str(exc) or type(exc).__name__
    return CareplanError(
        "HUB_UNREACHABLE",
        operation=operation,
        detail=f"{url} に接続できません（{reason}）",
        fix="ハブが起動しているか（careplan up）と、URLを確かめてください。",
        detail_en=f"cannot connect to {url} ({reason})",
        fix_en="Check that the hub runs (careplan up) and the URL.",
    )


def client_ssl_context(ca_file: Path, keypair: KeyPair | None) -> ssl.SSLContext:
    """Trust the hub's CA; present the terminal's certificate (through a private temp file,
    since `ssl` cannot load a key from memory). ValueError, naming the file and what to give, for a
    `ca_file` that holds no CA certificate in PEM (OpenSSL's own words name neither)."""
    try:
        context = ssl.create_default_context(cafile=str(ca_file))
    except ssl.SSLError as exc:
        raise ValueError(
            f"{ca_file} にハブの CA 証明書（PEM）がありません。careplan up が作る .careplan-sim/ca/ca.pem"
            f"（またはハブの /ca.pem）を --ca に指定してください"
            f" / {ca_file} holds no CA certificate (PEM): give the hub's .careplan-sim/ca/ca.pem"
            f" (or its /ca.pem) as --ca" + (f" ({exc.reason})" if exc.reason else "")
        ) from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if keypair is None:
        return context
    with tempfile.TemporaryDirectory(prefix="careplan-tls-") as tmp:
        path = Path(tmp) / "terminal.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(
                keypair.key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            )
            handle.write(keypair.certificate.public_bytes(serialization.Encoding.PEM))
        context.load_cert_chain(path)
    return context


PAGE_MAX = 500  # the largest page the hub serves (GET /api/v1/sent, /api/v1/inbox: ?limit=1…500)


@dataclass(frozen=True, slots=True, kw_only=True)
class Page:
    """One page of a list; `next_cursor` asks for the next one (None on the last page)."""

    transmissions: list[dict[str, Any]]
    next_cursor: str | None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.transmissions)


@dataclass(frozen=True, slots=True, kw_only=True)
class Downloaded:
    transmission_id: str
    directory: Path
    files: tuple[Path, ...]
    manifest: Manifest
    signer: OfficeIdentity
    receipt: dict[str, Any] = field(default_factory=dict)


_FATAL_FOR_BULK = frozenset(
    {
        "HUB_UNREACHABLE",
        "SESSION_REQUIRED",
        "CERT_MISSING",
        "CERT_UNTRUSTED",
        "CERT_REVOKED",
        "CERT_EXPIRED",
        "CERT_NOT_YET_VALID",
        "CERT_KIND_NOT_ACCEPTED",
        "CERT_OFFICE_MISMATCH",
        "SENDER_NOT_APPLIED",
    }
)


@dataclass(slots=True, kw_only=True)
class BulkResult:
    sent: list[dict[str, Any]] = field(default_factory=list)
    failed: list[tuple[str, list[str], CareplanError]] = field(default_factory=list)
    unplaced: list[tuple[str, dict[str, object]]] = field(default_factory=list)
    warnings: list[tuple[str, list[Finding]]] = field(default_factory=list)  # (recipient, warnings): they went

    @property
    def ok(self) -> bool:
        return not self.failed and not self.unplaced

    def to_json(self) -> dict[str, object]:
        return {
            "sent": self.sent,
            "failed": [{"recipient": r, "files": names, "error": e.to_wire()} for r, names, e in self.failed],
            "unplaced": [{"file": name, "finding": finding} for name, finding in self.unplaced],
            "warnings": [{"recipient": r, "findings": [f.to_dict() for f in found]} for r, found in self.warnings],
        }


class HubClient:
    """`async with HubClient(url=…, ca_file=…, keypair=…) as hub: await hub.login(…)`."""

    def __init__(
        self,
        *,
        url: str,
        ca_file: Path,
        keypair: KeyPair,
        token: str | None = None,
        timeout: float = 120.0,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        self.url = url.rstrip("/")
        self.ca_file = ca_file
        self.keypair = keypair
        self.identity = identity_of(keypair.certificate, operation=Operation.LOGIN)
        self.token = token
        self.lang = "ja"  # Accept-Language: the hub's explanations, details and fixes in this language
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._clock_offset: dt.timedelta | None = None
        self._credentials: tuple[str, str] | None = None  # kept in memory only, to log in again
        self.retry = retry
        self._rng = random.Random()
        self.retries = 0  # how many sends were retried by this client (figures, tests)
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep  # tests record the backoff instead

    @classmethod
    def from_p12(
        cls,
        *,
        url: str,
        ca_file: Path,
        p12: Path,
        password: str,
        token: str | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> HubClient:
        return cls(url=url, ca_file=ca_file, keypair=load_p12(p12.read_bytes(), password), token=token, retry=retry)

    async def __aenter__(self) -> HubClient:
        connector = aiohttp.TCPConnector(ssl=client_ssl_context(self.ca_file, self.keypair))
        self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()

    # --- transport ----------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _call(
        self, method: str, path: str, operation: Operation, **kwargs: Any
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        if self._session is None:
            raise RuntimeError("use HubClient inside 'async with'")
        headers = kwargs.pop("headers", {})
        headers.setdefault("Accept-Language", self.lang)
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            async with self._session.request(method, self.url + path, headers=headers, **kwargs) as response:
                if response.status >= 500:
                    retry_after = retry_after_seconds(response.headers.get("Retry-After"), dt.datetime.now(dt.UTC))
                    raise HubTrouble(await self._refusal(response, operation), retry_after)
                if response.status >= 400:
                    raise await self._refusal(response, operation)
                yield response
        except aiohttp.ClientConnectorCertificateError as exc:
            raise CareplanError(
                "HUB_UNREACHABLE",
                operation=operation,
                detail=f"ハブのTLS証明書を {self.ca_file} では確認できません: {exc.certificate_error}",
                fix="ハブの認証局ファイル（data/ca/ca.pem）を --ca に指定してください。",
                detail_en=f"the hub's TLS certificate is not trusted by {self.ca_file}: {exc.certificate_error}",
                fix_en="Use the hub's CA file (data/ca/ca.pem) with --ca.",
            ) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise await self._diagnose(exc, operation) from None

    async def _json(self, method: str, path: str, operation: Operation, **kwargs: Any) -> Any:
        """One call; `data` may be a factory (a streamed body can be sent only once). A session that
        ended early (SESSION_REQUIRED) is opened again with the same user, then the call repeated."""
        factory = kwargs.pop("data", None)
        for attempt in (1, 2):
            if factory is not None:
                kwargs["data"] = factory() if callable(factory) else factory
            try:
                async with self._call(method, path, operation, **kwargs) as response:
                    return await response.json()
            except CareplanError as error:
                if attempt == 2 or not await self._login_again(error, path):
                    raise
        raise AssertionError("unreachable")

    async def _login_again(self, error: CareplanError, path: str) -> bool:
        if error.code != "SESSION_REQUIRED" or self._credentials is None or path == "/api/v1/session":
            return False
        await self.login(*self._credentials)
        return True

    @staticmethod
    async def _refusal(response: aiohttp.ClientResponse, operation: Operation) -> CareplanError:
        try:
            body = await response.json(content_type=None)
        except (json.JSONDecodeError, UnicodeDecodeError, aiohttp.ClientError):
            body = None
        if isinstance(body, dict) and "code" in body:
            error = CareplanError.from_wire(body)
            # the hub answers a failure inside it as a data load; the client knows what it was doing
            return error.with_operation(operation) if error.code in PLATFORM_FAILURES else error
        return CareplanError(
            "INTERNAL",
            operation=operation,
            detail=f"HTTP {response.status} で、拒否の内容がありません",
            detail_en=f"HTTP {response.status} without a refusal body",
        )

    async def _diagnose(self, exc: BaseException, operation: Operation) -> CareplanError:
        """A connection dropped in or right after the TLS handshake usually means OpenSSL refused our
        certificate (unknown CA, expired or not yet valid in real time, no clientAuth usage), which
        the handshake cannot say. Ask the hub, without a certificate, which CAs it trusts and judge
        the certificate by the same rules, so the office reads the precise reason."""
        unreachable = hub_unreachable(self.url, exc, operation)
        try:
            connector = aiohttp.TCPConnector(ssl=client_ssl_context(self.ca_file, None))
            async with (
                aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10)) as plain,
                plain.get(self.url + "/api/v1/trust") as response,
            ):
                anchors = x509.load_pem_x509_certificates((await response.json())["office_ca_pem"].encode())
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError):
            return unreachable
        try:
            judge_certificate(
                self.keypair.certificate, trusted=anchors, revoked=(), now=dt.datetime.now(dt.UTC), operation=operation
            )
        except CareplanError as error:
            return CareplanError(
                error.code,
                operation=operation,
                detail=f"{error.detail}（ハブがTLS接続を拒否しました）",
                fix=error.fix,
                detail_en=f"{error.detail_in(Lang.EN)}; the hub refused the TLS handshake",
                fix_en=error.fix_in(Lang.EN),
            )
        return unreachable

    # --- sessions -----------------------------------------------------------------------------
    async def login(self, user_id: str, password: str) -> dict[str, Any]:
        result = await self._json(
            "POST", "/api/v1/session", Operation.LOGIN, json={"user_id": user_id, "password": password}
        )
        self.token = result["token"]
        self._credentials = (user_id, password)
        return dict(result)

    async def whoami(self) -> dict[str, Any]:
        return dict(await self._json("GET", "/api/v1/session", Operation.LOGIN))

    async def logout(self) -> None:
        await self._json("DELETE", "/api/v1/session", Operation.LOGIN)
        self.token = None
        self._credentials = None

    # --- sending ------------------------------------------------------------------------------
    def prepare(
        self,
        files: Sequence[tuple[str, bytes]],
        *,
        to: str,
        transmission_id: str | None = None,
        signed_at: dt.datetime | None = None,
        warned: Warned = _no_warnings,
    ) -> tuple[bytes, bytes]:
        """Check the files like the hub will, in its order (the manifest's file names, then the
        standard), then sign the manifest. Raises the refusal the hub would give; warnings go to
        `warned` (the send goes on)."""
        manifest = Manifest.build(
            transmission_id=transmission_id or uuid.uuid4().hex,
            sender=self.identity.office_number,
            recipient=to,
            signed_at=signed_at or dt.datetime.now(dt.UTC),
            files=files,
        )
        findings = standard.check_transmission(files, sender=self.identity.office_number, recipient=to)
        error = standard.refusal(findings)
        if error is not None:
            raise error
        warnings = [f for f in findings if f.severity != "error"]
        if warnings:
            warned(to, warnings)
        manifest_bytes = manifest.to_bytes()
        return manifest_bytes, sign(manifest_bytes, self.keypair.certificate, self.keypair.key)

    async def hub_time(self) -> dt.datetime:
        """The hub's clock, which the terminal signs with (the simulation's clock is the world's: a
        terminal keeps its clock right, here by asking the hub once per client)."""
        if self._clock_offset is None:
            health = await self._json("GET", "/healthz", Operation.SEND)
            self._clock_offset = dt.datetime.fromisoformat(health["hub_time"]) - dt.datetime.now(dt.UTC)
        return dt.datetime.now(dt.UTC) + self._clock_offset

    async def send(
        self,
        files: Sequence[tuple[str, bytes]],
        *,
        to: str,
        progress: Progress = _no_progress,
        transmission_id: str | None = None,
        warned: Warned = _no_warnings,
    ) -> dict[str, Any]:
        """Pre-check, sign and upload one transmission; the pre-check's warnings go to `warned`
        before anything is uploaded."""
        manifest, signature = self.prepare(
            files, to=to, transmission_id=transmission_id, signed_at=await self.hub_time(), warned=warned
        )
        return await self.upload(manifest, signature, files, progress=progress)

    async def upload(
        self,
        manifest: bytes,
        signature: bytes,
        files: Sequence[tuple[str, bytes]],
        *,
        progress: Progress = _no_progress,
    ) -> dict[str, Any]:
        """POST a signed transmission as is (tests use this to send forged ones), retried with the
        same bytes while its answer is lost (rule 5). The answer carries `already_stored`: true when
        an earlier attempt had been stored."""
        for retry in range(self.retry.attempts):
            try:
                return await self._upload_once(manifest, signature, files, progress)
            except CareplanError as error:
                if retry + 1 >= self.retry.attempts or not answer_lost(error):
                    raise
                self.retries += 1
                await self.sleep(
                    self.retry.delay(retry, error.retry_after if isinstance(error, HubTrouble) else None, self._rng)
                )
        raise AssertionError("RetryPolicy.attempts is at least 1")

    async def _upload_once(
        self, manifest: bytes, signature: bytes, files: Sequence[tuple[str, bytes]], progress: Progress
    ) -> dict[str, Any]:
        # The body is built per attempt (a factory): its file parts stream once, and a session that
        # ended early makes _json log in again and repeat the request.
        body = lambda: _multipart(manifest, signature, files, progress)  # noqa: E731
        return dict(await self._json("POST", "/api/v1/transmissions", Operation.SEND, data=body))

    async def bulk_send(
        self,
        files: Sequence[tuple[str, bytes]],
        *,
        progress: Progress = _no_progress,
        send_valid: bool = False,
        warned: Warned = _no_warnings,
    ) -> BulkResult:
        """一括送信 (R4.3): sort files into transmissions by destination and 連番, then send each.

        A file that cannot be placed refuses the whole bulk send before anything is sent (one
        CareplanError carrying every reason), unless `send_valid`. A transmission the hub refuses
        is reported in `failed` and the others still go; a lost connection or session ends it.
        Each transmission's warnings go to `warned` before it is uploaded and into `warnings`.
        """
        plan = standard.sort_bulk(files, sender=self.identity.office_number)
        if plan.unplaced and not send_valid:
            error = standard.refusal([finding for _, finding in plan.unplaced])
            if error is not None:
                raise error
        result = BulkResult(unplaced=[(name, finding.to_dict()) for name, finding in plan.unplaced])

        def noted(recipient: str, warnings: Sequence[Finding]) -> None:
            result.warnings.append((recipient, list(warnings)))
            warned(recipient, warnings)

        for recipient, group in plan.transmissions:
            try:
                result.sent.append(await self.send(group, to=recipient, progress=progress, warned=noted))
            except CareplanError as error:
                if error.code in _FATAL_FOR_BULK:
                    raise
                result.failed.append((recipient, [name for name, _ in group], error))
        return result

    # --- lists (pages) -------------------------------------------------------------------------
    async def sent_page(self, *, limit: int | None = None, cursor: str | None = None) -> Page:
        """One page of the send list, newest first (the hub's default size when `limit` is None)."""
        return await self._page("/api/v1/sent", Operation.SEND, {}, limit, cursor)

    async def inbox_page(
        self, *, include_downloaded: bool = False, limit: int | None = None, cursor: str | None = None
    ) -> Page:
        """One page of the inbox, oldest first."""
        query = {"all": "1"} if include_downloaded else {}
        return await self._page("/api/v1/inbox", Operation.RECEIVE, query, limit, cursor)

    async def _page(
        self, path: str, operation: Operation, query: dict[str, str], limit: int | None, cursor: str | None
    ) -> Page:
        params = dict(query)
        if limit is not None:
            params["limit"] = str(limit)
        if cursor:
            params["cursor"] = cursor
        try:
            body = await self._json("GET", path, operation, params=params)
        except CareplanError as error:
            if error.code not in PLATFORM_FAILURES:
                raise
            # Reading a list is the client's data load, not a send or a receive: a platform that
            # failed reads as a failed data load (R3.6), not 送信に失敗しました on the send list.
            raise error.with_operation(Operation.LOAD) from None
        return Page(transmissions=list(body["transmissions"]), next_cursor=body.get("next_cursor"))

    @staticmethod
    async def walk(
        fetch: Callable[[str | None], Awaitable[Page]], *, cursor: str | None = None, max_pages: int | None = None
    ) -> AsyncIterator[Page]:
        """Every page of a list from `cursor` (None: the first page) on: `fetch(cursor)` is e.g.
        `lambda c: hub.sent_page(cursor=c, limit=500)`. Stops after `max_pages` if given."""
        for _ in itertools.count() if max_pages is None else range(max_pages):
            page = await fetch(cursor)
            yield page
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def sent(self) -> list[dict[str, Any]]:
        """The whole send list (every page)."""
        return [t async for page in self.walk(lambda c: self.sent_page(cursor=c, limit=PAGE_MAX)) for t in page]

    # --- receiving ----------------------------------------------------------------------------
    async def inbox(self, *, include_downloaded: bool = False) -> list[dict[str, Any]]:
        """The whole inbox (every page)."""
        pages = self.walk(lambda c: self.inbox_page(include_downloaded=include_downloaded, cursor=c, limit=PAGE_MAX))
        return [t async for page in pages for t in page]

    async def download(
        self, transmission_id: str, out_dir: Path, *, progress: Progress = _no_progress, acknowledge: bool = True
    ) -> Downloaded:
        """Fetch, verify and write a transmission, then acknowledge it (the hub forgets it). Raises
        the refusal of the step that failed, as the receive's (`receiving`); OSError when the files
        cannot be written (nothing is acknowledged then)."""
        try:
            info = await self._json("GET", f"/api/v1/inbox/{transmission_id}", Operation.RECEIVE)
            manifest_bytes = info["manifest"].encode("utf-8")
            signature = base64.b64decode(info["signature"])
            manifest, signer = self._verify_manifest(manifest_bytes, signature)
            files = [
                (entry["name"], await self._fetch(transmission_id, entry["position"], progress))
                for entry in info["files"]
            ]
            manifest.check_files(files)
        except CareplanError as error:
            raise receiving(error) from None
        directory = _write_download(out_dir, transmission_id, files, manifest_bytes, signature)
        try:
            receipt = await self.acknowledge(transmission_id) if acknowledge else {}
        except CareplanError as error:
            raise _not_acknowledged(error, directory) from None
        return Downloaded(
            transmission_id=transmission_id,
            directory=directory,
            files=tuple(directory / name for name, _ in files),
            manifest=manifest,
            signer=signer,
            receipt=dict(receipt),
        )

    async def acknowledge(self, transmission_id: str) -> dict[str, Any]:
        """The receipt: the hub records ダウンロード済 and forgets the data (R5.2). Call it only once
        the files are safely stored (download() does, after verifying and writing them)."""
        path = f"/api/v1/inbox/{transmission_id}/ack"
        try:
            return dict(await self._json("POST", path, Operation.RECEIVE))
        except CareplanError as error:
            if error.code != "HUB_UNREACHABLE":
                raise
        # The answer was lost: the receipt may or may not be committed. Ask again; "already
        # downloaded" then means our first acknowledgement went through.
        try:
            return dict(await self._json("POST", path, Operation.RECEIVE))
        except CareplanError as error:
            if error.code != "ALREADY_DOWNLOADED":
                raise
            already = error
        # The receipt is on the hub (ours, or another terminal's first): its row is the answer.
        try:
            rows = await _repeated(lambda: self.inbox(include_downloaded=True), answer_lost)
        except CareplanError:
            raise already from None  # recorded all the same: `_not_acknowledged` says so
        for row in rows:
            if row["transmission_id"] == transmission_id:
                return row
        raise already

    def _verify_manifest(self, manifest_bytes: bytes, signature: bytes) -> tuple[Manifest, OfficeIdentity]:
        op = Operation.RECEIVE
        signed = verify(signature, manifest_bytes, operation=op)
        anchors = x509.load_pem_x509_certificates(self.ca_file.read_bytes())
        signer = judge_certificate(
            signed.certificate, trusted=anchors, revoked=(), now=dt.datetime.now(dt.UTC), operation=op
        )
        manifest = Manifest.from_bytes(manifest_bytes)
        if manifest.sender != signer.office_number or manifest.recipient != self.identity.office_number:
            raise CareplanError(
                "SIGNER_MISMATCH",
                operation=op,
                detail=f"明細は {manifest.sender} → {manifest.recipient}、署名は {signer.office_number}、"
                f"受信は {self.identity.office_number} です",
                detail_en=f"manifest {manifest.sender} → {manifest.recipient}, signed by {signer.office_number}, "
                f"received by {self.identity.office_number}",
            )
        return manifest, signer

    async def _fetch(self, transmission_id: str, position: int, progress: Progress) -> bytes:
        """One file; a download cut off midway is repeated (the hub keeps the file until the
        acknowledgement), up to FETCH_ATTEMPTS times."""
        return await _repeated(
            lambda: self._fetch_once(transmission_id, position, progress), lambda e: e.code == "HUB_UNREACHABLE"
        )

    async def _fetch_once(self, transmission_id: str, position: int, progress: Progress) -> bytes:
        chunks = []
        async with self._call(
            "GET", f"/api/v1/inbox/{transmission_id}/files/{position}", Operation.RECEIVE
        ) as response:
            async for chunk in response.content.iter_chunked(CHUNK):
                chunks.append(chunk)
                progress(len(chunk))
        return b"".join(chunks)


async def _repeated(call: Callable[[], Awaitable[T]], again: Callable[[CareplanError], bool]) -> T:
    """`call`, made again while its refusal is one `again` accepts, up to FETCH_ATTEMPTS times in
    all (0.2 s, 0.4 s … between): a receive's reads, which change nothing on the hub."""
    for attempt in range(1, FETCH_ATTEMPTS + 1):
        try:
            return await call()
        except CareplanError as error:
            if not again(error) or attempt == FETCH_ATTEMPTS:
                raise
            await asyncio.sleep(0.2 * attempt)
    raise AssertionError("unreachable")


def _not_acknowledged(error: CareplanError, directory: Path) -> CareplanError:
    """The refusal of an acknowledgement, saying that the files are saved all the same (the office
    has them; only the hub's record of the receipt is missing), so a later 'already downloaded'
    does not read as lost data. ALREADY_DOWNLOADED means the record is there (this terminal's
    receipt whose answer was lost, or another terminal's first), though its row could not be read."""
    if error.code == "ALREADY_DOWNLOADED":
        return CareplanError(
            error.code,
            operation=Operation.RECEIVE,
            detail=f"ファイルは {directory} に保存しました。ハブにはダウンロード済として記録されています"
            "（この端末の受信の確認が届いたか、別の端末が先に確認しました）が、その記録を読み出せませんでした",
            detail_en=f"the files are saved in {directory}; the hub has the transmission as downloaded (this "
            "terminal's receipt arrived, or another terminal's came first), but its record could not be read",
            fix="保存したファイルはそのまま使えます。送信元への再送の依頼は要りません。記録は careplan client inbox "
            "--downloaded で確かめられます。",
            fix_en="The saved files are complete; no resend is needed. See the record with "
            "careplan client inbox --downloaded.",
        )
    return CareplanError(
        error.code,
        operation=Operation.RECEIVE,
        detail=f"ファイルは {directory} に保存しました。受信の確認（ダウンロード済の記録）がハブに届いていません: "
        f"{error.detail_in(Lang.JA)}",
        detail_en=f"the files are saved in {directory}; the receipt (downloaded) did not reach the hub: "
        f"{error.detail_in(Lang.EN)}",
        fix="保存したファイルはそのまま使えます。もう一度 download を実行すると受信の確認を送り直します"
        "（既にダウンロード済と表示されたら、確認はハブに届いています）。",
        fix_en="The saved files are complete. Run download again to send the receipt again (if it says already "
        "downloaded, the receipt did reach the hub).",
        findings=error.findings,
    )


def _multipart(
    manifest: bytes, signature: bytes, files: Sequence[tuple[str, bytes]], progress: Progress
) -> aiohttp.MultipartWriter:
    """The upload body (built per attempt: its file parts stream once)."""
    writer = aiohttp.MultipartWriter("form-data")
    writer.append(manifest, {"Content-Type": "application/json"}).set_content_disposition("form-data", name="manifest")
    writer.append(signature, {"Content-Type": "application/pkcs7-signature"}).set_content_disposition(
        "form-data", name="signature"
    )
    for name, data in files:
        part = writer.append(_chunks(data, progress), {"Content-Type": "application/octet-stream"})
        # Raw UTF-8 in filename="…", as curl and browsers send it (aiohttp would percent-encode).
        part.set_content_disposition("form-data", quote_fields=False, name="file", filename=name)
    return writer


async def _chunks(data: bytes, progress: Progress) -> AsyncIterator[bytes]:
    for start in range(0, len(data), CHUNK):
        chunk = data[start : start + CHUNK]
        yield chunk
        progress(len(chunk))


def _write_download(
    out_dir: Path, transmission_id: str, files: Sequence[tuple[str, bytes]], manifest: bytes, signature: bytes
) -> Path:
    """Write the files into a hidden folder and rename it into place (never a half-written
    download); the signed manifest goes beside it as <id>.manifest.json and <id>.manifest.p7s so
    the office can verify the sender later (e.g. with openssl cms -verify)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / transmission_id
    partial = out_dir / f".partial-{transmission_id}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    for name, data in files:
        (partial / name).write_bytes(data)
    for suffix, data in ((".manifest.json", manifest), (".manifest.p7s", signature)):
        (partial / suffix).write_bytes(data)
        (partial / suffix).replace(out_dir / (transmission_id + suffix))
    if final.exists():
        shutil.rmtree(final)
    partial.rename(final)
    return final
