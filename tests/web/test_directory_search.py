"""The public directory's search (/directory, hub.usage.UsageSite.directory) as people type: an IME's
full-width digits, half-width kana, several words; through the page and the service."""

from __future__ import annotations

from urllib.parse import quote

import aiohttp
import pytest

from client.hubclient import client_ssl_context
from hub.usage import UsageSite
from tests.conftest import HOUMON, KYOTAKU, HubUnderTest


async def _found(hub: HubUnderTest, q: str) -> list[str]:
    return [office["office_number"] for office in await UsageSite(hub.service).directory(q=q)]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        (KYOTAKU.number, [KYOTAKU.number]),
        (KYOTAKU.number.translate(str.maketrans("0123456789", "０１２３４５６７８９")), [KYOTAKU.number]),  # was none
        ("ﾃｽﾄ訪問介護", [HOUMON.number]),  # half-width kana: was none
        ("テスト 訪問", [HOUMON.number]),  # two words: was none
        ("　テスト訪問介護　", [HOUMON.number]),  # an ideographic space around it
        ("訪問 居宅", []),  # every word must be found
    ],
)
async def test_the_directory_finds_an_office_however_its_number_or_name_is_typed(
    hub: HubUnderTest, q: str, expected: list[str]
) -> None:
    assert await _found(hub, q) == expected


async def test_the_directory_page_searches_the_same_way(hub: HubUnderTest) -> None:
    context = client_ssl_context(hub.config.trusted_ca_file, None)
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session,
        session.get(f"{hub.url}/directory?q={quote('テスト　訪問')}") as answer,
    ):
        page = await answer.text()
    assert answer.status == 200 and HOUMON.number in page and KYOTAKU.number not in page
