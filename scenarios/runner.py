"""Run scenarios against a fresh in-process hub each (or against a running hub, `--hub`), and
record what happened at every step.

Rules this module keeps:
1. Every scenario gets its own hub: a temp data directory, its own CRL, its own clock set (frozen)
   to the scenario's `clock:`. Time moves only through that clock; nothing sleeps.
2. Keys come from the process-wide `scenarios.pki` (one CA, certificates cached); each hub gets a
   copy of the CA directory and publishes its own CRL, so revocations are per run.
3. A step's outcome is the hub's own answer: on refusal its code, message, detail and fix.
4. After the first failing step the rest of the scenario is skipped. Against a running hub, once
   it does not answer (HUB_UNREACHABLE at a step, in a setup or a teardown), the rest of the run is
   not run: each remaining scenario is reported with why, its steps skipped.
5. The hub is reached through a `scenarios.drivers.HubDriver`; each action lives, with its argument
   schema and check, in `scenarios.actions`. A remote run derives its 事業所番号 from the labels
   and a random nonce (`namespaced`), so runs never collide.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from ca.authority import CertificateAuthority
from ca.cli import write_server_cert
from careplan.errors import CareplanError, Lang
from hub.clock import Clock
from hub.config import HubConfig
from hub.server import start_hub
from scenarios.context import Run
from scenarios.drivers import InProcessHub, RemoteHub
from scenarios.files import GENERATED_SEED
from scenarios.loader import office_number_for
from scenarios.model import OfficeSpec, Scenario, Step
from scenarios.pki import OTHER_CERTIFICATE, pki
from scenarios.results import UNREACHABLE, ScenarioResult, StepFailed, StepResult

ADMIN_TOKEN = "scenario-admin-token"

__all__ = ["ScenarioResult", "StepResult", "run", "run_all", "run_scenario"]


def namespaced(scenario: Scenario, nonce: str) -> Scenario:
    """The scenario with 事業所番号 derived from its labels and `nonce`: unique on a shared hub."""
    offices: list[OfficeSpec] = []
    taken: set[str] = set()
    for office in scenario.offices:
        salt = 0
        number = office_number_for(f"{nonce}:{office.label}")
        while number in taken:
            salt += 1
            number = office_number_for(f"{nonce}:{salt}:{office.label}")
        taken.add(number)
        offices.append(dataclasses.replace(office, number=number))
    return dataclasses.replace(scenario, offices=tuple(offices))


# --- running ----------------------------------------------------------------------------------------
def _explanation(error: CareplanError) -> dict[str, Any]:
    """The hub's explanation in Japanese (as the office reads it) with the English beside it."""
    return {
        "code": error.code,
        "message": error.message,
        "detail": error.detail_in(Lang.JA),
        "fix": error.fix_in(Lang.JA),
        "detail_en": error.detail_in(Lang.EN),
        "fix_en": error.fix_in(Lang.EN),
    }


StepHook = Callable[[Step, StepResult | None], None]
"""Called with (step, None) just before a step runs and with (step, its result) just after;
`careplan demo` narrates through it. Skipped steps are reported after only."""


async def run_scenario(
    scenario: Scenario, on_step: StepHook | None = None, *, hub: tuple[str, Path] | None = None, keep: bool = False
) -> ScenarioResult:
    """Run one scenario: against a fresh in-process hub, or with `hub` = (URL, data directory)
    against that running hub (its 事業所番号 namespaced by a random nonce)."""
    started = time.perf_counter()
    result = ScenarioResult(name=scenario.name, path=str(scenario.path), line=scenario.line, tags=scenario.tags)
    if hub is not None:
        await _run_remote(namespaced(scenario, secrets.token_hex(8)), result, on_step, hub[0], hub[1], keep=keep)
        result.duration = time.perf_counter() - started
        return result
    shared = pki()
    with tempfile.TemporaryDirectory(prefix="careplan-scenario-") as tmp:
        data = Path(tmp) / "hub"
        data.mkdir()
        forging = any(s.action == "send" and "forge" in (s.argument or {}) for s in scenario.steps)
        for office in scenario.offices:  # issue before copying the CA: its index must know them
            shared.terminal(office, office.certificate)
            if forging:
                shared.terminal(office, OTHER_CERTIFICATE)
        shutil.copytree(shared.ca.directory, data / "ca")
        ca = CertificateAuthority.load(data / "ca")
        write_server_cert(shared.server.cert_pem(), shared.server.key_pem(), data / "tls")
        (data / "admin-token").write_text(ADMIN_TOKEN)
        clock = Clock()
        clock.set(scenario.clock, frozen=True)
        running = await start_hub(
            HubConfig(data_dir=data, port=0, admin_token=ADMIN_TOKEN), clock=clock, announce_ready=False
        )
        run = Run(scenario, data, InProcessHub(running, clock, ca, data / "ca" / "ca.pem"))
        try:
            await _setup_and_steps(run, result, on_step)
        except Exception as exc:  # setup went wrong: report, do not crash the suite
            _setup_failed(result, exc)
        finally:
            await run.close()
            await running.stop()
    result.duration = time.perf_counter() - started
    return result


