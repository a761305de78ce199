"""strata's errors as Python exceptions.

Every error strata raises is a :class:`StrataError`. Its subclasses keep the structured
fields of the Rust error as attributes (``ConflictError.version``,
``SchemaMismatchError.problems``, ...), and ``kind`` names the Rust variant
(``"Conflict"``, ``"SchemaMismatch"``, ...). ``str(e)`` is strata's message, which names the
table, file or version and says what to do next.

    >>> try:
    ...     table.append(rows)
    ... except strata.ConflictError as e:
    ...     print(e.version, e.reason_kind)
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "StrataError",
    "TableNotFoundError",
    "TableExistsError",
    "VersionNotFoundError",
    "TimestampOutOfRangeError",
    "ConflictError",
    "SchemaMismatchError",
    "SchemaError",
    "PredicateError",
    "ConstraintViolationError",
    "EvaluationError",
    "MergeMultipleMatchesError",
    "NotAllowedError",
    "UnsupportedFeatureError",
    "CorruptTableError",
    "DataFileMissingError",
    "ChangeDataFeedError",
    "StorageError",
    "InvalidLocationError",
    "InvalidArgumentError",
    "ArrowError",
    "InternalError",
]


class StrataError(Exception):
    """Base class of every strata error.

    Attributes:
        kind: the Rust error variant (``"Conflict"``, ``"VersionNotFound"``, ...).
    """

    kind: str

    def __init__(self, message: str, kind: str | None = None, **fields: Any) -> None:
        super().__init__(message)
        self.kind = kind if kind is not None else type(self).__name__
        for name, value in fields.items():
            setattr(self, name, value)


class TableNotFoundError(StrataError):
    """There is no Delta table at the location (no commits in ``_delta_log/``).

    Attributes:
        location: the table location.
    """

    location: str


class TableExistsError(StrataError):
    """A table was to be created where one already exists.

    Attributes:
        location: the table location.
        version: its latest version.
    """

    location: str
    version: int


class VersionNotFoundError(StrataError, LookupError):
    """The version asked for does not exist or its log was cleaned up.

    Attributes:
        location: the table location.
        version: the version asked for.
        earliest: the earliest version that can be read.
        latest: the latest version.
    """

    location: str
    version: int
    earliest: int
    latest: int


class TimestampOutOfRangeError(StrataError, LookupError):
    """No version was current at the timestamp asked for.

    Attributes:
        location: the table location.
        timestamp: the timestamp asked for (RFC 3339).
        reason: before the first or after the latest commit, with their times.
    """

    location: str
    timestamp: str
    reason: str


class ConflictError(StrataError):
    """A commit lost to a concurrent writer; reload and retry.

    Attributes:
        location: the table location.
        version: the version the winner took.
        reason: why this write cannot go on top of the winner, as a sentence.
        reason_kind: the same as a name: ``version_taken``, ``protocol_changed``,
            ``metadata_changed``, ``file_removed`` (with ``path``), ``files_added``
            (with ``path``), ``txn_conflict`` (with ``app_id``), ``domain_conflict``
            (with ``domain``), ``version_moved`` (with ``expected_version``),
            ``too_many_retries`` (with ``attempts``).
    """

    location: str
    version: int
    reason: str
    reason_kind: str


class SchemaMismatchError(StrataError, ValueError):
    """Data does not match the table schema; nothing was written.

    Attributes:
        location: the table location.
        problems: each problem as one sentence.
    """

    location: str
    problems: list[str]


class SchemaError(StrataError, ValueError):
    """A schema, partition value or statistics setting that strata cannot take."""


class PredicateError(StrataError, ValueError):
    """A predicate or expression that does not parse or does not fit the table's schema."""


class ConstraintViolationError(StrataError, ValueError):
    """Rows break a CHECK constraint, an invariant or a generated column; nothing was
    committed.

    Attributes:
        location: the table location.
        operation: what was writing (``write``, ``update``, ``merge``, ...).
        constraint: the constraint, e.g. ``CHECK constraint positive_amount``.
        expression: its expression.
        violations: how many rows of the checked batch break it.
        sample: the first violating row's values, e.g. ``amount => -3``.
    """

    location: str
    operation: str
    constraint: str
    expression: str
    violations: int
    sample: str


class EvaluationError(StrataError, ArithmeticError):
    """An expression failed on a row (overflow, division by zero, a failed cast, a null
    for a column that takes none); nothing was committed.

    Attributes:
        location: the table location.
        operation: what was running (``update``, ``merge``).
        file: the data file whose row failed.
        expression: the expression as written.
        detail: what went wrong.
    """

    location: str
    operation: str
    file: str
    expression: str
    detail: str


class MergeMultipleMatchesError(StrataError, ValueError):
    """More than one source row matched one target row in a merge; nothing was committed.

    Attributes:
        location: the table location.
        key: the target row's key, as ``column = value, ...``.
    """

    location: str
    key: str


class NotAllowedError(StrataError):
    """The table forbids the operation (e.g. ``delta.appendOnly``), or a rule does.

    Attributes:
        location: the table location.
        operation: what was attempted.
        reason: which property or rule forbids it.
    """

    location: str
    operation: str
    reason: str


class UnsupportedFeatureError(StrataError):
    """The table needs protocol features strata does not support.

    Attributes:
        location: the table location.
        access: ``"read"`` or ``"write"``.
        protocol_version: the table's minReaderVersion or minWriterVersion.
        features: the unsupported features.
    """

    location: str
    access: str
    protocol_version: int
    features: list[str]


class CorruptTableError(StrataError):
    """A log file, checkpoint, tag file or deletion vector is damaged, or the log is
    missing a version or names a path outside the table.

    Attributes:
        path: the file (or the table location for a missing version).
        version: the version concerned, when there is one.
    """

    path: str


class DataFileMissingError(StrataError, FileNotFoundError):
    """A data file the version reads is gone (vacuumed, or deleted by hand).

    Attributes:
        path: the data file.
        version: the version read.
    """

    path: str
    version: int


class ChangeDataFeedError(StrataError):
    """The change data feed does not cover the versions asked for.

    Attributes:
        location: the table location.
        version: the first version not covered.
        reason: why (not enabled, or cleaned up).
    """

    location: str
    version: int
    reason: str


class StorageError(StrataError, OSError):
    """Reading or writing the object store (or a Parquet file on it) failed.

    Attributes:
        path: the object.
    """

    path: str


class InvalidLocationError(StrataError, ValueError):
    """The table location could not be understood, or its store configured.

    Attributes:
        location: what was given.
        reason: why it was refused.
    """

    location: str
    reason: str


class InvalidArgumentError(StrataError, ValueError):
    """An argument strata refuses (an unknown tag, a bad name, a mode it does not know)."""


class ArrowError(StrataError):
    """An Arrow operation failed (e.g. data that cannot be cast)."""


class InternalError(StrataError):
    """A bug in strata: an invariant broke. Nothing was committed; please report it.

    Attributes:
        context: what broke, and where.
    """

    context: str
