"""The lines a starting hub prints (`careplan hub serve`, `careplan up`): at most WIDTH display
columns (a CJK glyph takes 2) on a terminal or piped to a log, and a URL or a path never broken, so
it can be copied. `careplan up`'s summary lays its label/value lines out with `pair` too."""

from __future__ import annotations

from rich.cells import cell_len

from hub.config import HubConfig
from hub.dburl import without_password

WIDTH = 80
LABEL = 38  # cells before a value in `careplan up`'s summary
STARTED = "ハブが待ち受けを始めました。止めるには Ctrl-C を押してください。"  # Japanese first, above the English


def pair(label: str, value: str, width: int = WIDTH, column: int = LABEL) -> list[str]:
    """`  label  value` as one line when it fits, else the value on a line of its own below."""
    line = f"  {label}{' ' * max(2, column - cell_len(label))}{value}"
    return [line] if cell_len(line) <= width else [f"  {label}", f"    {value}"]


def listening_lines(url: str, config: HubConfig, *, workers: int = 1, width: int = WIDTH) -> list[str]:
    """`STARTED`, then `hub listening on URL (data: DIR); Ctrl-C stops it` when that fits `width`,
    else the URL's line, then the data directory and the database (its URL without the password)
    each on their own."""
    how = f" with {workers} workers" if workers > 1 else ""
    line = f"hub listening on {url}{how} ({config.where}); Ctrl-C stops it"
    if cell_len(line) <= width:
        return [STARTED, line]
    places = [("data", str(config.data_dir))]
    if config.database_url:
        places.append(("database", without_password(config.database_url)))
    return [
        STARTED,
        f"hub listening on {url}{how}; Ctrl-C stops it",
        *(text for label, value in places for text in pair(label, value, width, column=12)),
    ]
