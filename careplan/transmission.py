"""Transmission states as the offices see them (R5.1, R5.2)."""

from __future__ import annotations

from enum import StrEnum


class DownloadStatus(StrEnum):
    """The send list's download column (R5.1)."""

    PENDING = "未ダウンロード"
    DOWNLOADED = "ダウンロード済"

    @classmethod
    def of(cls, downloaded_at: str | None) -> DownloadStatus:
        return cls.DOWNLOADED if downloaded_at else cls.PENDING
