"""Sizes as people read them, one convention for every command (client lists and progress bars,
`careplan hub …`): 1 KB = 1,024 bytes, as the platform's "10MB" limit is 10 × 1,024 × 1,024 bytes."""

from __future__ import annotations


def size(n: int | float) -> str:
    """`512 B`, `12.5 KB`, `10.0 MB`."""
    if n < 1024:
        return f"{int(n):,} B"
    if n < 1024 * 1024:
        return f"{n / 1024:,.1f} KB"
    return f"{n / (1024 * 1024):,.1f} MB"
