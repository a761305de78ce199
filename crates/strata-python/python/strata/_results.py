"""What strata's operations return: small frozen dataclasses, named as the Rust structs."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any


def _utc(ms: int) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.timezone.utc)


@dataclass(frozen=True)
class WriteResult:
    """What a write committed.

    Attributes:
        version: the version committed (the table's current version when
            ``already_applied``).
        attempts: commit attempts made (1 without a race).
        already_applied: the ``txn`` was already in the table, so nothing was written.
        num_files: data files added.
        num_rows: rows written.
        num_bytes: bytes of the files added.
        num_removed_files: files an overwrite removed.
    """

    version: int
    attempts: int
    already_applied: bool
    num_files: int
    num_rows: int
    num_bytes: int
    num_removed_files: int


@dataclass(frozen=True)
class DeleteResult:
    """What a delete did; ``version`` is ``None`` when no row matched (nothing committed)."""

    version: int | None
    num_deleted_rows: int
    num_removed_files: int
    num_added_files: int
    num_copied_rows: int
    num_deletion_vectors_added: int


@dataclass(frozen=True)
class UpdateResult:
    """What an update did; ``version`` is ``None`` when no row matched (nothing committed)."""

    version: int | None
    num_updated_rows: int
    num_copied_rows: int
    num_added_files: int
    num_removed_files: int
    num_deletion_vectors_added: int
    num_added_change_files: int


@dataclass(frozen=True)
class MergeResult:
    """What a merge did; ``version`` is ``None`` when it changed nothing."""

    version: int | None
    num_source_rows: int
    num_target_rows_inserted: int
    num_target_rows_updated: int
    num_target_rows_deleted: int
    num_target_rows_copied: int
    num_target_files_added: int
    num_target_files_removed: int
    num_target_deletion_vectors_added: int
    num_target_change_files_added: int
    already_applied: bool


@dataclass(frozen=True)
class UndoResult:
    """What a restore or revert committed.

    Attributes:
        version: the new version.
        target: the version restored, or the commit reverted.
    """

    version: int
    target: int
    num_restored_files: int
    num_removed_files: int
    restored_bytes: int
    removed_bytes: int


@dataclass(frozen=True)
class VacuumReport:
    """What a vacuum deleted (or, with ``dry_run``, would delete)."""

    dry_run: bool
    retention_ms: int
    files: list[str]
    bytes: int
    version: int | None


@dataclass(frozen=True)
class OptimizeResult:
    """What an optimize compacted; ``version`` is the current one when nothing was."""

    version: int
    num_files_removed: int
    num_files_added: int
    bytes_removed: int
    bytes_added: int
    partitions_optimized: int


@dataclass(frozen=True)
class Tag:
    """A named version."""

    version: int
    created_at_ms: int

    @property
    def created_at(self) -> _dt.datetime:
        """When the tag was created (UTC)."""
        return _utc(self.created_at_ms)


@dataclass(frozen=True)
class HistoryEntry:
    """One commit, as the table's history lists it."""

    version: int
    timestamp_ms: int
    operation: str | None
    parameters: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    engine_info: str | None = None
    read_version: int | None = None
    is_blind_append: bool | None = None
    user_metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def timestamp(self) -> _dt.datetime:
        """The commit time (UTC)."""
        return _utc(self.timestamp_ms)
