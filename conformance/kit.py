"""One conformance run: register and license the partner offices the suite needs on the running
hub, then for each step instruct the client under test (through the adapter, or a person), judge
from the hub's side and record the verdict with its evidence.

Rules this module keeps:
1. Partner offices get fresh 事業所番号 per run (a random nonce), so runs never collide and the
   office under test only ever exchanges with offices of this run.
2. The office under test is only read, with one exception: the R3.6 step takes its licence away
   for one send and writes the same licence record back in a `finally` (HubView.licence_withdrawn).
   The hub's clock is never moved.
3. A step that raises is recorded as failed with the error, and the run goes on.
4. No secret reaches the record (conformance.redaction): every text taken from the adapter, the
   hub or an error passes through `Kit.clean` before it is recorded or shown, and the adapter's
   command line is recorded with its password-like values as ***, the note beside it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from careplan.errors import CareplanError
from client.hubclient import HubClient
from conformance.hubview import HubView, NotAvailable
from conformance.judges import FAIL, Verdict, fail, not_run
from conformance.protocol import PROTOCOL, Answer, ask_person, call_adapter
from conformance.redaction import NOTE, Redaction
from conformance.units import Party
from conformance.wording import Said
from scenarios.loader import office_number_for
from scenarios.model import OfficeSpec

# label → (サービス種類, licence, name): the partners the client suite exchanges with
PARTNERS: Mapping[str, tuple[str, str, str]] = MappingProxyType(
    {
        "houmon": ("11", "valid", "適合性確認 訪問介護"),
        "yobou": ("A2", "valid", "適合性確認 訪問型サービス"),
        "unlicensed": ("11", "none", "適合性確認 未申請事業所"),
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SuiteStep:
    id: str
    refs: tuple[str, ...]  # R-numbers and 標準仕様 §s this step covers
    title: dict[str, str]  # {"ja": …, "en": …}: also the instruction shown to a person
    action: str | None
    run: Callable[[Kit, SuiteStep], Awaitable[Verdict]]


@dataclass(slots=True, kw_only=True)
class StepRecord:
    id: str
    refs: tuple[str, ...]
    title: dict[str, str]
    action: str | None
    status: str
    reason: str = ""
    expected: str = ""
    arrived: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    adapter: dict[str, Any] = field(default_factory=dict)
    duration: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "refs": list(self.refs),
            "title": self.title,
            "action": self.action,
            "status": self.status,
            "reason": self.reason,
            "expected": self.expected,
            "arrived": self.arrived,
            "evidence": self.evidence,
            "adapter": self.adapter,
            "duration": round(self.duration, 3),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Partner:
    spec: OfficeSpec
    party: Party


class Kit:
    def __init__(
        self,
        view: HubView,
        office: str,
        *,
        adapter: str | None,
        step_timeout: float,
        lang: str = "ja",
        nonce: str | None = None,
        redaction: Redaction | None = None,
    ) -> None:
        self.view = view
        self.office = office
        self.adapter = adapter
        self.step_timeout = step_timeout
        self.lang = lang
        self.nonce = nonce or secrets.token_hex(6)
        self.root = Path(tempfile.mkdtemp(prefix="careplan-conformance-"))
        self.sut = Party(number=office, kind="43")
        self.users: tuple[str, ...] = ()
        self.partners: dict[str, Partner] = {}
        self.sent: list[str] = []  # transmissions the client under test sent in this run
        self._clients: dict[str, HubClient] = {}
        self.answers: list[Answer] = []  # the current step's raw answers, for the report
        # the secrets of the run, the admin token included; the partners' passwords join in setup
        self.redaction = (redaction or Redaction.of(adapter, hub=view.url)).also(view.driver.token)
        self.hidden = adapter is not None and self.redaction.command != adapter  # something was masked

    # --- setup --------------------------------------------------------------------------------
    async def setup(self) -> None:
        try:
            me = await self.view.office(self.office)
        except CareplanError as error:
            if error.code != "OFFICE_NOT_FOUND":  # a hub that does not answer, a refused token: as they are
                raise
            raise CareplanError(
                error.code,
                detail=f"事業所 {self.office} は {self.view.url} に登録されていません（{error.detail}）",
                fix="試験する事業所を先に登録するか（careplan up はデモ事業所を登録します）、"
                "登録済みの事業所番号を指定してください。",
                detail_en=f"office {self.office} is not registered on {self.view.url} "
                f"({error.detail_en or error.detail})",
                fix_en="Register the office under test first (careplan up seeds demo offices), or pass its 事業所番号.",
            ) from None
        self.sut = Party(number=self.office, kind=str(me["service_kind"]))
        self.users = (str(me["office_user_id"]),)
        for label, (kind, licence, name) in PARTNERS.items():
            spec = OfficeSpec(
                label=label,
                number=office_number_for(f"conformance:{self.nonce}:{label}"),
                kind=kind,
                licence=licence,
                name=name,
            )
            await self.view.register(spec)
            self.partners[label] = Partner(spec=spec, party=Party(number=spec.number, kind=kind))
        self.redaction = self.redaction.also(*(p.spec.password for p in self.partners.values()))

    def clean(self, value: Any) -> Any:
        """`value` (a text, or JSON-like data) with the run's secrets masked, noting whether any was."""
        cleaned = self.redaction.walk(value)
        self.hidden = self.hidden or cleaned != value
        return cleaned

    def acknowledged_by_office(self, user: str | None) -> bool:
        return bool(user) and (user in self.users or str(user).startswith(f"C{self.office}"))

    async def partner(self, label: str) -> HubClient:
        """The partner office's own terminal (our client), logged in."""
        if label not in self._clients:
            spec = self.partners[label].spec
            client = HubClient(
                url=self.view.url,
                ca_file=self.view.driver.ca_file,
                keypair=self.view.driver.pki.terminal(spec, "kaigo"),
            )
            await client.__aenter__()
            await client.login(spec.user, spec.password)
            self._clients[label] = client
        return self._clients[label]

    async def close(self) -> None:
        for client in self._clients.values():
            await client.__aexit__(None, None, None)
        self._clients.clear()
        await self.view.close()
        shutil.rmtree(self.root, ignore_errors=True)

    # --- what steps use -----------------------------------------------------------------------
    async def now(self) -> dt.datetime:
        return await self.view.driver.now()

    async def sent_ids(self) -> set[str]:
        return {t["transmission_id"] for t in await self.view.sent_by(self.office)}

    async def new_sent(self, before: set[str]) -> list[dict[str, Any]]:
        new = [t for t in await self.view.sent_by(self.office) if t["transmission_id"] not in before]
        self.sent += [t["transmission_id"] for t in new]
        return new

    def folder(self, step: SuiteStep, name: str = "") -> Path:
        path = self.root / step.id / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def write_files(self, step: SuiteStep, files: Sequence[tuple[str, bytes]]) -> list[str]:
        folder = self.folder(step, "files")
        for name, data in files:
            (folder / name).write_bytes(data)
        return [str(folder / name) for name, _ in files]

    async def ask(self, step: SuiteStep, **args: Any) -> Answer:
        """Instruct the client under test (adapter or person) and wait for its answer."""
        instruction = {
            "protocol": PROTOCOL,
            "step": step.id,
            "action": step.action,
            "hub": self.view.url,
            "office": self.office,
            "workdir": str(self.folder(step)),
            "instruction": step.title,
            **args,
        }
        if self.adapter is None:
            answer = await asyncio.to_thread(ask_person, instruction, timeout=self.step_timeout, lang=self.lang)
        else:
            answer = await asyncio.to_thread(call_adapter, self.adapter, instruction, timeout=self.step_timeout)
        self.answers.append(answer)
        return answer


