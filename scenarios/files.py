"""The files a send carries: sample sets, files on disk, broken variants and generated data sets,
rebased onto the run's own offices."""

from __future__ import annotations

import contextvars
import datetime as dt
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from careplan.standard import parse_file_name
from scenarios.model import OfficeSpec
from scenarios.results import StepFailed

# The seed of generated fixtures for this run (a context variable: asyncio.run copies it).
GENERATED_SEED: contextvars.ContextVar[int] = contextvars.ContextVar("generated_seed", default=2024)


def serials(count: int) -> list[str]:
    """`count` distinct ファイル連番 (作成日時 YYYYMMDDhhmmss), a minute apart from 2025-04-20 09:30."""
    first = dt.datetime(2025, 4, 20, 9, 30)
    return [(first + dt.timedelta(minutes=i)).strftime("%Y%m%d%H%M%S") for i in range(count)]


def new_id() -> str:
    return uuid.uuid4().hex


def generated(file_ids: tuple[str, ...]) -> dict[str, bytes]:
    from fixtures.broken import unit

    try:
        return unit(*file_ids, seed=GENERATED_SEED.get())
    except KeyError:
        ids = ", ".join(file_ids)
        raise StepFailed(
            f"生成データに {ids} だけから成る送信はありません"
            f" / the generated data set has no transmission of exactly {ids}"
        ) from None


def rebase(files: Mapping[str, bytes], *, sender: str, recipient: str) -> list[tuple[str, bytes]]:
    """Generated files name generated offices: put the run's sender and recipient in their place
    (in names and contents; 事業所番号 are ASCII digits in every encoding)."""
    mapping: dict[str, str] = {}
    for name in files:
        try:
            parsed = parse_file_name(name)
        except Exception:  # an attachment or a deliberately broken name
            continue
        if getattr(parsed, "sender", None):
            mapping.setdefault(parsed.sender, sender)
        if getattr(parsed, "recipient", None) and parsed.recipient != parsed.sender:
            mapping.setdefault(parsed.recipient, recipient)
    rebased = []
    for name, data in files.items():
        for old, new in mapping.items():
            name = name.replace(old, new)
            data = data.replace(old.encode("ascii"), new.encode("ascii"))
        rebased.append((name, data))
    return rebased


def files_for(
    me: OfficeSpec, argument: Mapping[str, Any], *, office: Any, base: Path
) -> tuple[list[tuple[str, bytes]], str]:
    """The files of a `send` argument from `me`, and the recipient's 事業所番号. `office(label)` gives
    an OfficeSpec; relative `files:` paths are read under `base`."""
    from fixtures.samples import sample_actuals_set, sample_plan_set

    month = str(argument.get("month", "202504"))
    if "plan_to" in argument:
        to: OfficeSpec = office(str(argument["plan_to"]))
        plan = sample_plan_set(
            sender=me.number,
            sender_kind=me.kind,
            recipient=to.number,
            recipient_kind=to.kind,
            month=month,
            created=str(argument.get("created", "20250420093000")),
        )
        return list(plan.items()), to.number
    if "actuals_to" in argument:
        to = office(str(argument["actuals_to"]))
        actuals = sample_actuals_set(
            sender=me.number, sender_kind=me.kind, recipient=to.number, recipient_kind=to.kind, month=month
        )
        return list(actuals.items()), to.number
    to_number = office(str(argument["to"])).number
    if "files" in argument:
        paths = [Path(p) if Path(p).is_absolute() else base / p for p in argument["files"]]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise StepFailed(f"ファイルがありません / no such file: {', '.join(missing)}")
        return [(p.name, p.read_bytes()) for p in paths], to_number
    if "broken" in argument:
        from fixtures.broken import by_name

        made = by_name(str(argument["broken"])).make()
    else:
        made = generated(tuple(str(x) for x in argument["generated"]))
    return rebase(made, sender=me.number, recipient=to_number), to_number
