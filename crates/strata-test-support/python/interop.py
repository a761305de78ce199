#!/usr/bin/env python3
"""Interop helper: the Python `deltalake` (delta-rs) package as a second Delta client.

Used by strata's Rust integration tests (tests/integration/support/python.rs) and by
crates/strata/fixtures/generate.py. Needs only the packages pinned in requirements.txt beside it.

Usage:
  interop.py dump TABLE OUT_DIR [--versions a,b,c]
      For each version, write OUT_DIR/v{N}.parquet (DeltaTable(TABLE, version=N)
      .to_pyarrow_table(), exactly as deltalake returns it) and OUT_DIR/versions.json:
      {"versions": [...], "latest": N, "info": {"N": {"num_files", "num_rows",
       "partition_columns", "schema", "min_reader_version", "min_writer_version",
       "reader_features", "writer_features"}}}
      Default versions: every version from the oldest loadable one to the latest
      (versions whose log is gone are skipped).
  interop.py write SCENARIO TABLE
      (Re)create the scenario table at TABLE (anything already there is deleted).
      Scenarios: appends, all_types, partitioned_special, overwrite, delete,
      checkpointed, partitioned_dates.
  interop.py check-read TABLE
      Load and read the latest version; print {"version": N, "rows": R} and exit 0,
      or print the error and exit 1.
  interop.py read CLIENT TABLE OUT.parquet [--version N]
      Read TABLE (at version N, default the latest) with CLIENT and write the rows to
      OUT.parquet: `deltalake` reads through its QueryBuilder SQL path (its pyarrow path
      refuses deletion vectors and column mapping), `duckdb` through DuckDB's `delta`
      extension (`delta_scan`, built on delta-kernel-rs). Exit 1 with the client's error
      when it cannot read the table.
  interop.py changes TABLE OUT.parquet [--start N] [--end N]
      Read TABLE's change data feed with deltalake's `load_cdf` into OUT.parquet.
  interop.py writes TABLE [--delete PREDICATE]
      deltalake writes to TABLE as a user would: appends its current rows again, deletes
      PREDICATE's rows, compacts, and vacuums with zero retention; prints {"version": N,
      "rows": R}, or the error and exit 1 (deltalake refuses writes to tables whose writer
      features it lacks).
  interop.py scenarios
      Print the scenario names, one per line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import sys
import traceback
from decimal import Decimal
from pathlib import Path
from urllib.parse import unquote, urlparse

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable, write_deltalake

UTC = dt.timezone.utc

# --------------------------------------------------------------------------------------
# dump
# --------------------------------------------------------------------------------------

_COMMIT_RE = re.compile(r"^(\d{20})\.json$")
# classic single-part, multi-part (N.checkpoint.i.n.parquet) and v2/uuid checkpoints
_CHECKPOINT_RE = re.compile(r"^(\d{20})\.checkpoint(\..+)?\.(parquet|json)$")
_MULTIPART_RE = re.compile(r"^(\d{20})\.checkpoint\.(\d{10})\.(\d{10})\.parquet$")


def _local_path(table: str) -> Path | None:
    """The table's local directory, or None if it is not on the local filesystem."""
    if "://" not in table:
        return Path(table)
    parsed = urlparse(table)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    return None


def _log_listing(table: str) -> tuple[list[int], dict[int, list[str]]] | None:
    """(commit versions, {checkpoint version: [file names]}) for a local table."""
    path = _local_path(table)
    if path is None:
        return None
    log = path / "_delta_log"
    if not log.is_dir():
        return None
    commits: list[int] = []
    checkpoints: dict[int, list[str]] = {}
    for name in os.listdir(log):
        m = _COMMIT_RE.match(name)
        if m:
            commits.append(int(m.group(1)))
            continue
        m = _CHECKPOINT_RE.match(name)
        if m:
            checkpoints.setdefault(int(m.group(1)), []).append(name)
    commits.sort()
    return commits, checkpoints


