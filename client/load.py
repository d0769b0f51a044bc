"""A load generator for any hub: offices doing their month-start work at once (issue 10).

Vendors size their own systems with it; trainers show what the 1st of the month looks like. It
drives logged-in `HubClient`s only (no hub import): the caller brings one per office
(`careplan load` registers seeded offices through the admin API and logs them in).

Rules this module keeps:
1. Bounded: a run stops launching operations at `count` or at `duration` seconds, whichever comes
   first, and cancels what is still running `grace` seconds later.
2. Either closed loop (`concurrency` workers, each starting its next operation when the last ends)
   or open loop (`rate` operations a second, at most `max_in_flight` at once; the report says the
   rate achieved).
3. The mix is a month-start peak by default: many sends of single units, some 一括送信, the
   receivers downloading (info, each file, then the receipt) and looking at their lists. A download
   takes a transmission this run sent and nobody has claimed, so two workers never race for one.
4. Every refusal is counted by its catalogue code, with the message the office would read;
   nothing else is raised out of a run except cancellation. The seed fixes the sequence of choices
   (not the timing).
5. `stop()` (Ctrl-C) ends a run early and still gives its report: the first call stops launching
   and lets the operations in flight finish, a second cancels them. The report says why the run
   stopped: its count, its duration, or the interruption.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from careplan.errors import CareplanError
from client.hubclient import HubClient

OPERATIONS = ("send", "bulk", "download", "list")
MONTH_START_MIX: Mapping[str, float] = {"send": 50, "bulk": 5, "download": 30, "list": 15}
Files = tuple[tuple[str, bytes], ...]
CLIENT_FAILURE = "クライアント側の例外（ハブの拒否ではありません） / a client-side exception, not a refusal"
DEFAULT_CONCURRENCY = 8  # closed-loop workers when neither a concurrency nor a rate is given


@dataclass(frozen=True, slots=True, kw_only=True)
class Unit:
    """One sending unit of the workload: who sends which files to whom."""

    sender: str
    recipient: str
    files: Files


@dataclass(frozen=True, slots=True, kw_only=True)
class Workload:
    units: tuple[Unit, ...]
    bulk: Mapping[str, Files]  # per sending office: the files of one 一括送信 (several recipients)


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadPlan:
    count: int = 200
    duration: float = 60.0
    concurrency: int | None = None  # closed loop (DEFAULT_CONCURRENCY when neither this nor a rate)
    rate: float | None = None
    max_in_flight: int = 256
    mix: Mapping[str, float] = field(default_factory=lambda: dict(MONTH_START_MIX))
    seed: int = 1
    grace: float = 30.0

    def __post_init__(self) -> None:
        if self.count < 1 or self.duration <= 0:
            raise ValueError("count and duration must be positive")
        if self.concurrency is not None and self.rate is not None:
            raise ValueError("give either a concurrency or a rate, not both")
        if (self.concurrency is not None and self.concurrency < 1) or (self.rate is not None and self.rate <= 0):
            raise ValueError("concurrency and rate must be positive")
        unknown = set(self.mix) - set(OPERATIONS)
        if unknown or not any(w > 0 for w in self.mix.values()) or any(w < 0 for w in self.mix.values()):
            raise ValueError(
                "--mix: 重みは0以上、少なくとも1つは正の数にしてください"
                f" / the mix weighs {', '.join(OPERATIONS)} with non-negative numbers, one positive"
            )


def parse_mix(text: str) -> dict[str, float]:
    """`send=50,bulk=5,download=30,list=15` (operations left out weigh 0). Raises ValueError."""
    mix: dict[str, float] = dict.fromkeys(OPERATIONS, 0.0)
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, weight = item.partition("=")
        if name not in mix:
            raise ValueError(
                f"--mix: {name!r} は操作名ではありません\nunknown operation {name!r} in the mix"
                f" (known: {', '.join(OPERATIONS)})"
            )
        try:
            mix[name] = float(weight)
        except ValueError:
            raise ValueError(
                f"--mix: {name} の重み {weight!r} が数ではありません\nthe weight {weight!r} of {name} is not a"
                " number (e.g. send=50,bulk=5)"
            ) from None
    return mix


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of `values` (0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


STOPPED = ("count", "duration", "interrupted")  # why a run stopped launching operations


@dataclass(slots=True)
class Report:
    plan: LoadPlan = field(default_factory=LoadPlan)
    elapsed: float = 0.0
    stopped: str = "count"  # one of STOPPED
    latencies: dict[str, list[float]] = field(default_factory=lambda: collections.defaultdict(list))
    errors: dict[str, collections.Counter[str]] = field(
        default_factory=lambda: collections.defaultdict(collections.Counter)
    )
    messages: dict[str, str] = field(default_factory=dict)  # per code: the message the office reads
    cancelled: int = 0

    def record(self, operation: str, seconds: float, error: str | None, message: str = "") -> None:
        if error is None:
            self.latencies[operation].append(seconds)
        else:
            self.errors[operation][error] += 1
            self.messages.setdefault(error, message)

    @property
    def done(self) -> int:
        return sum(len(v) for v in self.latencies.values()) + sum(sum(c.values()) for c in self.errors.values())

    def to_json(self) -> dict[str, Any]:
        ok = sum(len(v) for v in self.latencies.values())
        by_code: collections.Counter[str] = collections.Counter()
        for counter in self.errors.values():
            by_code.update(counter)
        operations = {}
        for name in OPERATIONS:
            times, failed = self.latencies.get(name, []), sum(self.errors.get(name, {}).values())
            if times or failed:
                operations[name] = {
                    "ok": len(times),
                    "errors": failed,
                    "per_second": round(len(times) / self.elapsed, 2) if self.elapsed else 0.0,
                    "p50_ms": round(percentile(times, 0.50) * 1000, 1),
                    "p99_ms": round(percentile(times, 0.99) * 1000, 1),
                }
        plan = self.plan
        return {
            "plan": {
                "pace": "rate" if plan.rate is not None else "concurrency",
                "concurrency": None if plan.rate is not None else plan.concurrency or DEFAULT_CONCURRENCY,
                "rate": plan.rate,
                "count": plan.count,
                "duration_s": plan.duration,
                "seed": plan.seed,
            },
            "stopped": self.stopped,
            "elapsed_s": round(self.elapsed, 3),
            "operations_done": self.done,
            "operations_per_second": round(self.done / self.elapsed, 2) if self.elapsed else 0.0,
            "ok": ok,
            "errors": sum(by_code.values()),
            "cancelled": self.cancelled,
            "ok_per_second": round(ok / self.elapsed, 2) if self.elapsed else 0.0,
            "by_operation": operations,
            "errors_by_code": dict(by_code.most_common()),
            "error_messages": {code: self.messages.get(code, "") for code in by_code},
        }


class LoadRun:
    """One run: `await LoadRun(terminals, workload, plan).run(on_done)` → Report."""

    def __init__(self, terminals: Mapping[str, HubClient], workload: Workload, plan: LoadPlan) -> None:
        missing = {u.sender for u in workload.units} - set(terminals)
        if missing or not workload.units:
            raise ValueError(f"no logged-in terminal for {sorted(missing)}" if missing else "the workload is empty")
        self.terminals = terminals
        self.workload = workload
        self.plan = plan
        self.rng = random.Random(plan.seed)
        self.report = Report(plan=plan)
        self.pending: dict[str, collections.deque[str]] = collections.defaultdict(collections.deque)
        self._launched = 0
        self._interrupted = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._names = [name for name in OPERATIONS if plan.mix.get(name, 0) > 0]
        self._weights = [plan.mix[name] for name in self._names]

    def stop(self) -> None:
        """End the run early (Ctrl-C): the first call stops launching operations and lets those in
        flight finish; a second cancels them. `run` then returns the report of what was done."""
        if self._interrupted:
            for task in self._tasks:
                task.cancel()
        self._interrupted = True

    async def run(self, on_done: Callable[[int], None] = lambda _n: None) -> Report:
        started = time.monotonic()
        deadline = started + self.plan.duration
        with tempfile.TemporaryDirectory(prefix="careplan-load-") as tmp:
            self._downloads = Path(tmp)
            if self.plan.rate is None:
                workers = self.plan.concurrency or DEFAULT_CONCURRENCY
                self._tasks = {asyncio.create_task(self._worker(deadline, on_done)) for _ in range(workers)}
            else:
                self._tasks = {asyncio.create_task(self._arrivals(deadline, on_done))}
            _, late = await asyncio.wait(self._tasks, timeout=self.plan.duration + self.plan.grace)
            for task in late:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self.report.elapsed = time.monotonic() - started
        self.report.stopped = (
            "interrupted" if self._interrupted else "count" if self._launched >= self.plan.count else "duration"
        )
        return self.report

    def _take(self, deadline: float) -> bool:
        if self._interrupted or self._launched >= self.plan.count or time.monotonic() >= deadline:
            return False
        self._launched += 1
        return True

    async def _worker(self, deadline: float, on_done: Callable[[int], None]) -> None:
        while self._take(deadline):
            await self._one(on_done)

    async def _arrivals(self, deadline: float, on_done: Callable[[int], None]) -> None:
        assert self.plan.rate is not None
        gap, slots = 1.0 / self.plan.rate, asyncio.Semaphore(self.plan.max_in_flight)
        running: set[asyncio.Task[None]] = set()
        next_at = time.monotonic()
        try:
            while self._take(deadline):
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                next_at += gap
                await slots.acquire()
                task = asyncio.create_task(self._one(on_done))
                running.add(task)
                task.add_done_callback(lambda t: (running.discard(t), slots.release()))
            if running:
                await asyncio.wait(running)
        finally:
            for task in running:  # each counts itself as cancelled
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)  # counted before the report is read

    async def _one(self, on_done: Callable[[int], None]) -> None:
        operation = self.rng.choices(self._names, self._weights)[0]
        if operation == "download" and not self._waiting():
            operation = "list"  # nothing sent yet: the receiver looks at its inbox instead
        started = time.monotonic()
        error: str | None = None
        message = ""
        try:
            await getattr(self, f"_{operation}")()
        except CareplanError as refusal:
            error, message = refusal.code, refusal.message
        except asyncio.CancelledError:
            self.report.cancelled += 1
            raise
        except Exception as exc:  # a bug or a broken answer: count it, keep the run going
            error, message = f"CLIENT_{type(exc).__name__}", CLIENT_FAILURE
        self.report.record(operation, time.monotonic() - started, error, message)
        on_done(1)

    async def _send(self) -> None:
        unit = self.rng.choice(self.workload.units)
        sent = await self.terminals[unit.sender].send(list(unit.files), to=unit.recipient)
        self.pending[unit.recipient].append(sent["transmission_id"])

    async def _bulk(self) -> None:
        sender = self.rng.choice(sorted(self.workload.bulk))
        result = await self.terminals[sender].bulk_send(list(self.workload.bulk[sender]))
        for sent in result.sent:
            self.pending[sent["recipient"]["office_number"]].append(sent["transmission_id"])
        if result.failed:
            raise result.failed[0][2]

    async def _download(self) -> None:
        recipient = self.rng.choice(self._waiting())
        transmission_id = self.pending[recipient].popleft()  # claimed: no other worker takes it
        client = self.terminals[recipient]
        await client.download(transmission_id, self._downloads)
        await asyncio.to_thread(shutil.rmtree, self._downloads / transmission_id, True)
        for suffix in (".manifest.json", ".manifest.p7s"):
            (self._downloads / (transmission_id + suffix)).unlink(missing_ok=True)

    def _waiting(self) -> list[str]:
        return sorted(r for r, ids in self.pending.items() if ids and r in self.terminals)

    async def _list(self) -> None:
        client = self.terminals[self.rng.choice(sorted(self.terminals))]
        if self.rng.random() < 0.5:
            await client.inbox_page()
        else:
            await client.sent_page()
