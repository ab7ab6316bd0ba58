#!/usr/bin/env bash
# Two builds of vkattn against each other and against PyTorch SDPA, in one run on one GPU:
#   bash bench/compare_builds.sh OUT_DIR OTHER_VKATTN_BENCH [extra vkattn-bench flags]
# Times the compare preset with build/bench/vkattn-bench ("this"), OTHER_VKATTN_BENCH ("other",
# e.g. a build of an earlier commit), then this build again ("this2", to see the run-to-run
# noise), and SDPA once; writes OUT_DIR/{this,other,this2}/compare.md (bench/compare_table.py)
# and OUT_DIR/builds.md, the per-case ratio other / this of the medians. Needs a GPU.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: compare_builds.sh OUT_DIR OTHER_VKATTN_BENCH [flags]}
other=${2:?usage: compare_builds.sh OUT_DIR OTHER_VKATTN_BENCH [flags]}
shift 2
mkdir -p "$out/this" "$out/other" "$out/this2"
run() {  # run BINARY DIR
  "$1" --preset=compare "${@:3}" --benchmark_out="$out/$2/vkattn.csv" --benchmark_out_format=csv \
    >"$out/$2/vkattn.txt" 2>&1
}
run "$root/build/bench/vkattn-bench" this "$@"
run "$other" other "$@"
run "$root/build/bench/vkattn-bench" this2 "$@"
python3 "$root/bench/sdpa_compare.py" --preset=compare --passes=fwd,fwdbwd >"$out/this/sdpa.csv" 2>"$out/sdpa.err"
for d in other this2; do cp "$out/this/sdpa.csv" "$out/$d/sdpa.csv"; done
for d in this other this2; do python3 "$root/bench/compare_table.py" "$out/$d" >/dev/null; done
python3 - "$out" <<'PY'
import csv, sys
out = sys.argv[1]
def medians(d):
    lines = open(f"{out}/{d}/vkattn.csv").read().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("name,"))
    m = {}
    for row in csv.DictReader(lines[start:]):
        if row["name"].endswith("_median"):
            scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[row.get("time_unit") or "ns"]
            m[row["name"].split("/manual_time")[0]] = float(row["real_time"]) * scale
    return m
this, other, this2 = medians("this"), medians("other"), medians("this2")
rows = ["| case | this (ms) | other (ms) | this again (ms) | other / this | this again / this |", "|---|---|---|---|---|---|"]
for k in this:
    if k in other and k in this2:
        rows.append(f"| {k} | {this[k]:.3f} | {other[k]:.3f} | {this2[k]:.3f} | {other[k] / this[k]:.3f} | {this2[k] / this[k]:.3f} |")
open(f"{out}/builds.md", "w").write("\n".join(rows) + "\n")
print("\n".join(rows))
PY