def _metadata_from_checkpoint(log: Path, names: list[str]) -> dict | None:
    multipart = [n for n in names if _MULTIPART_RE.match(n)]
    if multipart:
        parts = int(_MULTIPART_RE.match(multipart[0]).group(3))
        if len(multipart) != parts:
            return None  # incomplete multi-part checkpoint
        candidates = [sorted(multipart)]
    else:
        # a classic checkpoint or one (or more) v2 checkpoints; any complete one will do
        candidates = [[n] for n in sorted(names)]
    for files in candidates:
        for name in files:
            f = log / name
            if name.endswith(".json"):
                for line in f.read_text().splitlines():
                    if line.strip():
                        action = json.loads(line)
                        if "metaData" in action:
                            return action["metaData"]
            else:
                schema = pq.read_schema(f)
                if "metaData" not in schema.names:
                    continue
                col = pq.read_table(f, columns=["metaData"]).column("metaData")
                for value in col.to_pylist():
                    if value is not None:
                        return value
    return None


def _raw_metadata(table: str, version: int) -> dict | None:
    """The metaData action in effect at `version`, read straight from the log
    (so `schemaString` is exactly what the writer wrote). None if it can't be found."""
    listing = _log_listing(table)
    if listing is None:
        return None
    commits, checkpoints = listing
    log = _local_path(table) / "_delta_log"
    cp_versions = sorted(v for v in checkpoints if v <= version)
    commit_set = set(commits)
    # Walk back through commits down to the newest usable checkpoint.
    for cp in reversed(cp_versions + [-1]):
        v = version
        ok = True
        while v > cp:
            if v not in commit_set:
                ok = False
                break
            with open(log / f"{v:020d}.json") as fh:
                for line in fh:
                    if line.strip():
                        action = json.loads(line)
                        if "metaData" in action:
                            return action["metaData"]
            v -= 1
        if not ok:
            continue
        if cp < 0:
            return None
        md = _metadata_from_checkpoint(log, checkpoints[cp])
        if md is not None:
            return md
    return None


def _schema_json(table: str, version: int, dtable: DeltaTable) -> dict:
    try:
        md = _raw_metadata(table, version)
    except Exception:  # noqa: BLE001 - fall back to deltalake's view of the schema
        md = None
    if md is not None and md.get("schemaString"):
        return json.loads(md["schemaString"])
    return json.loads(dtable.schema().to_json())


def _candidate_versions(table: str, latest: int) -> list[int]:
    listing = _log_listing(table)
    start = 0
    if listing is not None:
        commits, checkpoints = listing
        known = commits + list(checkpoints)
        if known:
            start = min(known)
    return list(range(start, latest + 1))


