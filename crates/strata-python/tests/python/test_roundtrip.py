"""Data in and out: pyarrow, Polars and pandas round trips, streaming scans, schemas."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import strata
from conftest import sorted_rows


def test_pyarrow_round_trip_with_partitions(uri, people):
    table = strata.write_table(uri, people, partition_by=["country"], name="people")
    assert table.version() == 0
    snapshot = table.snapshot()
    assert snapshot.partition_columns == ["country"]
    assert snapshot.name == "people"
    assert snapshot.num_files == 2  # one per country
    back = table.to_arrow()
    assert isinstance(back, pa.Table)
    assert back.num_rows == 5
    assert sorted_rows(back) == sorted_rows(people)
    # Reopened from the path, as another process would.
    assert sorted_rows(strata.Table(uri).to_arrow()) == sorted_rows(people)


def test_columns_and_filter_are_pushed_down(uri, people):
    table = strata.write_table(uri, people, partition_by=["country"])
    got = table.to_arrow(columns=["name", "id"], filter="country = 'PT' AND id > 1")
    assert got.column_names == ["name", "id"]
    assert sorted_rows(got) == [{"name": "cy", "id": 3}, {"name": "ed", "id": 5}]
    assert table.to_arrow(limit=2).num_rows == 2


def test_polars_round_trip(uri):
    frame = pl.DataFrame(
        {
            "id": [1, 2, 3],
            "label": ["x", None, "z"],
            "weight": [0.5, 1.5, None],
            "day": [dt.date(2026, 1, 1), dt.date(2026, 1, 2), None],
            "tags": [["a"], [], ["b", "c"]],
        }
    )
    table = strata.write_table(uri, frame)
    table.append(frame.with_columns(pl.col("id") + 10))
    back = table.to_polars()
    assert isinstance(back, pl.DataFrame)
    expected = pl.concat([frame, frame.with_columns(pl.col("id") + 10)])
    assert back.sort("id").equals(expected.sort("id"))
    assert back.schema["label"] == pl.String
    assert back.schema["day"] == pl.Date


def test_pandas_round_trip(uri):
    frame = pd.DataFrame(
        {
            "id": [3, 1, 2],
            "city": ["Porto", "Lisboa", None],
            "amount": [10.5, -1.0, 3.25],
            "at": pd.to_datetime(
                ["2026-01-01T10:00:00Z", "2026-06-30T23:59:59Z", "2026-12-07T00:00:00Z"]
            ),
        },
        index=[10, 20, 30],  # a non-default index is not written
    )
    table = strata.write_table(uri, frame)
    assert pa.schema(table.schema()).names == ["id", "city", "amount", "at"]
    back = table.to_pandas().sort_values("id").reset_index(drop=True)
    expected = frame.sort_values("id").reset_index(drop=True)
    pd.testing.assert_frame_equal(back, expected, check_dtype=False)
    assert str(back["at"].dt.tz) == "UTC"


def test_inputs_of_every_arrow_shape(uri, people):
    table = strata.write_table(uri, people)
    batch = people.to_batches()[0]
    table.append(batch)  # __arrow_c_array__
    table.append(pa.RecordBatchReader.from_batches(people.schema, people.to_batches()))
    table.append(pl.from_arrow(people))  # Polars, strings as string views
    assert table.to_arrow().num_rows == 20
    with pytest.raises(TypeError, match="Arrow data"):
        table.append([{"id": 1}])


def test_scan_streams_batches_and_exports_a_c_stream(uri, people):
    table = strata.write_table(uri, people)
    table.append(people)
    stream = table.scan(batch_rows=2)
    assert pa.schema(stream.schema).names == people.column_names
    batches = list(stream)
    assert all(isinstance(b, pa.RecordBatch) for b in batches)
    assert all(b.num_rows <= 2 for b in batches)
    assert sum(b.num_rows for b in batches) == 10
    # The same read through the PyCapsule interface, by pyarrow and by Polars.
    assert pa.table(table.scan(filter="id = 3")).num_rows == 2
    assert pl.DataFrame(table.scan(columns=["id"])).height == 10
    # A stream is consumed once.
    stream = table.scan()
    stream.read_all()
    with pytest.raises(OSError, match="consumed"):
        stream.__arrow_c_stream__()


def test_schema_is_an_arrow_schema(uri, people):
    table = strata.write_table(uri, people)
    schema = table.schema()
    assert schema.names == ["id", "name", "score", "country"]
    assert len(schema) == 4
    assert pa.schema(schema) == people.schema
    assert "id: Int64" in repr(schema)


def test_create_empty_table_from_a_schema(uri, people):
    table = strata.Table.create(
        uri,
        people.schema,
        partition_by=["country"],
        properties={"delta.appendOnly": "true"},
        description="people by country",
    )
    assert table.version() == 0
    assert table.to_arrow().num_rows == 0
    assert table.snapshot().properties["delta.appendOnly"] == "true"
    assert table.snapshot().description == "people by country"
    table.append(people)
    assert table.to_arrow().num_rows == 5


def test_write_table_modes(uri, people):
    strata.write_table(uri, people)
    with pytest.raises(strata.TableExistsError) as e:
        strata.write_table(uri, people)
    assert e.value.version == 0
    assert strata.write_table(uri, people, mode="ignore").version() == 0
    assert strata.write_table(uri, people, mode="append").to_arrow().num_rows == 10
    table = strata.write_table(uri, people.slice(0, 1), mode="overwrite")
    assert table.to_arrow().num_rows == 1
    assert table.version() == 2


def test_without_pyarrow_polars_data_goes_in_and_out(tmp_path):
    """pyarrow is optional: with its import blocked, a Polars frame is written and read."""
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["pyarrow"] = None  # any `import pyarrow` now fails
        import polars as pl
        import strata
        frame = pl.DataFrame({{"id": [1, 2, 3], "s": ["a", "b", None]}})
        table = strata.write_table({str(tmp_path / "t")!r}, frame)
        table.append(frame)
        back = table.to_polars()
        assert back.height == 6, back
        assert sorted(back["id"].to_list()) == [1, 1, 2, 2, 3, 3]
        batches = list(table.scan())
        assert sum(b.num_rows for b in batches) == 6
        assert type(batches[0]).__name__ == "ArrowBatch"
        print("ok")
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_reads_release_the_gil(uri, people):
    """Several threads read the same table at once; each read runs without the GIL."""
    import threading

    table = strata.write_table(uri, people)
    for _ in range(5):
        table.append(people)
    results: list[int] = []
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(5):
                results.append(table.to_arrow().num_rows)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert results == [30] * 20


def test_a_scan_feeds_a_write_and_a_merge(tmp_path, people):
    """strata's own streams go back in: a table copied through its scan, and a merge whose
    source is another table's scan (the reads run while the write consumes them)."""
    source = strata.write_table(str(tmp_path / "src"), people)
    source.append(people)
    copy = strata.write_table(str(tmp_path / "copy"), source.scan(batch_rows=3))
    assert copy.to_arrow().num_rows == 10
    copy.append(source.scan(filter="country = 'NL'"))
    assert copy.to_arrow().num_rows == 14
    target = strata.write_table(str(tmp_path / "target"), people.slice(0, 2))
    result = (
        target.merge(source.snapshot(0).scan(), "t.id = s.id", source_alias="s", target_alias="t")
        .when_matched_update_all()
        .when_not_matched_insert_all()
        .execute()
    )
    assert (result.num_target_rows_updated, result.num_target_rows_inserted) == (2, 3)
    assert sorted_rows(target.to_arrow()) == sorted_rows(people)


def test_a_python_generator_is_written_without_deadlock(uri, people):
    """A pyarrow reader over a Python generator needs the GIL on the thread that reads it,
    while the write runs without it."""

    def batches():
        for i in range(20):
            yield people.to_batches()[0]

    reader = pa.RecordBatchReader.from_batches(people.schema, batches())
    table = strata.write_table(uri, reader)
    assert table.to_arrow().num_rows == 100


def test_concurrent_iteration_of_one_stream(uri, people):
    """Two threads pulling from one stream get every batch exactly once, without deadlock."""
    import threading

    table = strata.write_table(uri, people)
    for _ in range(9):
        table.append(people)
    stream = table.scan(batch_rows=1)
    seen: list[int] = []

    def pull() -> None:
        for batch in stream:
            seen.extend(batch["id"].to_pylist())

    threads = [threading.Thread(target=pull) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert sorted(seen) == sorted(list(range(1, 6)) * 10)
