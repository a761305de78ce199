"""Type stubs of the native module ``strata._strata`` (the package's public API is the
Python in ``strata/``; these classes are what it wraps)."""

from typing import Any, Callable

__version__: str

class ArrowSchema:
    """An Arrow schema with ``__arrow_c_schema__`` (``pyarrow.schema(s)`` converts it)."""

    @property
    def names(self) -> list[str]: ...
    def __arrow_c_schema__(self) -> object: ...
    def __len__(self) -> int: ...

class ArrowBatch:
    """One record batch with ``__arrow_c_array__``."""

    @property
    def num_rows(self) -> int: ...
    @property
    def schema(self) -> ArrowSchema: ...
    def __arrow_c_array__(self, requested_schema: object | None = None) -> tuple[object, object]: ...

class ArrowStream:
    """A one-shot stream of record batches with ``__arrow_c_stream__``."""

    @property
    def schema(self) -> ArrowSchema: ...
    @property
    def closed(self) -> bool: ...
    def read_next(self) -> ArrowBatch | None: ...
    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...

class RawSnapshot:
    @property
    def version(self) -> int: ...
    @property
    def timestamp_ms(self) -> int: ...
    @property
    def partition_columns(self) -> list[str]: ...
    @property
    def properties(self) -> dict[str, str]: ...
    @property
    def num_files(self) -> int: ...
    @property
    def name(self) -> str | None: ...
    @property
    def description(self) -> str | None: ...
    def schema(self) -> ArrowSchema: ...
    def txn_version(self, app_id: str) -> int | None: ...
    def scan(
        self,
        columns: list[str] | None = None,
        filter: str | None = None,
        limit: int | None = None,
        batch_rows: int | None = None,
    ) -> ArrowStream: ...
    def read(
        self,
        columns: list[str] | None = None,
        filter: str | None = None,
        limit: int | None = None,
    ) -> ArrowStream: ...
    def history(self, limit: int | None = None) -> list[dict[str, Any]]: ...
    def plan_files(
        self, columns: list[str] | None = None, filter: str | None = None
    ) -> list[tuple[str, int]]: ...
    def read_files(
        self,
        paths: list[str],
        columns: list[str] | None = None,
        filter: str | None = None,
    ) -> ArrowStream: ...

class RawTable:
    @staticmethod
    def open(uri: str, storage_options: dict[str, str] | None = None) -> RawTable: ...
    @staticmethod
    def create(
        uri: str,
        schema: Any,
        partition_by: list[str] | None = None,
        properties: dict[str, str] | None = None,
        name: str | None = None,
        description: str | None = None,
        storage_options: dict[str, str] | None = None,
    ) -> RawTable: ...
    @staticmethod
    def write_to(
        uri: str,
        data: Any,
        mode: str | None = None,
        partition_by: list[str] | None = None,
        properties: dict[str, str] | None = None,
        name: str | None = None,
        description: str | None = None,
        storage_options: dict[str, str] | None = None,
        txn: tuple[str, int] | None = None,
        schema_mode: str | None = None,
        commit_metadata: dict[str, str] | None = None,
        target_file_size: int | None = None,
    ) -> tuple[RawTable, dict[str, Any]]: ...
    @property
    def location(self) -> str: ...
    def version(self) -> int: ...
    def snapshot(
        self,
        version: int | None = None,
        timestamp_ms: int | None = None,
        tag: str | None = None,
    ) -> RawSnapshot: ...
    def write(
        self,
        data: Any,
        mode: str | None = None,
        txn: tuple[str, int] | None = None,
        schema_mode: str | None = None,
        commit_metadata: dict[str, str] | None = None,
        target_file_size: int | None = None,
        expected_version: int | None = None,
    ) -> dict[str, Any]: ...
    def delete(
        self, predicate: str | None = None, progress: Callable[[int, int], object] | None = None
    ) -> dict[str, Any]: ...
    def update(
        self,
        set: list[tuple[str, str]],
        predicate: str | None = None,
        progress: Callable[[int, int], object] | None = None,
    ) -> dict[str, Any]: ...
    def merge(
        self,
        source: Any,
        on: str,
        clauses: list[tuple[str, str | None, list[tuple[str, str]] | None]],
        target_alias: str | None = None,
        source_alias: str | None = None,
        schema_mode: str | None = None,
        txn: tuple[str, int] | None = None,
        commit_metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]: ...
    def history(self, limit: int | None = None) -> list[dict[str, Any]]: ...
    def restore(
        self,
        version: int | None = None,
        timestamp_ms: int | None = None,
        tag: str | None = None,
    ) -> dict[str, Any]: ...
    def revert(self, version: int) -> dict[str, Any]: ...
    def tag(self, name: str, version: int) -> bool: ...
    def delete_tag(self, name: str) -> dict[str, Any]: ...
    def tags(self) -> dict[str, dict[str, Any]]: ...
    def vacuum(
        self,
        retention_ms: int | None = None,
        dry_run: bool = False,
        force: bool = False,
        progress: Callable[[int, int], object] | None = None,
    ) -> dict[str, Any]: ...
    def optimize(
        self,
        target_size: int | None = None,
        filter: str | None = None,
        zorder: list[str] | None = None,
        progress: Callable[[int, int], object] | None = None,
    ) -> dict[str, Any]: ...
    def changes(
        self,
        start: int | None = None,
        end: int | None = None,
        columns: list[str] | None = None,
        filter: str | None = None,
    ) -> ArrowStream: ...
    def set_properties(self, properties: dict[str, str]) -> int: ...