def cmd_dump(args: argparse.Namespace) -> int:
    table = args.table
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    latest = DeltaTable(table).version()
    explicit = args.versions is not None
    if explicit:
        wanted = [int(v) for v in args.versions.split(",") if v.strip()]
    else:
        wanted = _candidate_versions(table, latest)

    versions: list[int] = []
    info: dict[str, dict] = {}
    for v in wanted:
        try:
            dtable = DeltaTable(table, version=v)
        except Exception:
            if explicit:
                raise
            continue  # log for this version is gone (e.g. cleaned up before a checkpoint)
        data = dtable.to_pyarrow_table()
        pq.write_table(data, out / f"v{v}.parquet")
        proto = dtable.protocol()
        info[str(v)] = {
            "num_files": len(dtable.file_uris()),
            "num_rows": data.num_rows,
            "partition_columns": list(dtable.metadata().partition_columns),
            "schema": _schema_json(table, v, dtable),
            "min_reader_version": proto.min_reader_version,
            "min_writer_version": proto.min_writer_version,
            "reader_features": sorted(proto.reader_features) if proto.reader_features is not None else None,
            "writer_features": sorted(proto.writer_features) if proto.writer_features is not None else None,
        }
        versions.append(v)

    if not versions:
        raise SystemExit(f"no loadable versions in {table}")
    doc = {"versions": versions, "latest": latest, "info": info}
    (out / "versions.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return 0


# --------------------------------------------------------------------------------------
# write scenarios
# --------------------------------------------------------------------------------------


def _append(path: str, data: pa.Table, **kw) -> None:
    mode = kw.pop("mode", None)
    if mode is None:
        mode = "append" if os.path.exists(os.path.join(path, "_delta_log")) else "error"
    write_deltalake(path, data, mode=mode, **kw)


APPENDS_SCHEMA = pa.schema([("id", pa.int64()), ("name", pa.string()), ("value", pa.float64())])


def _rows(schema: pa.Schema, rows: list[tuple]) -> pa.Table:
    cols = list(zip(*rows)) if rows else [[] for _ in schema]
    return pa.table({f.name: pa.array(list(c), f.type) for f, c in zip(schema, cols)}, schema=schema)


def scenario_appends(path: str) -> None:
    batches = [
        [(1, "alpha", 1.5), (2, "beta", None), (3, None, -3.25), (4, "delta", 0.0)],
        [(5, "epsilon", 5.5), (None, "no id", 6.0), (7, "", 1e300)],
        [(8, "theta", -0.5), (9, None, None), (10, "kappa", 10.0)],
    ]
    for rows in batches:
        _append(path, _rows(APPENDS_SCHEMA, rows))


def _all_types_schema() -> pa.Schema:
    return pa.schema(
        [
            ("bool_col", pa.bool_()),
            ("byte_col", pa.int8()),
            ("short_col", pa.int16()),
            ("int_col", pa.int32()),
            ("long_col", pa.int64()),
            ("float_col", pa.float32()),
            ("double_col", pa.float64()),
            ("decimal_10_2", pa.decimal128(10, 2)),
            ("decimal_38_10", pa.decimal128(38, 10)),
            ("string_col", pa.string()),
            ("binary_col", pa.binary()),
            ("date_col", pa.date32()),
            ("timestamp_col", pa.timestamp("us", tz="UTC")),
            ("timestamp_ntz_col", pa.timestamp("us")),
            ("struct_col", pa.struct([("a", pa.int32()), ("b", pa.string())])),
            ("array_col", pa.list_(pa.int64())),
            ("map_col", pa.map_(pa.string(), pa.int64())),
        ]
    )


def scenario_all_types(path: str) -> None:
    schema = _all_types_schema()
    # No NaN on purpose: it makes naive equality comparisons of dumps fail.
    batch1 = [
        (
            True, 127, 32767, 2147483647, 9223372036854775807, 1.5, 2.25,
            Decimal("12345678.90"), Decimal("1234567890123456789012345678.0123456789"),
            "hello", b"\x00\x01\xff", dt.date(2024, 2, 29),
            dt.datetime(2024, 2, 29, 12, 34, 56, 789012, tzinfo=UTC),
            dt.datetime(2024, 2, 29, 12, 34, 56, 789012),
            {"a": 1, "b": "one"}, [1, 2, 3], [("k1", 1), ("k2", None)],
        ),
        (
            False, -128, -32768, -2147483648, -9223372036854775808, float("-inf"), float("inf"),
            Decimal("-99999999.99"), Decimal("-9999999999999999999999999999.9999999999"),
            "ümlaut ✓ 漢字", b"", dt.date(1900, 1, 1),
            dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
            dt.datetime(1969, 12, 31, 23, 59, 59, 999999),
            {"a": None, "b": None}, [], [],
        ),
        (None,) * len(schema),
    ]
    batch2 = [
        (
            None, 0, None, 0, None, -0.0, None, Decimal("0.01"), None, "", None,
            dt.date(1970, 1, 1), None, dt.datetime(1970, 1, 1), None, [None, 7], None,
        ),
        (
            True, None, 1, None, 42, None, 3.141592653589793, None, Decimal("0E-10"), None,
            b"bytes", None, dt.datetime(2000, 1, 1, tzinfo=UTC), None, {"a": -5, "b": "x"},
            None, [("only", 42)],
        ),
    ]
    _append(path, _rows(schema, batch1))
    _append(path, _rows(schema, batch2))


PARTITION_STRINGS = [None, "", "a b", "a/b", "x=y", "100%", "ümlaut", "a:b", "#hash"]
SPECIAL_SCHEMA = pa.schema([("id", pa.int64()), ("p", pa.string()), ("q", pa.int32()), ("v", pa.string())])


def scenario_partitioned_special(path: str) -> None:
    qs = [None, -1, 0, 7, -2147483648]
    rows1 = [(i, p, qs[i % len(qs)], f"row{i}") for i, p in enumerate(PARTITION_STRINGS)]
    # second append: the same partitions again (some paths get a 2nd file) and q null/negative
    rows2 = [
        (100 + i, p, q, None if i % 3 == 0 else f"second{i}")
        for i, (p, q) in enumerate([(p, q) for p in PARTITION_STRINGS for q in (None, -5)])
    ]
    _append(path, _rows(SPECIAL_SCHEMA, rows1), partition_by=["p", "q"])
    _append(path, _rows(SPECIAL_SCHEMA, rows2))


OVERWRITE_SCHEMA = pa.schema([("id", pa.int64()), ("name", pa.string())])


def scenario_overwrite(path: str) -> None:
    _append(path, _rows(OVERWRITE_SCHEMA, [(1, "a"), (2, "b")]))
    _append(path, _rows(OVERWRITE_SCHEMA, [(3, "c"), (4, None)]))
    _append(path, _rows(OVERWRITE_SCHEMA, [(10, "replaced"), (11, "x")]), mode="overwrite")
    _append(path, _rows(OVERWRITE_SCHEMA, [(12, "after")]))


def scenario_delete(path: str) -> None:
    _append(path, _rows(APPENDS_SCHEMA, [(i, f"n{i}", i * 1.5) for i in range(1, 7)]))
    _append(path, _rows(APPENDS_SCHEMA, [(i, None if i % 4 == 0 else f"n{i}", None) for i in range(7, 13)]))
    DeltaTable(path).delete("id % 2 = 0")


def scenario_checkpointed(path: str) -> None:
    schema = pa.schema([("id", pa.int64())])
    for i in range(105):
        _append(path, pa.table({"id": pa.array([i], pa.int64())}, schema=schema))
    checkpoint = Path(path) / "_delta_log" / "00000000000000000100.checkpoint.parquet"
    if not checkpoint.exists():
        # Not expected with deltalake 1.6.6 (it checkpoints every delta.checkpointInterval=100
        # commits by default), kept so the scenario's shape never silently changes.
        DeltaTable(path, version=100).create_checkpoint()
    if not checkpoint.exists():
        raise SystemExit(f"expected checkpoint {checkpoint} was not written")


DATES_SCHEMA = pa.schema([("id", pa.int64()), ("d", pa.date32()), ("ts", pa.timestamp("us", tz="UTC")), ("v", pa.string())])


def scenario_partitioned_dates(path: str) -> None:
    d1, d2 = dt.date(2021, 1, 1), dt.date(1999, 12, 31)
    t1 = dt.datetime(2021, 1, 1, 0, 0, 0, tzinfo=UTC)
    t2 = dt.datetime(2021, 6, 15, 13, 45, 30, 123456, tzinfo=UTC)
    rows1 = [(1, d1, t1, "a"), (2, d1, t2, "b"), (3, d2, t1, "c"), (4, None, t2, "d")]
    rows2 = [(5, d2, None, "e"), (6, None, None, None), (7, d1, t1, "g")]
    _append(path, _rows(DATES_SCHEMA, rows1), partition_by=["d", "ts"])
    _append(path, _rows(DATES_SCHEMA, rows2))


SCENARIOS = {
    "appends": scenario_appends,
    "all_types": scenario_all_types,
    "partitioned_special": scenario_partitioned_special,
    "overwrite": scenario_overwrite,
    "delete": scenario_delete,
    "checkpointed": scenario_checkpointed,
    "partitioned_dates": scenario_partitioned_dates,
}


def write_scenario(scenario: str, table: str) -> None:
    if scenario not in SCENARIOS:
        raise SystemExit(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
    path = _local_path(table)
    if path is None:
        raise SystemExit("write needs a local path")
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    SCENARIOS[scenario](str(path))


def cmd_write(args: argparse.Namespace) -> int:
    write_scenario(args.scenario, args.table)
    return 0


# --------------------------------------------------------------------------------------
# check-read
# --------------------------------------------------------------------------------------


def cmd_check_read(args: argparse.Namespace) -> int:
    try:
        dtable = DeltaTable(args.table)
        data = dtable.to_pyarrow_table()
    except Exception as e:  # noqa: BLE001
        print(f"deltalake could not read {args.table}: {type(e).__name__}: {e}")
        traceback.print_exc()
        return 1
    print(json.dumps({"version": dtable.version(), "rows": data.num_rows}))
    return 0


# --------------------------------------------------------------------------------------
# read: the table's rows as another client sees them
# --------------------------------------------------------------------------------------


def _read_deltalake(table: str, version: int | None) -> pa.Table:
    from deltalake import QueryBuilder

    dtable = DeltaTable(table, version=version) if version is not None else DeltaTable(table)
    # The result is an arro3 reader; pyarrow takes it through the Arrow C stream interface.
    return pa.table(QueryBuilder().register("t", dtable).execute("SELECT * FROM t").read_all())


def _duckdb_extension() -> str:
    import duckdb
    import duckdb_extension_delta

    root = Path(duckdb_extension_delta.__file__).parent / "extensions"
    path = root / f"v{duckdb.__version__}" / "delta.duckdb_extension"
    if not path.exists():
        raise SystemExit(f"no delta extension for duckdb {duckdb.__version__} under {root}")
    return str(path)


def _read_duckdb(table: str, version: int | None) -> pa.Table:
    import duckdb

    con = duckdb.connect()
    con.execute(f"LOAD '{_duckdb_extension()}'")
    location = table.replace("'", "''")
    at = f", version => {int(version)}" if version is not None else ""
    return con.execute(f"SELECT * FROM delta_scan('{location}'{at})").fetch_arrow_table()


def cmd_duckdb_sql(args: argparse.Namespace) -> int:
    """Runs SQL queries in DuckDB over Delta tables (`delta_scan`), one Parquet file per query.

    The cases file is JSON: {"tables": {"name": {"path": ..., "version": N?}}, "queries":
    [{"sql": ..., "out": ...}]}. Each table is a view named as given, so the same SQL text
    runs in strata and in DuckDB.
    """
    import duckdb

    cases = json.loads(Path(args.cases).read_text())
    con = duckdb.connect()
    con.execute(f"LOAD '{_duckdb_extension()}'")
    for name, table in cases["tables"].items():
        location = table["path"].replace("'", "''")
        at = f", version => {int(table['version'])}" if table.get("version") is not None else ""
        con.execute(f'CREATE VIEW "{name}" AS SELECT * FROM delta_scan(\'{location}\'{at})')
    for query in cases["queries"]:
        try:
            data = con.execute(query["sql"]).fetch_arrow_table()
        except Exception as e:  # noqa: BLE001
            print(f"duckdb could not run {query['sql']!r}: {type(e).__name__}: {e}")
            return 1
        pq.write_table(data, query["out"])
    print(json.dumps({"queries": len(cases["queries"])}))
    return 0


def cmd_changes(args: argparse.Namespace) -> int:
    try:
        dtable = DeltaTable(args.table)
        kwargs = {"starting_version": args.start}
        if args.end is not None:
            kwargs["ending_version"] = args.end
        data = pa.table(dtable.load_cdf(**kwargs).read_all())
    except Exception as e:  # noqa: BLE001
        print(f"deltalake could not read the changes of {args.table}: {type(e).__name__}: {e}")
        return 1
    # Plain strings, whatever view types deltalake returns, so the file reads anywhere.
    columns = [
        c.cast(pa.string()) if pa.types.is_string_view(c.type) else c for c in data.columns
    ]
    pq.write_table(pa.table(columns, names=data.column_names), args.out)
    print(json.dumps({"rows": data.num_rows}))
    return 0


def cmd_read(args: argparse.Namespace) -> int:
    read = {"deltalake": _read_deltalake, "duckdb": _read_duckdb}[args.client]
    try:
        data = read(args.table, args.version)
    except Exception as e:  # noqa: BLE001
        print(f"{args.client} could not read {args.table}: {type(e).__name__}: {e}")
        return 1
    pq.write_table(data, args.out)
    print(json.dumps({"rows": data.num_rows}))
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    """deltalake's DELETE on a table (the peer a strata delete is checked against)."""
    try:
        metrics = DeltaTable(args.table).delete(args.predicate)
    except Exception as e:  # noqa: BLE001
        print(f"deltalake could not delete from {args.table}: {type(e).__name__}: {e}")
        return 1
    print(json.dumps({k: v for k, v in metrics.items() if isinstance(v, (int, float))}))
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    """deltalake's UPDATE on a table (the peer a strata update is checked against)."""
    updates = dict(a.split("=", 1) for a in args.set)
    updates = {k.strip(): v.strip() for k, v in updates.items()}
    try:
        metrics = DeltaTable(args.table).update(updates=updates, predicate=args.predicate)
    except Exception as e:  # noqa: BLE001
        print(f"deltalake could not update {args.table}: {type(e).__name__}: {e}")
        return 1
    print(json.dumps({k: v for k, v in metrics.items() if isinstance(v, (int, float))}))
    return 0


def _merge_one(case: dict) -> dict:
    """One deltalake merge described by `case` (see cmd_merge_batch)."""
    m = DeltaTable(case["table"]).merge(
        pq.read_table(case["source"]),
        predicate=case["on"],
        source_alias="s",
        target_alias="t",
    )
    for clause in case["clauses"]:
        kind, p = clause["kind"], clause.get("predicate")
        if kind == "matched_update":
            m = m.when_matched_update(updates=clause["set"], predicate=p)
        elif kind == "matched_update_all":
            m = m.when_matched_update_all(predicate=p)
        elif kind == "matched_delete":
            m = m.when_matched_delete(predicate=p)
        elif kind == "insert":
            m = m.when_not_matched_insert(updates=clause["set"], predicate=p)
        elif kind == "insert_all":
            m = m.when_not_matched_insert_all(predicate=p)
        elif kind == "by_source_update":
            m = m.when_not_matched_by_source_update(updates=clause["set"], predicate=p)
        elif kind == "by_source_delete":
            m = m.when_not_matched_by_source_delete(predicate=p)
        else:
            raise ValueError(f"unknown clause kind {kind}")
    metrics = m.execute()
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float))}


