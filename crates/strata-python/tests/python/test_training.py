"""The training reader: deterministic, disjoint and covering shards, exact resume."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap

import pyarrow as pa
import pytest

import strata
from strata.training import Dataset

ROWS = 5_000


@pytest.fixture
def training_table(uri) -> strata.Table:
    """Several files of different sizes, a deletion vector, rows with an `id` 0..ROWS."""
    table = strata.write_table(
        uri,
        pa.table({"id": pa.array(range(0, 1000), pa.int64()), "x": pa.array([0.5] * 1000)}),
        properties={"delta.enableDeletionVectors": "true"},
    )
    for start, stop in [(1000, 1100), (1100, 3000), (3000, 3001), (3001, ROWS + 100)]:
        table.append(
            pa.table(
                {
                    "id": pa.array(range(start, stop), pa.int64()),
                    "x": pa.array([float(i) for i in range(start, stop)]),
                }
            )
        )
    table.delete(f"id >= {ROWS}")  # the last file's tail, through a deletion vector
    assert table.to_arrow().num_rows == ROWS
    return table


def ids_of(batches) -> list[int]:
    return [i for b in batches for i in b["id"].to_pylist()]


def digest(batches) -> str:
    h = hashlib.sha256()
    for b in batches:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, b.schema) as w:
            w.write_batch(b)
        h.update(sink.getvalue().to_pybytes())
    return h.hexdigest()


def test_reads_every_row_once_in_batches(training_table):
    ds = Dataset(training_table, columns=["id"])
    batches = list(ds.batches(512))
    assert all(b.num_rows == 512 for b in batches[:-1])
    assert sorted(ids_of(batches)) == list(range(ROWS))
    assert ds.state()["batches"] == len(batches)
    dropped = list(ds.batches(512, drop_last=True))
    assert len(dropped) == ROWS // 512
    assert batches[0].schema.names == ["id"]


def test_shuffle_is_deterministic_and_depends_on_seed_and_epoch(training_table):
    ds = Dataset(training_table).with_chunk_bytes(4096).shuffle(seed=7, buffer_rows=1000)
    first = list(ds.batches(256))
    again = list(ds.batches(256))
    assert digest(first) == digest(again)
    assert sorted(ids_of(first)) == list(range(ROWS))
    assert ids_of(first) != sorted(ids_of(first))  # rows really are shuffled
    other_seed = list(Dataset(training_table).with_chunk_bytes(4096).shuffle(8, 1000).batches(256))
    assert ids_of(other_seed) != ids_of(first)
    next_epoch = list(ds.set_epoch(1).batches(256))
    assert ids_of(next_epoch) != ids_of(first)
    assert sorted(ids_of(next_epoch)) == list(range(ROWS))


def test_same_batches_in_another_process(training_table):
    ds = Dataset(training_table.snapshot(5)).with_chunk_bytes(4096).shuffle(3).shard(1, 3)
    here = digest(ds.batches(100))
    script = textwrap.dedent(
        f"""
        import hashlib, pyarrow as pa, strata
        from strata.training import Dataset
        table = strata.Table({training_table.location!r})
        ds = Dataset(table.snapshot(5)).with_chunk_bytes(4096).shuffle(3).shard(1, 3)
        h = hashlib.sha256()
        for b in ds.batches(100):
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, b.schema) as w:
                w.write_batch(b)
            h.update(sink.getvalue().to_pybytes())
        print(h.hexdigest())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == here


@pytest.mark.parametrize("world_size", [1, 2, 3, 8])
def test_shards_are_disjoint_and_cover_the_table(training_table, world_size):
    base = Dataset(training_table).with_chunk_bytes(8192).shuffle(11, buffer_rows=700)
    shards = [ids_of(base.shard(r, world_size).batches(128)) for r in range(world_size)]
    seen = [i for shard in shards for i in shard]
    assert len(seen) == len(set(seen)) == ROWS
    assert set(seen) == set(range(ROWS))
    if world_size > 1:
        assert all(shards), "with chunks of 8 KiB every shard gets rows"


def test_resume_continues_exactly_where_the_state_was_taken(training_table):
    ds = Dataset(training_table).with_chunk_bytes(4096).shuffle(5, buffer_rows=900).shard(0, 2)
    uninterrupted = list(ds.batches(64))
    assert len(uninterrupted) > 10
    for stop_after in [1, 7, len(uninterrupted) - 1]:
        it = ds.batches(64)
        head = [next(it) for _ in range(stop_after)]
        state = json.loads(json.dumps(ds.state()))  # a checkpoint survives JSON
        assert state["batches"] == stop_after
        resumed = Dataset(training_table).with_chunk_bytes(4096).resume(state)
        tail = list(resumed.batches(64))
        assert digest(head + tail) == digest(uninterrupted)
        assert resumed.state()["batches"] == len(uninterrupted)
    with pytest.raises(ValueError):
        Dataset(training_table).resume(state)  # other chunking


def test_reads_a_deletion_vector_table(tmp_path):
    from conftest import spark_fixture

    ds = Dataset(strata.Table(spark_fixture("with-short-dv")), columns=["id"]).shuffle(1)
    got = sorted(ids_of(ds.batches(3)))
    assert got == sorted(strata.Table(spark_fixture("with-short-dv")).to_arrow()["id"].to_pylist())
    assert len(got) == 7