async def _run_remote(
    scenario: Scenario, result: ScenarioResult, on_step: StepHook | None, url: str, data: Path, *, keep: bool = False
) -> None:
    with tempfile.TemporaryDirectory(prefix="careplan-scenario-remote-") as tmp:
        driver: RemoteHub | None = None
        run: Run | None = None
        try:
            driver = RemoteHub(url, data, keep=keep)
            await driver.open()
            await driver.set_clock(scenario.clock)
            run = Run(scenario, Path(tmp), driver)
            await _setup_and_steps(run, result, on_step)
        except Exception as exc:  # setup went wrong: report, do not crash the suite
            _setup_failed(result, exc)
        finally:
            if run is not None:
                await run.close()
            if driver is not None:
                kept = driver.kept_snapshot
                try:
                    await driver.close()
                except Exception as exc:
                    if not result.error:
                        _failed(result, _not_restored(kept, exc), exc)


def _setup_failed(result: ScenarioResult, exc: Exception) -> None:
    _failed(result, _problem(exc), exc)


def _failed(result: ScenarioResult, text: str, exc: Exception) -> None:
    """`result` failed outside its steps for `exc`, which `text` says; the hub's refusal kept whole
    (`careplan demo` shows a HUB_UNREACHABLE as the client does)."""
    result.error, result.error_code = text, _code(exc)
    if isinstance(exc, CareplanError):
        result.error_explanation = _explanation(exc)


def _code(exc: Exception) -> str:
    return exc.code if isinstance(exc, CareplanError) else ""


def _problem(exc: Exception) -> str:
    """A setup or teardown failure in one line, Japanese then English: the hub's code and detail
    (`HUB_UNREACHABLE: … に接続できません（…） / cannot connect to …`; the message is the one an
    office would read, only when there is no detail), else the exception."""
    if not isinstance(exc, CareplanError):
        return f"想定外のエラー / unexpected error: {type(exc).__name__}: {exc}"
    detail_ja, detail_en = exc.detail_in(Lang.JA), exc.detail_in(Lang.EN)
    return f"{exc.code}: {detail_ja or exc.message} / {detail_en or exc.code}"


def _not_restored(snapshot: str | None, exc: Exception) -> str:
    """The hub is not as the run found it: say so, and how to put it back when its snapshot is kept."""
    if snapshot is None:
        return f"ハブを実行前の状態に戻せませんでした / the hub was not put back as the run found it: {_problem(exc)}"
    return (
        f"ハブを実行前の状態に戻せませんでした（careplan hub snapshot restore {snapshot} で戻せます）"
        f" / the hub was not put back as the run found it (careplan hub snapshot restore {snapshot}):"
        f" {_problem(exc)}"
    )


async def _setup_and_steps(run: Run, result: ScenarioResult, on_step: StepHook | None) -> None:
    driver = run.driver
    for office in run.scenario.offices:
        await driver.register_office(office)
        if office.certificate == "revoked":
            await driver.revoke(driver.pki.terminal(office, "revoked").certificate.serial_number)
    failed = False
    for step in run.scenario.steps:
        if failed:
            result.steps.append(_skipped(step))
            if on_step is not None:
                on_step(step, result.steps[-1])
            continue
        if on_step is not None:
            on_step(step, None)
        step_result = await _run_step(run, step)
        result.steps.append(step_result)
        if on_step is not None:
            on_step(step, step_result)
        failed = not step_result.passed


