"""Staging an office's licence for a test: read its licence record exactly as the hub stores it,
and put a record back.

The conformance kit's R3.6 step needs the office under test without a licence for one send. The
licence lifecycle cannot give that (no cancellation within a period, R3.3; a moved clock would
also move certificate validity and signing times, and renewals are automatic), and a snapshot
restore would roll back every other office's work too. So the kit reads the record, stores an
empty one (未申請), lets the client send, and writes the record it read back: the same terms, so
the office's licence, listing and fee are exactly what they were and nothing else changed.

Rules this module keeps:
1. Only a record that `careplan.licence` reads is stored (its own validation of terms), and only
   for the office the path names.
2. Like every admin request it is journalled by the control middleware, with no values from files.
"""

from __future__ import annotations

from typing import Any

from careplan import licence as lic
from careplan.errors import CareplanError, Operation
from hub.service import HubService


def _bad(detail: str, detail_en: str) -> CareplanError:
    example = '{"licence": {"version": 1, "office_number": "…", "terms": []}}'
    return CareplanError(
        "BAD_REQUEST",
        operation=Operation.ADMIN,
        detail=detail,
        fix=f"GET で読んだ記録をそのまま送るか、{example}（未申請）を送ってください。",
        detail_en=detail_en,
        fix_en=f"Send back a record read with GET, or {example} (未申請).",
    )


async def _answer(service: HubService, licence: lic.Licence) -> dict[str, Any]:
    return {
        "office_number": licence.office_number,
        "licence": licence.to_json(),
        "summary": lic.summary(licence, service.today()),
    }


async def licence_record(service: HubService, office_number: str) -> dict[str, Any]:
    """The stored record with its summary on the hub's today; the office's not-found refusal when
    it is not registered."""
    await service.office(office_number)  # refuses an unknown office in the hub's usual words
    licence = await service.licence(office_number)
    return await _answer(service, licence or lic.new_licence(office_number))


async def replace_licence_record(service: HubService, office_number: str, body: dict[str, Any]) -> dict[str, Any]:
    """Store `body["licence"]` as the office's licence record (rule 1); the record and summary after."""
    await service.office(office_number)
    record = body.get("licence")
    if not isinstance(record, dict):
        raise _bad("項目 licence（ライセンスの記録）がありません", 'field "licence" (a record) is required')
    try:
        licence = lic.Licence.from_json(record)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise _bad(f"ライセンスの記録として読めません: {exc}", f"not a licence record: {exc}") from None
    if licence.office_number != office_number:
        raise _bad(
            f"記録の事業所番号 {licence.office_number} がパスの {office_number} と違います",
            f"the record is for {licence.office_number}, the path names {office_number}",
        )
    await service.save_licence(licence)
    return await _answer(service, licence)
