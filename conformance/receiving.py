"""The client suite's receiving steps: a partner office sends to the office under test, and the
client must download once, verify the sender's signature and every file, and only then
acknowledge (R5.2, R2.4). Two steps serve what no honest sender can make the hub store: a file
changed on disk after it was stored, and a valid signature by another office than the sender.
"""

from __future__ import annotations

import dataclasses

from careplan.signature import sign
from conformance.judges import Verdict, judge_downloaded, judge_not_acknowledged
from conformance.kit import Kit, SuiteStep
from conformance.units import seeded_unit, with_serial
from conformance.wording import Said


async def _partner_sends(kit: Kit, serial: str) -> str:
    houmon = kit.partners["houmon"]
    files = with_serial(seeded_unit(("UPJSK",), houmon.party, kit.sut), serial)
    client = await kit.partner("houmon")
    return str((await client.send(files, to=kit.office))["transmission_id"])


async def download_once(kit: Kit, step: SuiteStep) -> Verdict:
    tid = await _partner_sends(kit, "20250503170101")
    out = kit.folder(step, "received")
    answer = await kit.ask(step, out=str(out))
    stored = await kit.view.stored(tid)
    assert stored is not None
    verdict = judge_downloaded(stored, answer, out=out, office=kit.acknowledged_by_office)
    return _with_transmission(verdict, tid)


async def download_tampered(kit: Kit, step: SuiteStep) -> Verdict:
    tid = await _partner_sends(kit, "20250503170102")
    await kit.view.tamper_stored_file(tid)
    answer = await kit.ask(step, out=str(kit.folder(step, "received")))
    stored = await kit.view.stored(tid)
    assert stored is not None
    return _with_transmission(judge_not_acknowledged(stored, answer), tid)


async def wrong_signer(kit: Kit, step: SuiteStep) -> Verdict:
    """A valid CMS signature over the right manifest, but made with another office's terminal
    certificate: the hub never stores such an upload, so its download answer carries it (a fault
    rule, cleared afterwards) while the stored transmission stays as the sender signed it."""
    tid = await _partner_sends(kit, "20250503170103")
    stored = await kit.view.stored(tid)
    assert stored is not None
    other = kit.partners["yobou"]
    pair = kit.view.driver.pki.terminal(other.spec, "kaigo")
    await kit.view.serve_signature(tid, sign(stored["manifest"].encode("utf-8"), pair.certificate, pair.key))
    try:
        answer = await kit.ask(step, out=str(kit.folder(step, "received")))
    finally:
        await kit.view.clear_faults()
    stored = await kit.view.stored(tid)
    assert stored is not None
    sender = kit.partners["houmon"].party.number
    problem = Said(  # a phrase, as judges.TAMPERED
        f"署名が送信元 {sender} ではなく事業所 {other.party.number} によるもの",
        f"the signature was made by office {other.party.number}, not by the sender {sender}",
    )
    verdict = judge_not_acknowledged(stored, answer, problem=problem)
    served = {"sender": sender, "served_signer": other.party.number}
    return _with_transmission(dataclasses.replace(verdict, evidence=verdict.evidence | served), tid)


def _with_transmission(verdict: Verdict, tid: str) -> Verdict:
    """The verdict with its transmission named in the evidence (the report adds its journal)."""
    return dataclasses.replace(verdict, evidence=verdict.evidence | {"transmission_id": tid})