def _skipped(step: Step) -> StepResult:
    return StepResult(
        index=step.index,
        line=step.line,
        actor=step.actor or "",
        action=step.describe(),
        expectation=step.expect.describe(),
        outcome="skipped",
        passed=False,
        skipped=True,
    )


async def _run_step(run: Run, step: Step) -> StepResult:
    started = time.perf_counter()
    outcome, passed, explanation, note = "ok", True, {}, ""
    try:
        value, note = await run.do(step)
        if step.save:
            run.variables[step.save] = value
        if not step.expect.ok:
            expected = step.expect.error
            passed, note = (
                False,
                f"{expected} で拒否されるはずが成功しました / expected {expected}, but it succeeded ({note})",
            )
    except CareplanError as error:
        outcome, explanation = error.code, _explanation(error)
        if step.expect.ok:
            # the hub's message is in the explanation beside the note: not repeated here
            passed, note = (
                False,
                f"成功するはずが {error.code} で拒否されました / expected ok, refused with {error.code}",
            )
        elif error.code != step.expect.error:
            expected = step.expect.error
            passed, note = False, f"{expected} のはずが {error.code} でした / expected {expected}, got {error.code}"
        elif not step.expect.message_matches(error.message):
            wanted = step.expect.message
            passed, note = (
                False,
                f"メッセージが想定と違います（想定「{wanted}」、実際「{error.message}」） / message differs",
            )
        else:
            note = error.detail
    except StepFailed as exc:
        outcome, passed, note = "mismatch", False, str(exc)
    except Exception as exc:  # a fault of the runner: this step's failure, not a setup failure
        outcome, passed, note = "error", False, _problem(exc)
    return StepResult(
        index=step.index,
        line=step.line,
        actor=step.actor or "",
        action=step.describe(),
        expectation=step.expect.describe(),
        outcome=outcome,
        passed=passed,
        explanation=explanation,
        note=note,
        duration=round(time.perf_counter() - started, 4),
    )


async def run_all(
    scenarios: Sequence[Scenario],
    on_step: StepHook | None = None,
    *,
    hub: tuple[str, Path] | None = None,
    keep: bool = False,
    on_result: Callable[[ScenarioResult], None] | None = None,
) -> list[ScenarioResult]:
    results: list[ScenarioResult] = []
    gone = ""  # why the rest is not run: the running hub stopped answering
    for scenario in scenarios:
        if gone:
            results.append(not_run(scenario, gone))
        else:
            results.append(await run_scenario(scenario, on_step, hub=hub, keep=keep))
            if hub is not None and results[-1].hub_unreachable:
                gone = _gone_at(results[-1])
        if on_result is not None:
            on_result(results[-1])
    return results


def _gone_at(result: ScenarioResult) -> str:
    where = f"{Path(result.path).name}:{result.line}"
    return (
        f"ハブに接続できないため実行していません（{where} で {UNREACHABLE}）"
        f" / not run: the hub does not answer ({UNREACHABLE} at {where})"
    )


def not_run(scenario: Scenario, reason: str) -> ScenarioResult:
    """The result of a scenario the run did not try, for `reason`: every step skipped."""
    result = ScenarioResult(
        name=scenario.name, path=str(scenario.path), line=scenario.line, tags=scenario.tags, skip_reason=reason
    )
    result.steps = [_skipped(step) for step in scenario.steps]
    return result


def run(
    scenarios: Iterable[Scenario],
    on_step: StepHook | None = None,
    *,
    hub: tuple[str, Path] | None = None,
    seed: int | None = None,
    keep: bool = False,
    on_result: Callable[[ScenarioResult], None] | None = None,
) -> list[ScenarioResult]:
    """Run the scenarios; `hub` = (URL, data directory) runs them against that running hub, which
    is restored afterwards to how the run found it unless `keep`; `seed` picks the generated data
    set that `send: {generated: […]}` draws from (same seed, same bytes). `on_result` is called
    with each scenario's result as it finishes (a run stopped with Ctrl-C, KeyboardInterrupt, has
    still reported those)."""
    token = GENERATED_SEED.set(GENERATED_SEED.get() if seed is None else seed)
    try:
        return asyncio.run(run_all(list(scenarios), on_step, hub=hub, keep=keep, on_result=on_result))
    finally:
        GENERATED_SEED.reset(token)
