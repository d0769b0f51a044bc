"""The pieces behind issue 9 part B, without a network: the once-per-interval counter, the log filter,
token buckets, the connection cap below the file limit, which exceptions count as the client's
fault, and audit details without values."""

from __future__ import annotations

import asyncio
import logging
import resource
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from careplan.errors import CareplanError, Finding, Lang
from hub import connections
from hub.audit_words import HELD_BACK, SUMMARY, in_japanese
from hub.bodies import refusal_for
from hub.config import HubConfig
from hub.logs import LOGGED_PATH, Bursts, RepeatFilter, logged_path, quiet_accept_errors
from hub.retention import audit_detail


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_bursts_pass_the_first_of_a_window_and_count_the_rest() -> None:
    time = FakeTime()
    bursts = Bursts(interval=60, burst=2, now=time)
    assert [bursts.admit("k") for _ in range(5)] == [(True, 0), (True, 0), (False, 0), (False, 0), (False, 0)]
    assert bursts.admit("other") == (True, 0)
    time.now = 61
    assert list(bursts.drain()) == [("k", 3)]
    assert bursts.admit("k") == (True, 0), "drained counts are reported once"


def test_bursts_report_held_back_events_with_the_next_window() -> None:
    time = FakeTime()
    bursts = Bursts(interval=10, now=time)
    bursts.admit("k")
    bursts.admit("k")
    time.now = 10
    assert bursts.admit("k") == (True, 1)


def test_bursts_forget_the_oldest_keys_beyond_their_bound() -> None:
    bursts = Bursts(interval=10, now=FakeTime(), max_keys=3)
    for key in range(10):
        bursts.admit(key)
    assert len(bursts._windows) == 3


def test_identical_log_lines_pass_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    time = FakeTime()
    logger = logging.getLogger("hub.test_guards")
    repeat = RepeatFilter(60, now=time)
    logger.addFilter(repeat)
    try:
        with caplog.at_level(logging.INFO, logger="hub.test_guards"):
            for n in range(100):
                logger.info("refused %s", n, extra={"repeat_key": "BAD_REQUEST"})
            logger.info("refused %s", "x", extra={"repeat_key": "OTHER"})
            time.now = 60
            logger.info("refused %s", "again", extra={"repeat_key": "BAD_REQUEST"})
            logger.info("stored transmission %s", "a")  # ordinary lines differ by their text
            logger.info("stored transmission %s", "b")
            logger.info("stored transmission %s", "b")
    finally:
        logger.removeFilter(repeat)
    assert [r.getMessage() for r in caplog.records] == [
        "refused 0",
        "refused x",
        "refused again [99 like this in the previous 60 s not logged]",
        "stored transmission a",
        "stored transmission b",
    ]