# --- the loop ---------------------------------------------------------------------------------------
async def _journal(kit: Kit, verdict: Verdict) -> dict[str, Any]:
    tid = verdict.evidence.get("transmission_id")
    if not tid:
        return {}
    try:
        return {"journal": await kit.view.journal(str(tid))}
    except NotAvailable as missing:
        return {"journal": str(Said(f"取得できません: {missing.said.ja}", f"not available: {missing.said.en}"))}


async def run_step(kit: Kit, step: SuiteStep) -> StepRecord:
    started = time.perf_counter()
    kit.answers.clear()
    try:
        verdict = await step.run(kit, step)
    except NotAvailable as missing:
        verdict = not_run(Said(f"未実施: {missing.said.ja}", f"not run: {missing.said.en}"))
    except CareplanError as error:
        verdict = fail(
            Said(
                f"キットがこのステップを準備できませんでした: {error.code} {error.detail}",
                f"the kit could not set this step up: {error.code} {error.detail_en or error.detail}",
            )
        )
    except Exception as exc:  # a bug in the kit or a surprise from the hub: record it, go on (rule 3)
        what = f"{type(exc).__name__}: {exc}"
        verdict = fail(Said(f"このステップでキットが失敗しました: {what}", f"the kit failed in this step: {what}"))
    answers = list(kit.answers)
    if answers and answers[-1].unsupported and verdict.status == FAIL:
        verdict = not_run(
            Said(
                f"未実施: アダプタが {step.action} を実装していません",
                f"not run: the adapter does not implement {step.action}",
            )
        )
    evidence = verdict.evidence | await _journal(kit, verdict)
    adapter = {}
    if answers:
        last = answers[-1]
        adapter = {
            "result": last.result,
            "exit_code": last.exit_code,
            "timed_out": last.timed_out,
            "stderr": last.stderr,
            "problem": str(last.problem),
        }
    return StepRecord(
        id=step.id,
        refs=step.refs,
        title=step.title,
        action=step.action,
        status=verdict.status,
        reason=kit.clean(str(verdict.reason)),
        expected=kit.clean(str(verdict.expected)),
        arrived=kit.clean(str(verdict.arrived)),
        evidence=kit.clean(evidence),
        adapter=kit.clean(adapter),
        duration=time.perf_counter() - started,
    )


StepHook = Callable[[StepRecord], None]


async def run_suite(
    view: HubView,
    office: str,
    steps: Sequence[SuiteStep],
    *,
    adapter: str | None,
    step_timeout: float,
    lang: str = "ja",
    on_step: StepHook | None = None,
    redaction: Redaction | None = None,
) -> dict[str, Any]:
    """Run `steps` against the hub behind `view`; the run's JSON (see conformance.report), with
    `redaction` (default: from `adapter`, the hub's URL and this process's environment) applied."""
    kit = Kit(view, office, adapter=adapter, step_timeout=step_timeout, lang=lang, redaction=redaction)
    started = dt.datetime.now(dt.UTC)
    records: list[StepRecord] = []
    try:
        await kit.setup()
        for step in steps:
            records.append(await run_step(kit, step))
            if on_step is not None:
                on_step(records[-1])
    finally:
        await kit.close()
    shown = {
        "hub": kit.clean(view.url),
        "office": office,
        "adapter": kit.clean(
            kit.redaction.command or str(Said("（クライアントを操作する人）", "(a person at the client)"))
        ),
    }
    return {
        **shown,
        **({"redacted": str(NOTE)} if kit.hidden else {}),
        "partners": {label: p.spec.number for label, p in kit.partners.items()},
        "started": started.isoformat(timespec="seconds"),
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "steps": [r.to_json() for r in records],
    }
