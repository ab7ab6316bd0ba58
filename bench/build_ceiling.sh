#!/usr/bin/env bash
# Builds the timing-only "ceiling" vkattn-bench used in bench/RESULTS_H100.md (issue 6):
#   bash bench/build_ceiling.sh [OUT_DIR]           (default build-ceiling/)
# It applies bench/ceiling.patch (exactly: no fuzz) to a scratch copy of the committed tree (HEAD;
# uncommitted changes are not in it) and builds two binaries:
#   OUT_DIR/c1/vkattn-bench  -DVKATTN_CEILING: the coopmat kernels without their elementwise step
#                            (forward: no mask, max, exp2, sum or rescale, P = scale * S; backward:
#                            P^T = S^T, dS = S - dP): products, fragment loads, global fetch,
#                            staging and barriers only.
#   OUT_DIR/c2/vkattn-bench  the same plus -DVKATTN_CEILING_NO_FETCH: the forward stages its first
#                            K/V tile once and reuses it (no global K/V traffic in the loop).
# Their outputs are wrong by design: time them (vkattn-bench --preset=compare --path=coopmat),
# never test them. Nothing here is built by CMake's default targets or CI.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-$root/build-ceiling}")
src="$out/src"
rm -rf "$src" && mkdir -p "$src"
git -C "$root" archive HEAD | tar -x -C "$src"
(cd "$src" && patch -p1 --fuzz=0 --quiet < "$root/bench/ceiling.patch")
build() {  # build() NAME DEFINES
  cmake -S "$src" -B "$out/build-$1" -DCMAKE_BUILD_TYPE=Release -DVKATTN_BUILD_TESTS=OFF \
    "-DVKATTN_TIMING_DEFINES=$2" >/dev/null
  cmake --build "$out/build-$1" -j "${JOBS:-$(nproc)}" --target vkattn-bench >/dev/null
  mkdir -p "$out/$1" && cp "$out/build-$1/bench/vkattn-bench" "$out/$1/"
}
build c1 "VKATTN_CEILING"
build c2 "VKATTN_CEILING;VKATTN_CEILING_NO_FETCH"
echo "built $out/c1/vkattn-bench and $out/c2/vkattn-bench"
