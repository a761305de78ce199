"""What the benchmark scripts beside this file share: the workspace root, the interop venv's
Python (DuckDB with its delta extension, deltalake), the `workloads` bench binary and running a
side that prints one JSON line."""
import json
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
VENV_PYTHON = os.path.join(ROOT, "target", "interop-venv", "bin", "python")

# Python run in the venv: a DuckDB connection with the delta extension loaded, as `con`.
DUCKDB_PRELUDE = r"""
import glob, json, os, sys, time
import duckdb, duckdb_extension_delta
ext = glob.glob(os.path.join(os.path.dirname(duckdb_extension_delta.__file__), "extensions", "*", "delta.duckdb_extension"))[0]
con = duckdb.connect()
con.execute(f"LOAD '{ext}'")
"""


def require_venv():
    if not os.path.exists(VENV_PYTHON):
        sys.exit(f"no interop venv at {VENV_PYTHON}: run `cargo test -p strata --test integration interop` once")


def bench_binary():
    """Builds the `workloads` bench (release) and returns its executable."""
    out = subprocess.run(
        ["cargo", "bench", "-p", "strata", "--bench", "workloads", "--no-run", "--message-format=json"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == "workloads" and msg.get("executable"):
            return msg["executable"]
    sys.exit("cannot find the workloads bench binary")


def run_json(cmd):
    """Runs a side; returns the JSON object on its last line of output."""
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])
