"""Tables written by Spark with deletion vectors and column mapping, which deltalake's
pyarrow path refuses, read through the Python package."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

import strata
from conftest import spark_fixture


def test_deletion_vector_table():
    path = spark_fixture("with-short-dv")
    table = strata.Table(path)
    got = table.to_arrow()
    # Ids 0..=9 in two files; the vector deletes 3 of the first file's 5 rows.
    raw = sorted(
        i for f in Path(path).glob("*.parquet") for i in pq.read_table(f)["id"].to_pylist()
    )
    assert raw == list(range(10))
    ids = sorted(got["id"].to_pylist())
    assert len(ids) == 7
    assert set(ids) < set(raw)
    assert sorted(set(raw) - set(ids)) == [i for i in range(5) if i not in ids]
    # A filter applies to the rows the vector leaves.
    assert sorted(table.to_arrow(filter="id < 5")["id"].to_pylist()) == [
        i for i in ids if i < 5
    ]


def live_rows_by_hand(path: str) -> list[dict]:
    """The latest version's rows, read without strata: replay the log's add and remove
    actions, read the live files with pyarrow and rename physical columns to logical ones."""
    log = sorted((Path(path) / "_delta_log").glob("*.json"))
    live: set[str] = set()
    mapping: dict[str, str] = {}
    for commit in log:
        for line in commit.read_text().splitlines():
            action = json.loads(line)
            if "add" in action:
                live.add(action["add"]["path"])
            elif "remove" in action:
                live.discard(action["remove"]["path"])
            elif "metaData" in action:
                schema = json.loads(action["metaData"]["schemaString"])
                mapping = {
                    f["metadata"]["delta.columnMapping.physicalName"]: f["name"]
                    for f in schema["fields"]
                }
    tables = []
    for file in sorted(live):
        t = pq.read_table(Path(path) / file)
        t = t.rename_columns([mapping.get(n, n) for n in t.column_names])
        # Spark's CDF-era files may carry a `_change_type` column that is not the table's.
        tables.append(t.select(list(mapping.values())))
    return pa.concat_tables(tables).to_pylist()


def test_column_mapped_table_reads_with_logical_names():
    path = spark_fixture("cdf-column-mapping-name-mode")
    table = strata.Table(path)
    snapshot = table.snapshot()
    assert snapshot.properties["delta.columnMapping.mode"] == "name"
    assert table.schema().names == ["id", "name", "value"]
    got = table.to_arrow()
    assert got.column_names == ["id", "name", "value"]
    # The files hold physical names (col-…), not the logical ones.
    physical = pq.read_schema(next(Path(path).glob("*.parquet"))).names
    assert "name" not in physical
    # Every version reads, and projection uses logical names too.
    for version in range(table.version() + 1):
        rows = table.snapshot(version).to_arrow(columns=["name", "id"])
        assert rows.column_names == ["name", "id"]
    expected = live_rows_by_hand(path)
    assert expected, "the fixture has live rows"
    key = lambda r: (r["id"], str(r["name"]), str(r["value"]))  # noqa: E731
    assert sorted(got.to_pylist(), key=key) == sorted(expected, key=key)
