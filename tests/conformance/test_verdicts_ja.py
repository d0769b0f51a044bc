"""What the conformance kit tells a vendor (a step's reason, what was expected, what arrived, why a
step did not run) reads Japanese first with the English beside it: "日本語 / English". A scan of the
kit's sources fails on a new reason written in one language only."""

from __future__ import annotations

import ast
import datetime as dt
import re
from pathlib import Path

import pytest

from careplan.errors import is_japanese
from conformance.judges import FAIL, NOT_RUN, judge_refused, judge_send_list, judge_sent
from conformance.protocol import Answer
from conformance.wording import Said, joined
from tests.test_translations import _literal_text  # the literal parts of a message expression

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted((ROOT / "conformance").rglob("*.py"))
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")
NOW = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)


def test_a_reason_is_japanese_then_english_and_several_are_not_interleaved() -> None:
    nothing = judge_sent(
        [],
        Answer(
            problem=Said("アダプタが結果の JSON を書き出しませんでした", "the adapter wrote no result JSON"),
            exit_code=1,
        ),
        sender="1370100016",
        recipient="1372991701",
        files=[("連絡メモ.txt", b"x")],
        window=(NOW, NOW),
    )
    assert nothing.status == FAIL
    assert str(nothing.reason) == (
        "このステップで事業所からの送信はハブに保存されませんでした。"
        "アダプタが結果の JSON を書き出しませんでした（終了コード 1）"
        " / the hub stored no transmission from the office in this step; the adapter wrote no result JSON (exit 1)"
    )
    assert str(nothing.expected) == (
        "1370100016 → 1372991701 の送信 1 件（1 ファイル: 連絡メモ.txt）"
        " / one transmission 1370100016 → 1372991701 with 1 file"
    )
    two = joined([Said("一つ目です", "first"), Said("二つ目です", "second")])
    assert str(two) == "一つ目です。二つ目です / first; second"


def test_a_refusal_shown_in_another_code_and_a_wrong_send_list_say_why_in_both_languages() -> None:
    other = Answer(result={"ok": False, "error": {"code": "FORMAT_INVALID", "message": "…"}})
    verdict = judge_refused([], other, code="COMBINATION_INVALID", hub_refusals=[])
    assert str(verdict.reason) == (
        "FORMAT_INVALID で拒否されましたが、COMBINATION_INVALID のはずです"
        " / refused with FORMAT_INVALID, expected COMBINATION_INVALID"
    )
    assert str(verdict.arrived) == "FORMAT_INVALID: 「…」 / FORMAT_INVALID (quoted before the slash)"
    tid = "ab" * 16
    rows = Answer(result={"transmissions": [{"transmission_id": tid, "status": "ダウンロード済"}]})
    wrong = judge_send_list(rows, [{"transmission_id": tid, "downloaded_at": None}])
    assert str(wrong.reason) == f"{tid} の表示は 'ダウンロード済' ですが、ハブでは 未ダウンロード です / " + (
        f"{tid} shows 'ダウンロード済', the hub says 未ダウンロード"
    )
    assert judge_send_list(Answer(), []).status == FAIL  # no list at all: still a reason in both
    assert is_japanese(judge_send_list(Answer(), []).reason.ja)


# --- the scan: every text the kit makes is a Said of Japanese and English ---------------------------
VERDICTS = {"fail", "not_run"}  # their first argument is a step's reason
TEXT_FIELDS = {"reason", "expected", "arrived", "problem"}  # Verdict's and Answer's texts


def _name(node: ast.Call) -> str:
    return node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")


def _is_text(node: ast.expr) -> bool:
    """A string made here (a literal, an f-string, a sum of them): not a Said."""
    return isinstance(node, ast.JoinedStr | ast.BinOp) or (
        isinstance(node, ast.Constant) and isinstance(node.value, str)
    )


def _problems(path: Path, root: Path = ROOT) -> list[str]:
    where = path.relative_to(root)
    problems = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        name, line = _name(node), node.lineno
        if name == "Said" and len(node.args) == 2:
            ja, en = (_literal_text(a) for a in node.args)
            if any(c.isalpha() for c in ja) and not CJK.search(ja):
                problems.append(f"{where}:{line}: not Japanese first: {ja!r}")
            if any(c.isalpha() for c in en) and (is_japanese(en) or not re.search(r"[A-Za-z]{2}", en)):
                problems.append(f"{where}:{line}: no English beside: {en!r}")
        reasons = [node.args[0]] if name in VERDICTS and node.args else []
        reasons += [k.value for k in node.keywords if k.arg in TEXT_FIELDS]
        reasons += node.args[:1] if name == "NotAvailable" else []
        problems += [
            f"{where}:{line}: a text in one language; make it Said(日本語, English)" for r in reasons if _is_text(r)
        ]
    return problems


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_verdict_text_of_the_kit_is_japanese_then_english(path: Path) -> None:
    assert _problems(path) == []


def test_the_scan_finds_a_reason_in_english_only(tmp_path: Path) -> None:
    source = tmp_path / "judge.py"
    source.write_text(
        'fail("the hub stored nothing")\n'
        'not_run(Said("未実施", "not run"))\n'
        'Verdict(status=FAIL, arrived=f"{tid} downloaded")\n'
        'fail(Said("the hub stored nothing", "the hub stored nothing"))\n',
        "utf-8",
    )
    assert sorted(_problems(source, tmp_path)) == [
        "judge.py:1: a text in one language; make it Said(日本語, English)",
        "judge.py:3: a text in one language; make it Said(日本語, English)",
        "judge.py:4: not Japanese first: 'the hub stored nothing'",
    ]
    assert NOT_RUN == "not_run"  # the status values stay as they were, for scripts


def test_the_reports_label_in_both_languages_and_keep_their_machine_names() -> None:
    from conformance import report

    step = {
        "id": "login",
        "refs": ["R2.1"],
        "title": {"ja": "ログインしてください。", "en": "Log in."},
        "status": "fail",
        "reason": "ハブはセッションを開始していません / the hub opened no session",
        "expected": "新しいセッション / a new session",
        "arrived": "セッションなし / no session",
        "evidence": {},
        "adapter": {},
        "duration": 0.1,
    }
    run = {"hub": "https://hub", "office": "1370100016", "adapter": "x", "started": "s", "finished": "f"}
    run |= {"steps": [step]}
    junit = report.to_junit(run)
    assert '<failure message="ハブはセッションを開始していません / the hub opened no session">' in junit
    assert "想定 / expected: 新しいセッション / a new session\n結果 / arrived: セッションなし / no session" in junit
    page = report.to_html(run, baseline={"steps": [step | {"status": "pass"}]})
    assert "不合格 / fail" in page and "判定 / verdict" in page and "網羅表 / Coverage matrix" in page
    assert "基準の実行との違い / Changes against the baseline" in page and "今回 / now" in page