def cmd_dml_batch(args: argparse.Namespace) -> int:
    """deltalake's DELETE or UPDATE on many tables in one process: `cases` is a JSON list of
    {table, kind: delete|update, predicate?, set?}; writes [{ok, metrics} | {ok: false, error}]."""
    with open(args.cases) as f:
        cases = json.load(f)
    results = []
    for case in cases:
        try:
            dt = DeltaTable(case["table"])
            if case["kind"] == "delete":
                metrics = dt.delete(case.get("predicate"))
            else:
                metrics = dt.update(updates=case["set"], predicate=case.get("predicate"))
            results.append({"ok": True, "metrics": {k: v for k, v in metrics.items()
                                                    if isinstance(v, (int, float))}})
        except Exception as e:  # noqa: BLE001
            results.append({"ok": False, "error": f"{type(e).__name__}: {e}"})
    with open(args.out, "w") as f:
        json.dump(results, f)
    return 0


def cmd_merge_batch(args: argparse.Namespace) -> int:
    """deltalake's MERGE on many tables in one process: `cases` is a JSON list of
    {table, source (a parquet file), on, clauses: [{kind, predicate?, set?}]} with aliases t and
    s; writes a JSON list of {ok, metrics} or {ok: false, error} to `out`."""
    with open(args.cases) as f:
        cases = json.load(f)
    results = []
    for case in cases:
        try:
            results.append({"ok": True, "metrics": _merge_one(case)})
        except Exception as e:  # noqa: BLE001
            results.append({"ok": False, "error": f"{type(e).__name__}: {e}"})
    with open(args.out, "w") as f:
        json.dump(results, f)
    return 0


