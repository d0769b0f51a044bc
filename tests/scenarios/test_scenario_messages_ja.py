"""What the scenario runner says itself is Japanese first with the English beside it, on one line:
`file:line: 日本語 / English` (QA teams read these; the English keeps the key, label or code)."""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path

import pytest

from careplan.errors import is_japanese
from scenarios.loader import ScenarioError, load_file
from scenarios.runner import run_scenario
from tests.conftest import HubUnderTest
from tests.test_translations import _literal_text  # the literal parts of a message expression

ROOT = Path(__file__).resolve().parents[2]
SHAPE = re.compile(r"bad\.yaml:(?P<line>\d+): (?P<ja>[^\n]+?) / (?P<en>[^\n]+)")

HEAD = """\
name: x
clock: 2026-04-10T10:00:00+09:00
offices:
  居宅A: {kind: "43"}
steps:
"""


@pytest.mark.parametrize(
    ("body", "line", "japanese", "english"),
    [
        pytest.param(
            HEAD.replace("name: x", "name: x\nowner: QA") + "  - as: 居宅A\n    login: {}\n",
            2,
            "シナリオに項目 'owner' は書けません（name, tags, clock, offices, steps, description のいずれか）",
            "unknown key 'owner'",
            id="unknown key",
        ),
        pytest.param(
            HEAD.replace("clock: 2026-04-10T10:00:00+09:00\n", "") + "  - as: 居宅A\n    login: {}\n",
            1,
            "項目 'clock' がありません",
            "missing 'clock'",
            id="missing clock",
        ),
        pytest.param(
            HEAD.replace('kind: "43"', "kind: houmon") + "  - as: 居宅A\n    login: {}\n",
            4,
            "事業所 '居宅A' の kind 'houmon' はサービス種類コード",
            "office '居宅A': kind 'houmon' is not a サービス種類コード like \"43\"",
            id="bad office kind",
        ),
        pytest.param(
            HEAD + "  - as: 居宅A\n    login: {}\n    logout: {}\n",
            6,
            "ステップ 1: ステップにはアクションを 1 つだけ書きます（login, logout の 2 つがあります）",
            "one action per step, got 2 (login, logout)",
            id="two actions in a step",
        ),
        pytest.param(
            HEAD + "  - as: 居宅A\n    login: {}\n    expect: {error: NOT_A_CODE}\n",
            8,
            "ステップ 1: expect のエラーコード 'NOT_A_CODE' はありません（careplan errors で一覧できます）",
            "expect: unknown error code 'NOT_A_CODE' (careplan errors lists them)",
            id="unknown expect code",
        ),
        pytest.param(
            HEAD + "  - as: 居宅A\n    login: {}\n    as: 居宅A\n",
            8,
            "項目 'as' が二度書かれています",
            "duplicate key 'as'",
            id="duplicate key",
        ),
        pytest.param(
            HEAD + "  - as: 居宅A\n    apply: cash\n",
            7,
            "ステップ 1: apply: 支払方法 'cash' は使えません（deduction, invoice, 差引, 請求書 のいずれか）",
            "payment 'cash' is not one of those listed",
            id="payment, choices listed once",
        ),
        pytest.param(
            HEAD + "  - as: 居宅A\n    login: {}\n    expect: RECIPIENT_NOT_LICENSE\n",
            8,
            "ステップ 1: expect のエラーコード 'RECIPIENT_NOT_LICENSE' はありません",
            "expect: unknown error code 'RECIPIENT_NOT_LICENSE' (careplan errors lists them)",
            id="unknown expect code, short form",
        ),
        pytest.param(
            HEAD.replace("2026-04-10T10:00:00", "1900-04-10T10:00:00") + "  - as: 居宅A\n    login: {}\n",
            2,
            "'1900-04-10T10:00:00+09:00' はハブの時計で扱えない日時です（2000年～2099年）",
            "'1900-04-10T10:00:00+09:00' is outside the hub clock's years 2000-2099",
            id="scenario clock before 2000",
        ),
        pytest.param(
            HEAD + "  - clock: {set: 2150-01-01}\n",
            6,
            "ステップ 1: '2150-01-01' はハブの時計で扱えない日時です",
            "'2150-01-01' is outside the hub clock's years 2000-2099",
            id="clock set after 2099",
        ),
        pytest.param(
            HEAD + "  - clock: {advance: {days: abc}}\n",
            6,
            "ステップ 1: clock の advance には {days, hours, minutes, seconds} を数で書きます",
            "clock advance takes numbers of {days, hours, minutes, seconds}, less than a century in all",
            id="clock advance by a word",
        ),
        pytest.param(
            HEAD + "  - clock: {advance: {days: 10000000000}}\n",
            6,
            "ステップ 1: clock の advance には",
            "clock advance takes numbers of {days, hours, minutes, seconds}, less than a century in all",
            id="clock advance past what a timedelta holds",
        ),
        pytest.param(
            HEAD + "  - as: 居宅A\n    inbox: {expect_count: many}\n",
            7,
            "ステップ 1: inbox: expect_count 'many' は 0 以上の整数ではありません",
            "expect_count 'many' is not a whole number ≥ 0",
            id="inbox expect_count a word",
        ),
        pytest.param(
            HEAD + "  - as: 居宅A\n    inbox: {expect_ids: 5}\n",
            7,
            "ステップ 1: inbox: expect_ids 5 は送信 ID のリストではありません",
            "expect_ids 5 is not a list of transmission ids (e.g. [${tid}])",
            id="inbox expect_ids not a list",
        ),
        pytest.param(
            HEAD + "  - as: 居宅A\n    sent: {expect_status: [a, b]}\n",
            7,
            "ステップ 1: sent: expect_status には {送信ID: 状態} を書きます",
            "expect_status maps transmission ids to a status (e.g. {${tid}: ダウンロード済})",
            id="sent expect_status a list",
        ),
        pytest.param(
            HEAD + "  - faults: {add: [{kind: latency, latency_ms: 1}], seed: abc}\n",
            6,
            "ステップ 1: faults: seed 'abc' は整数ではありません",
            "seed 'abc' is not a whole number",
            id="faults seed a word",
        ),
        pytest.param(
            HEAD + "  - snapshot: {save: ../evil}\n",
            6,
            "ステップ 1: snapshot: 名前 '../evil' は使えません",
            "name '../evil': 1-64 letters, digits, '.', '_', '-', first a letter or digit",
            id="snapshot name with a path",
        ),
        pytest.param(
            HEAD + "  - as: 居宅A\n    bulk_send: {plans_to: [居宅A], count: 100000000}\n",
            7,
            "ステップ 1: bulk_send: count 100000000 は 1〜1000 の整数ではありません",
            "count 100000000 is not a whole number from 1 to 1000",
            id="bulk_send count huge",
        ),
        pytest.param(
            HEAD + "  - as: 居宅A#x\n    login: {}\n",
            6,
            "ステップ 1: '居宅A#x' の端末番号は 1 以上の整数で書きます",
            "terminal number in '居宅A#x' must be 1 or more",
            id="terminal number a word",
        ),
        pytest.param(
            HEAD.replace('  居宅A: {kind: "43"}\n', '  居宅A: {kind: "43"}\n  ? [x, y]\n  : {}\n')
            + "  - as: 居宅A\n    login:\n",
            5,
            "項目名にリストやマッピングは使えません",
            "a key cannot be a list or mapping",
            id="a list as a key (was exit 70, TypeError)",
        ),
        pytest.param(
            HEAD.replace("name: x", "name: [a, b]") + "  - as: 居宅A\n    login:\n",
            1,
            "name にはシナリオの名前を文字で書きます",
            "name is the scenario's name, as text",
            id="name a list",
        ),
        pytest.param(
            HEAD + "  - as: 居宅A\n    login:\n---\n" + HEAD + "  - as: 居宅A\n    logout:\n",
            9,
            "シナリオ名 'x' は 1 行目のシナリオと同じです（名前を変えてください）",
            "duplicate scenario name 'x' (line 1)",
            id="two scenarios of one name in a file",
        ),
    ],
)
def test_loader_errors_are_japanese_then_english(
    tmp_path: Path, body: str, line: int, japanese: str, english: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(textwrap.dedent(body), "utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_file(path)
    text = str(caught.value)
    shape = SHAPE.fullmatch(text)
    assert shape, text
    assert int(shape["line"]) == line, text
    assert is_japanese(shape["ja"]) and shape["ja"].startswith(japanese), text
    assert shape["en"] == english, text
    assert not is_japanese(shape["en"]), text  # the English names values, it is not Japanese again


CHECKS_FAIL = "---\n".join(  # each step's own check fails; the run goes on to the next scenario
    HEAD.replace("name: x", f"name: {name}").replace(
        '  居宅A: {kind: "43"}\n', '  居宅A: {kind: "43"}\n  訪問B: {kind: "11"}\n'
    )
    + step
    for name, step in (
        ("受信一覧の件数が違う", "  - as: 居宅A\n    inbox: {expect_count: 2}\n"),
        ("拒否されるはずが通る", "  - as: 居宅A\n    login: {}\n    expect: ALREADY_DOWNLOADED\n"),
        ("変数がない", "  - as: 居宅A\n    download: ${tid}\n"),
        ("一括送信の件数が違う", "  - as: 居宅A\n    bulk_send: {plans_to: [訪問B], expect_sent: 2}\n"),
    )
)


async def test_a_failing_step_check_says_why_japanese_then_english(tmp_path: Path) -> None:
    path = tmp_path / "checks.yaml"
    path.write_text(CHECKS_FAIL, "utf-8")
    notes = []
    for scenario in load_file(path):
        result = await run_scenario(scenario)
        assert not result.passed and not result.error, result.error
        notes.append(result.steps[0].note)
    assert notes[0] == "受信一覧は 0 件でした（想定は 2 件） / inbox holds 0, expected 2"
    assert notes[1].startswith(
        "ALREADY_DOWNLOADED で拒否されるはずが成功しました / expected ALREADY_DOWNLOADED, but it succeeded ("
    ), notes[1]
    assert notes[2] == (
        "変数 ${tid} がありません（前のステップに save: tid を書きます）"
        " / no variable ${tid} (save: tid on an earlier step)"
    )
    assert notes[3] == "送信できたのは 1 件でした（想定は 2 件） / expect_sent 2, got 1"


async def test_a_clock_move_past_2099_is_the_steps_refusal_not_a_setup_failure(tmp_path: Path) -> None:
    # in process as against a running hub (its admin API answers BAD_REQUEST), the clock stays put
    path = tmp_path / "far.yaml"
    path.write_text(
        HEAD + "  - clock: {advance: {days: 36500}}\n    expect: BAD_REQUEST\n  - as: 居宅A\n    login: {}\n"
    )
    [scenario] = load_file(path)
    result = await run_scenario(scenario)
    assert result.passed, (result.error, [s.note for s in result.steps])
    assert "2000年～2099年" in result.steps[0].explanation["detail"]


async def test_a_clock_move_past_2099_reads_the_same_in_process_as_from_the_admin_api(
    tmp_path: Path, hub: HubUnderTest
) -> None:
    """The in-process driver worded its own refusal beside the admin API's: one scenario, two texts."""
    path = tmp_path / "far.yaml"
    path.write_text(HEAD + "  - clock: {advance: {days: 36500}}\n    expect: BAD_REQUEST\n")
    [scenario] = load_file(path)
    in_process = (await run_scenario(scenario)).steps[0].explanation
    admin = {"Authorization": "Bearer test-admin-token"}
    await hub.raw("POST", "/admin/v1/clock", json={"set": "2026-04-10T10:00:00+09:00", "frozen": True}, headers=admin)
    move = {"advance_seconds": 36500 * 86400}
    _, ja = await hub.raw("POST", "/admin/v1/clock", json=move, headers={**admin, "Accept-Language": "ja"})
    _, en = await hub.raw("POST", "/admin/v1/clock", json=move, headers={**admin, "Accept-Language": "en"})
    from_api = {"detail": ja["detail"], "fix": ja["fix"], "detail_en": en["detail"], "fix_en": en["fix"]}
    assert {key: in_process[key] for key in from_api} == from_api


# --- every message raised in scenarios/ is written in both languages ---------------------------------
RAISERS = {"ScenarioError", "StepFailed", "ValueError", "fail", "error"}  # error: the loader's where.error(line, text)


def _messages(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
        if name in RAISERS:
            found.append((node.lineno, _literal_text(node.args[-1])))
    return found


SOURCES = sorted(p for p in (ROOT / "scenarios").rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_message_the_runner_raises_is_japanese_then_english(path: Path) -> None:
    for line, text in _messages(path):
        if not any(c.isalpha() for c in text):
            continue  # only values and punctuation ("{path.name}:{exc}"): the text is made elsewhere
        where = f"{path.relative_to(ROOT)}:{line}"
        japanese, slash, english = text.partition(" / ")
        assert slash, f"{where}: no ' / ' between Japanese and English: {text!r}"
        assert is_japanese(japanese), f"{where}: not Japanese first: {text!r}"
        assert re.search(r"[A-Za-z]{2}", english) and "\n" not in text, f"{where}: no English beside: {text!r}"
