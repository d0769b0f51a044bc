"""The journal entry reads a request's JSON answer only when it takes something from it
(hub.control.plane._entry): a refusal's code, a login's user id; an accepted submit's
transmission id is already in its decision chain. The entries are what they always were."""

from __future__ import annotations

from typing import Any

import pytest
from controlkit import journal, plan

import hub.control.plane as plane
from careplan.errors import CareplanError
from tests.conftest import HOUMON, KYOTAKU, HubUnderTest


async def test_answers_are_parsed_only_when_the_entry_needs_them(
    hub: HubUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[int] = []
    original = plane._answer

    def counted(response: Any) -> dict[str, Any]:
        answer = original(response)
        parsed.append(response.status)
        return answer

    monkeypatch.setattr(plane, "_answer", counted)
    async with hub.client(KYOTAKU) as kyotaku:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)  # no session yet: the user id of the answer
        assert parsed == [201]
        tid = (await kyotaku.send(plan(), to=HOUMON.number))["transmission_id"]
        assert parsed == [201], "an accepted submit's transmission id comes from its chain"
        with pytest.raises(CareplanError):
            await kyotaku.acknowledge("0" * 32)  # refused: its code is read from the answer
        assert len(parsed) == 2 and parsed[1] >= 400
    entries = await journal(hub, office=KYOTAKU.number)
    login, send, refused = entries[-3:]
    assert login["route"] == "/api/v1/session" and login["user_id"] == KYOTAKU.user
    assert send["transmission"] == tid and send["status"] == 201 and send["code"] is None
    assert refused["code"] == "TRANSMISSION_NOT_FOUND" and refused["status"] == 404
