#!/usr/bin/env python3
"""Row diffs against what a user does without them: DuckDB `EXCEPT ALL` both ways over two
full versions read with `delta_scan`, on the same table, alternated in one run.

Run from the workspace root after the interop venv exists (any `cargo test` makes it):

    python3 crates/strata/benches/diff_rows.py [--rounds 5] [--dir target/bench-diff]

The table (336,776 standard rows, the size of nycflights13, see `diff_prepare` in
workloads.rs) has three interesting steps: 4 -> 5 appends 1,000 bad rows, 5 -> 6 rewrites
every file with 1% of rows changed, 1 -> 6 spans the whole history.
"""
import argparse
import os
import statistics
import sys

from bench_common import DUCKDB_PRELUDE, ROOT, VENV_PYTHON, bench_binary, require_venv, run_json


DUCKDB_SIDE = DUCKDB_PRELUDE + r"""
table, a, b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t = time.perf_counter()
old = f"delta_scan('{table}', version => {a})"
new = f"delta_scan('{table}', version => {b})"
inserted = con.execute(f"SELECT * FROM {new} EXCEPT ALL SELECT * FROM {old}").fetch_arrow_table().num_rows
deleted = con.execute(f"SELECT * FROM {old} EXCEPT ALL SELECT * FROM {new}").fetch_arrow_table().num_rows
print(json.dumps({"seconds": time.perf_counter() - t, "inserted": inserted, "deleted": deleted}))
"""



def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dir", default=os.path.join(ROOT, "target", "bench-diff"))
    args = parser.parse_args()
    require_venv()
    binary = bench_binary()
    if not os.path.exists(os.path.join(args.dir, "_delta_log", "00000000000000000006.json")):
        print("preparing the table (untimed)...", file=sys.stderr)
        run_json([binary, "diff_prepare", "--dir", args.dir])
    for name, (a, b) in {"bad append": (4, 5), "1% rewrite": (5, 6), "v1 to v6": (1, 6)}.items():
        times = {"strata": [], "duckdb": []}
        counts = {}
        for _ in range(args.rounds):
            ours = run_json([binary, "diff_rows", "--table", args.dir, "--lo", str(a), "--version", str(b)])
            theirs = run_json([VENV_PYTHON, "-c", DUCKDB_SIDE, args.dir, str(a), str(b)])
            times["strata"].append(ours["seconds"])
            times["duckdb"].append(theirs["seconds"])
            counts = {"strata": (ours["inserted"], ours["deleted"]), "duckdb": (theirs["inserted"], theirs["deleted"])}
        if counts["strata"] != counts["duckdb"]:
            sys.exit(f"{name}: the diffs differ: {counts}")
        s, d = statistics.median(times["strata"]), statistics.median(times["duckdb"])
        print(f"{name:12} {a}->{b}: strata {s:.4f} s, duckdb EXCEPT ALL {d:.4f} s, ratio {s / d:.3f}  (inserted, deleted) = {counts['strata']}")


if __name__ == "__main__":
    main()
