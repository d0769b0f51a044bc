"""`careplan fixtures generate|broken`: seeded test data on disk (issue #6 item 1).

- `generate --offices N --users M --month YYYYMM --seed S --out DIR`: a spec-valid month
  (fixtures.generate); the same arguments write byte-identical files.
- `broken --out DIR`: each variant of fixtures.broken in DIR/<name>/ (only its files, so
  `careplan validate DIR/<name>` sees the transmission as is) and DIR/README, one line per
  variant naming the rule the validator must report.
Exit status: 0 done, 2 usage.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from careplan.helptext import month, number_in, with_examples
from client import render
from fixtures.broken import BROKEN
from fixtures.generate import UNITS, generate, write

EXAMPLES = {
    "": "例: careplan fixtures generate --month 202604 --out month/\n    careplan fixtures broken --out broken/",
    "generate": "例: careplan fixtures generate --month 202604 --offices 8 --users 20 \\\n      --seed 1 --out month/",
    "broken": "例: careplan fixtures broken --out broken/",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="careplan fixtures", description="write seeded test data")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    gen = sub.add_parser("generate", help="a spec-valid month of CSV files")
    # Bounded: 1000 offices and 10,000 users write 185,776 files (745 MB) in 30 s here, a
    # month-start load test's worth, not a typo's 100,000,000 that would run until the disk is full.
    gen.add_argument("--offices", type=number_in(2, 1000), default=8, help="offices (a quarter 居宅介護支援; 2–1000)")
    gen.add_argument("--users", type=number_in(1, 10000), default=20, help="users (1–10000)")
    gen.add_argument("--month", type=month, required=True, help="サービス提供年月 YYYYMM")
    gen.add_argument("--seed", type=int, default=0, help="same seed, same files (default: %(default)s)")
    gen.add_argument("--units", default=",".join(UNITS), help=f"comma-separated subset of {', '.join(UNITS)}")
    gen.add_argument("--out", type=Path, required=True, help="folder to write the CSV files into")
    broken = sub.add_parser("broken", help="one folder per deliberately broken variant")
    broken.add_argument("--out", type=Path, required=True, help="folder for one subfolder per variant")
    return with_examples(parser, EXAMPLES)


def _generate(args: argparse.Namespace) -> int:
    units = tuple(u for u in args.units.split(",") if u)
    unknown = [u for u in units if u not in UNITS]
    if unknown:
        print(f"careplan fixtures: 知らない種類です / unknown unit(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    working = (  # seconds at the bounds: a terminal sees that it works (a pipe or a log, nothing)
        render.err.status(f"生成中 / generating: {args.offices} offices, {args.users} users")
        if render.err.is_terminal
        else contextlib.nullcontext()
    )
    try:
        with working:
            dataset = generate(offices=args.offices, users=args.users, month=args.month, seed=args.seed, units=units)
    except ValueError as e:
        print(f"careplan fixtures: 指定が正しくありません / {e}", file=sys.stderr)
        return 2
    paths = write(dataset, args.out)
    print(f"{len(paths)} files in {len(dataset.transmissions)} transmissions → {args.out}")
    return 0


def _broken(args: argparse.Namespace) -> int:
    lines = []
    for breakage in BROKEN:
        folder = args.out / breakage.name
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in breakage.make().items():
            (folder / name).write_bytes(data)
        strict = " (strict mode)" if breakage.strict else ""
        also = f"; also {', '.join(sorted(breakage.also))}" if breakage.also else ""
        lines.append(f"{breakage.name}: {breakage.rule}{strict}: {breakage.description}{also}\n")
    (args.out / "README").write_text("".join(lines), encoding="utf-8")
    print(f"{len(BROKEN)} broken variants → {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as e:
        return int(e.code or 0)
    return _generate(args) if args.command == "generate" else _broken(args)
