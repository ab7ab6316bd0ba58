#!/usr/bin/env bash
# vkattn against PyTorch SDPA (FlashAttention-2 backend) on one GPU, in one run:
#   bash bench/compare_sdpa.sh OUT_DIR [extra vkattn-bench flags, e.g. --path=coopmat]
#   bash bench/compare_sdpa.sh OUT_DIR --shapes=4x32x4096x128,8x16x2048x64 [...]   (other shapes, both sides)
#   bash bench/compare_sdpa.sh OUT_DIR --preset=decode   (GQA decode: K/V GB/s against SDPA and the copy bandwidth)
#   bash bench/compare_sdpa.sh OUT_DIR --decode=4x32x8x1x8192x128[,...]   (your decode shapes, both sides)
#   bash bench/compare_sdpa.sh OUT_DIR --dtype=bf16      (both sides in bf16; vkattn runs bf16 on fp16 tensor-core operands where auto picks coopmat)
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
which=--preset=compare  # or the --shapes=... among the flags, for both sides
extra=()
dtype=--dtype=f16
for a in "$@"; do
  case "$a" in
    --shapes=* | --preset=* | --decode=*) which="$a" ;;
    --dtype=*) dtype="$a" ;;  # both sides
    *) extra+=("$a") ;;
  esac
done
"$root/build/bench/vkattn-bench" "$which" "$dtype" "${extra[@]}" --benchmark_out="$out/vkattn.csv" \
  --benchmark_out_format=csv >"$out/vkattn.txt" 2>&1 || echo "vkattn-bench exited $? (failed cases: see vkattn.txt)" >&2
python3 "$root/bench/sdpa_compare.py" "$which" "$dtype" --passes=fwd,fwdbwd >"$out/sdpa.csv" 2>"$out/sdpa.err"
python3 "$root/bench/compare_table.py" "$out"
