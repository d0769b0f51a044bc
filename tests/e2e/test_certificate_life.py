"""Certificate life on the hub's clock (R2.2, R6.1): a renewal overlaps the old certificate until it
expires; a re-issued .p12 after a lost password; a new terminal for the same office."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from careplan.certificates import KeyPair
from careplan.errors import MSG_LOGIN_CERT, CareplanError
from fixtures.samples import sample_plan_set
from tests.conftest import HOUMON, KYOTAKU, HubUnderTest, keypair


async def _send_with(hub: HubUnderTest, pair: KeyPair) -> str:
    files = sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number)
    async with hub.client(pair) as client:
        await client.login(KYOTAKU.user, KYOTAKU.password)
        return str((await client.send(list(files.items()), to=HOUMON.number))["transmission_id"])


async def test_renewal_overlaps_until_the_old_certificate_expires(hub: HubUnderTest) -> None:
    now = dt.datetime.now(dt.UTC)
    old = hub.pki.issue(KYOTAKU, now=now, days=30)
    renewed = keypair(hub.pki.ca.reissue(old.certificate.serial_number, now=now, days=730))

    await _send_with(hub, old)  # during the overlap both certificates work
    await _send_with(hub, renewed)

    hub.clock.advance(dt.timedelta(days=31))  # past the old certificate's end
    with pytest.raises(CareplanError) as caught:
        await _send_with(hub, old)
    assert (caught.value.code, caught.value.message) == ("CERT_EXPIRED", MSG_LOGIN_CERT)
    await _send_with(hub, renewed)
    assert await hub.transmission_count() == 3


async def test_reissued_p12_after_a_lost_password_replaces_the_old_one(hub: HubUnderTest) -> None:
    lost = hub.pki.issue(KYOTAKU)
    replacement = keypair(
        hub.pki.ca.reissue(lost.certificate.serial_number, now=dt.datetime.now(dt.UTC), revoke_old=True)
    )
    with pytest.raises(CareplanError) as caught:
        await _send_with(hub, lost)
    assert caught.value.code == "CERT_REVOKED"
    await _send_with(hub, replacement)


async def test_a_new_terminal_of_the_same_office_sees_its_history(hub: HubUnderTest, tmp_path: Path) -> None:
    terminal = hub.pki.issue(KYOTAKU)
    sent = await _send_with(hub, terminal)
    # the office installs the client and its certificate on a new PC: the same .p12 again
    async with hub.client(terminal) as new_pc, hub.client(HOUMON) as houmon:
        await new_pc.login(KYOTAKU.personal_user, KYOTAKU.password + "-c")
        assert [t["transmission_id"] for t in await new_pc.sent()] == [sent]
        await houmon.login(HOUMON.user, HOUMON.password)
        await houmon.download(sent, tmp_path)
        assert (await new_pc.sent())[0]["status"] == "ダウンロード済"
