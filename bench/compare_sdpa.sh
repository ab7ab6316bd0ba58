#!/usr/bin/env bash
# vkattn against PyTorch SDPA (FlashAttention-2 backend) on one GPU, in one run:
#   bash bench/compare_sdpa.sh OUT_DIR [extra vkattn-bench flags, e.g. --path=coopmat]
# Times the "compare" preset ((B,H,S,D) = (4,16,4096,64), (4,16,4096,128), (1,16,16384,128),
# (16,16,1024,64), causal and not, fp16, fwd and fwd+bwd) with build/bench/vkattn-bench and
# bench/sdpa_compare.py, and writes OUT_DIR/compare.md: both medians, TFLOP/s with one formula
# (4*B*H*S^2*D, halved when causal, x3.5 for fwd+bwd) and the ratio vkattn / SDPA (time ratio).
# Needs a GPU and torch with CUDA; CI never runs it. Results: bench/RESULTS_H100.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: compare_sdpa.sh OUT_DIR [vkattn-bench flags]}
shift
mkdir -p "$out"
"$root/build/bench/vkattn-bench" --preset=compare "$@" --benchmark_out="$out/vkattn.csv" \
  --benchmark_out_format=csv >"$out/vkattn.txt" 2>&1
python3 "$root/bench/sdpa_compare.py" --preset=compare --passes=fwd,fwdbwd >"$out/sdpa.csv" 2>"$out/sdpa.err"
python3 - "$out" <<'PY'
import csv, re, sys
out = sys.argv[1]
sdpa = {}
for row in csv.DictReader(open(f"{out}/sdpa.csv")):
    sdpa[row["name"]] = float(row["ms"])
lines = open(f"{out}/vkattn.csv").read().splitlines()
start = next(i for i, l in enumerate(lines) if l.startswith("name,"))
rows = []
for row in csv.DictReader(lines[start:]):
    if row.get("error_occurred") == "true":
        rows.append((row["name"], None, row.get("error_message", "")))
        continue
    name = row["name"].split("/manual_time")[0]
    ms = float(row["real_time"]) / 1e6 if row.get("time_unit") == "ns" else float(row["real_time"])
    if row.get("time_unit") == "us":
        ms = float(row["real_time"]) / 1e3
    rows.append((name, ms, row.get("label", "")))
print_rows = ["| case | vkattn ms | SDPA ms | vkattn TFLOP/s | SDPA TFLOP/s | vkattn / SDPA | variant |",
              "|---|---|---|---|---|---|---|"]
for name, ms, label in rows:
    key = re.sub(r"^(fwd|fwdbwd)/f16/(\w+)/(b\d+_h\d+x\d+_sq\d+_sk\d+_d\d+).*$", r"\1/f16/\2/\3", name)
    m = re.match(r"(fwd|fwdbwd)/f16/(\w+)/b(\d+)_h(\d+)x\d+_sq(\d+)_sk\d+_d(\d+)", key)
    if ms is None or m is None or key not in sdpa:
        print_rows.append(f"| {name} | {ms} | {sdpa.get(key)} | | | | {label} |")
        continue
    p, mask, b, h, s, d = m.group(1), m.group(2), *map(int, m.group(3, 4, 5, 6))
    flops = 4 * b * h * s * s * d / (2 if mask != "nomask" else 1) * (3.5 if p == "fwdbwd" else 1)
    print_rows.append(f"| {key} | {ms:.3f} | {sdpa[key]:.3f} | {flops / ms / 1e9:.1f} | {flops / sdpa[key] / 1e9:.1f} | "
                      f"{sdpa[key] / ms:.3f}x | {label} |")
open(f"{out}/compare.md", "w").write("\n".join(print_rows) + "\n")
print("\n".join(print_rows))
PY