def cmd_writes(args: argparse.Namespace) -> int:
    """deltalake's write operations on a table another client made (append, delete, optimize,
    vacuum): each fails when deltalake refuses the table's protocol."""
    try:
        rows = DeltaTable(args.table).to_pyarrow_table()
        write_deltalake(args.table, rows, mode="append")
        if args.delete:
            DeltaTable(args.table).delete(args.delete)
        DeltaTable(args.table).optimize.compact()
        DeltaTable(args.table).vacuum(
            retention_hours=0, enforce_retention_duration=False, dry_run=False
        )
        table = DeltaTable(args.table)
        print(json.dumps({"version": table.version(), "rows": table.to_pyarrow_table().num_rows}))
    except Exception as e:  # noqa: BLE001
        print(f"deltalake could not write {args.table}: {type(e).__name__}: {e}")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="interop.py", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("dump", help="dump every version of a table to parquet + versions.json")
    p.add_argument("table")
    p.add_argument("out_dir")
    p.add_argument("--versions", help="comma-separated versions (default: all loadable)")
    p.set_defaults(func=cmd_dump)
    p = sub.add_parser("write", help="create a scenario table")
    p.add_argument("scenario", choices=sorted(SCENARIOS))
    p.add_argument("table")
    p.set_defaults(func=cmd_write)
    p = sub.add_parser("check-read", help="check deltalake can read the latest version")
    p.add_argument("table")
    p.set_defaults(func=cmd_check_read)
    p = sub.add_parser("read", help="read a table with deltalake or duckdb into a parquet file")
    p.add_argument("client", choices=["deltalake", "duckdb"])
    p.add_argument("table")
    p.add_argument("out")
    p.add_argument("--version", type=int)
    p.set_defaults(func=cmd_read)
    p = sub.add_parser("duckdb-sql", help="run SQL queries in DuckDB over delta_scan views")
    p.add_argument("cases")
    p.set_defaults(func=cmd_duckdb_sql)
    p = sub.add_parser("changes", help="read a table's change data feed with deltalake")
    p.add_argument("table")
    p.add_argument("out")
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--end", type=int)
    p.set_defaults(func=cmd_changes)
    p = sub.add_parser("delete", help="delete rows matching a SQL predicate with deltalake")
    p.add_argument("table")
    p.add_argument("predicate")
    p.set_defaults(func=cmd_delete)
    p = sub.add_parser("update", help="update rows with deltalake: --set 'col=expr' ... [--where]")
    p.add_argument("table")
    p.add_argument("--set", action="append", required=True)
    p.add_argument("--where", dest="predicate")
    p.set_defaults(func=cmd_update)
    p = sub.add_parser("dml-batch", help="run many deltalake deletes and updates from a JSON file")
    p.add_argument("cases")
    p.add_argument("out")
    p.set_defaults(func=cmd_dml_batch)
    p = sub.add_parser("merge-batch", help="run many deltalake merges described in a JSON file")
    p.add_argument("cases")
    p.add_argument("out")
    p.set_defaults(func=cmd_merge_batch)
    p = sub.add_parser("writes", help="append, delete, optimize and vacuum with deltalake")
    p.add_argument("table")
    p.add_argument("--delete")
    p.set_defaults(func=cmd_writes)
    p = sub.add_parser("scenarios", help="list scenario names")
    p.set_defaults(func=lambda a: print("\n".join(SCENARIOS)) or 0)
    args = parser.parse_args(argv)
    return args.func(args)


def run_and_exit(func, argv: list[str] | None = None) -> None:
    """Run func(argv) and leave with os._exit.

    deltalake 1.6.6 + pyarrow 26 intermittently abort at interpreter shutdown
    ("terminate called without an active exception", SIGABRT, roughly 1 run in 10
    after a to_pyarrow_table() read) once all work is done. Skipping interpreter
    finalisation with os._exit avoids that; every file we write is closed before.
    """
    try:
        code = func(argv)
    except SystemExit as e:  # argparse errors, explicit SystemExit(msg)
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
            code = 1
        else:
            code = e.code or 0
    except BaseException:  # noqa: BLE001
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run_and_exit(main)