async def test_accept_errors_at_the_file_limit_are_one_line(caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.get_running_loop()
    restore = quiet_accept_errors(loop)
    try:
        with caplog.at_level(logging.WARNING):
            loop.call_exception_handler(
                {"message": "socket.accept() out of system resource", "exception": OSError(24, "Too many open files")}
            )
    finally:
        restore()
    assert len(caplog.records) == 1
    assert caplog.records[0].exc_info is None and "file limit" in caplog.records[0].getMessage()


def test_token_buckets_refill_with_time() -> None:
    from hub.limits import TokenBuckets

    time = FakeTime()
    buckets = TokenBuckets(2, period=60, now=time)
    assert [buckets.take("a") for _ in range(3)] == [0, 0, 30.0]
    assert buckets.take("b") == 0, "per key"
    time.now = 30
    assert buckets.take("a") == 0


def test_the_connection_cap_stays_below_the_file_limit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(resource, "getrlimit", lambda _: (1024, 1024))
    monkeypatch.setattr(resource, "setrlimit", lambda *_: None)
    assert connections.connection_cap(HubConfig(data_dir=tmp_path, max_connections=100_000)) == 1024 - 128
    assert connections.connection_cap(HubConfig(data_dir=tmp_path, max_connections=10)) == 10
    monkeypatch.setattr(resource, "getrlimit", lambda _: (256, 256))
    assert connections.connection_cap(HubConfig(data_dir=tmp_path, max_connections=100_000)) == 256 - 64


def _raise_in_aiohttp() -> BaseException:
    from aiohttp.multipart import MultipartReader

    try:
        MultipartReader({"Content-Type": "multipart/form-data"}, None)  # type: ignore[arg-type]
    except ValueError as exc:
        return exc
    raise AssertionError("aiohttp accepted a multipart type without boundary")


def test_only_errors_raised_while_reading_the_body_are_the_clients_fault() -> None:
    request = make_mocked_request("POST", "/api/v1/transmissions", headers={"Content-Type": "multipart/form-data"})
    from_aiohttp = refusal_for(request, _raise_in_aiohttp())
    assert from_aiohttp is not None and from_aiohttp.code == "MULTIPART_MALFORMED"
    assert from_aiohttp.fix and from_aiohttp.detail_en
    try:
        raise ValueError("a bug in the hub")
    except ValueError as ours:
        assert refusal_for(request, ours) is None, "the hub's own ValueError stays INTERNAL"
    too_large = refusal_for(request, web.HTTPRequestEntityTooLarge(max_size=1, actual_size=2))
    assert too_large is not None and (too_large.code, too_large.status) == ("BODY_TOO_LARGE", 413)


def test_audit_details_name_places_not_values() -> None:
    finding = Finding(
        rule="field.date",
        message="利用者生年月日 '19310231' is not YYYYMMDD",
        file="UPHOSOKU.CSV",
        line=3,
        field_no=8,
        field_name="利用者生年月日",
        value="19310231",
        expected="YYYYMMDD",
    )
    error = CareplanError("FORMAT_INVALID", detail="1 error(s): 利用者生年月日 '19310231'", findings=[finding])
    assert audit_detail(error) == "1 finding(s): UPHOSOKU.CSV:3 No.8 利用者生年月日 [field.date]"
    assert audit_detail(CareplanError("BAD_REQUEST", detail="x" * 1000)).endswith("…")


def test_the_hubs_own_words_in_an_audit_detail_read_in_japanese() -> None:
    """`careplan hub audit` shows the words the hub wrote (hub.audit_words), not a raise site's, in Japanese."""
    findings = [Finding(rule="field.date", message="m", file=f"F{n}.CSV", line=n) for n in range(7)]
    detail = audit_detail(CareplanError("FORMAT_INVALID", findings=findings)) + HELD_BACK(3)
    places = "; ".join(f"F{n}.CSV:{n} [field.date]" for n in range(5))
    assert in_japanese(detail) == f"指摘7件: {places}（ほか2件）（これより前の同様の拒否3件は個別に記録していません）"
    assert in_japanese(SUMMARY(4)) == "同様の拒否がほかに4件ありました"
    assert in_japanese("a part named 'x (+2 more)'") == "a part named 'x (+2 more)'"  # a raise site's words


@pytest.mark.parametrize(
    ("seconds", "wait"), [(60, "1分以上待って"), (86400, "1日以上待って"), (61, "1分1秒以上待って")]
)
def test_a_throttled_login_says_until_when_in_japan_time_and_how_long_in_words(seconds: int, wait: str) -> None:
    """The detail gave the hub's UTC ISO time with microseconds ('2026-12-02T10:27:56.125292+00:00
    （ハブ時刻）まで') and the fix '86400秒以上待って'."""
    import datetime as dt

    from hub.throttle import LoginThrottled

    until = dt.datetime(2026, 12, 2, 1, 27, 56, 125292, tzinfo=dt.UTC)
    refusal = LoginThrottled(retry_after=seconds, until=until, what_ja="この接続元", what_en="from this address")
    assert "2026-12-02 10:27:56（ハブ時刻、日本時間）までログインを受け付けません" in refusal.detail
    assert refusal.fix.startswith(wait) and refusal.retry_after == seconds
    assert until.isoformat() in refusal.detail_in(Lang.EN)  # English keeps the exact instant


def test_a_logged_path_is_one_line_and_bounded() -> None:
    """A refused request's log line shows its path percent-encoded (a %0A cannot forge a second
    line) and at most LOGGED_PATH characters of it, with how many more."""
    forged = make_mocked_request("GET", "/api/v1/inbox/x%0A2026-12-02%20INFO%20forged")
    assert logged_path(forged) == "/api/v1/inbox/x%0A2026-12-02%20INFO%20forged"
    long = make_mocked_request("GET", "/api/v1/" + "a" * 8000)
    shown = logged_path(long)
    assert shown.startswith("/api/v1/aaa") and shown.endswith(f"…(+{8008 - LOGGED_PATH})")
    assert len(shown) < LOGGED_PATH + 12
    assert logged_path(make_mocked_request("GET", "/healthz")) == "/healthz"
