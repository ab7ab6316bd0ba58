#!/usr/bin/env bash
# On the NVIDIA device machine (../shared/GPU.md): the whole suite under the current validation
# layer, once per kernel path, from a Debian 12 build carried there. Prepare on Debian 12 (the
# build tree is too large to carry as files, so it travels as one archive):
#   .gpu/bundle.tar.xz holding build/ (the build tree without CMakeFiles, objects and static
#     libraries), lib/ (libbenchmark.so.1debian) and vvl/ (Debian 13's vulkan-validationlayers and
#     libvulkan1 1.4.309 .deb files, fetched with a private apt state: GPU.md)
#   .gl/           Debian 12's GL/Vulkan runtime .deb files (GPU.md)
# Usage: bash scripts/gpu_suite.sh OUT_DIR [auto|scalar|coopmat_khr|coopmat2|long ...]   (default: auto scalar)
# (coopmat_khr: the suite with VKATTN_CM_KHR=1: auto takes the KHR build of the coopmat kernels
# wherever it would take their NV build. coopmat2: with VKATTN_CM2=1: auto takes the
# cooperative-matrix-2 forward wherever it can run; tests that check forward variant names against
# the coopmat suffix then fail by name only.)
# Writes OUT_DIR/<pass>/<binary>.<shard>.log and OUT_DIR/summary.txt ("N passed, N failed" per pass).
# That is one file per binary and shard: where a device call brings back only a few files from its
# output folder, give an OUT_DIR outside that folder and copy summary.txt (and the FAILED lines of
# the logs) into it.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: gpu_suite.sh OUT_DIR [passes]}
shift
passes=("$@")
[ ${#passes[@]} -eq 0 ] && passes=(auto scalar)
mkdir -p "$out"
source "$root/scripts/gpu_env.sh"
tests=/work/main/build/tests
long=(forward_sweep_test backward_sweep_test numerics_long_test)
# ring_test needs mpirun and Open MPI, which the device machine does not have: run the ring there
# through examples/ring with Open MPI carried as .mpi/ (scripts/gpu_mpi_env.sh).
skip=(ring_test)
: >"$out/summary.txt"
for pass in "${passes[@]}"; do
  bins=()
  for b in "$tests"/*_test; do
    name=$(basename "$b")
    for k in "${skip[@]}"; do [ "$name" = "$k" ] && continue 2; done
    is_long=0
    for l in "${long[@]}"; do [ "$name" = "$l" ] && is_long=1; done
    if [ "$pass" = long ]; then [ $is_long = 1 ] && bins+=("$b"); else [ $is_long = 0 ] && bins+=("$b"); fi
  done
  path=auto
  [ "$pass" = scalar ] && path=scalar
  khr_env=
  [ "$pass" = coopmat_khr ] && khr_env=VKATTN_CM_KHR=1
  [ "$pass" = coopmat2 ] && khr_env=VKATTN_CM2=1
  mkdir -p "$out/$pass"
  # Each binary in SHARDS GoogleTest shards (the long sweeps are a few binaries of many cases).
  shards=1
  [ "$pass" = long ] && shards=${SHARDS:-5}
  jobs=()
  for b in "${bins[@]}"; do
    for ((i = 0; i < shards; ++i)); do jobs+=("$b $i"); done
  done
  printf '%s\n' "${jobs[@]}" | env VKATTN_PATH=$path $khr_env GTEST_TOTAL_SHARDS=$shards xargs -P 16 -L 1 sh -c \
    'GTEST_SHARD_INDEX=$1 "$0" --gtest_brief=1 >"'"$out/$pass"'/$(basename $0).$1.log" 2>&1; echo "$(basename $0).$1 $?"' \
    >"$out/$pass/exit_codes.txt"
  passed=$(cat "$out/$pass"/*.log | grep -o '\[  PASSED  \] [0-9]* test' | awk '{s+=$4} END {print s+0}')
  failed=$(cat "$out/$pass"/*.log | grep -c '^\[  FAILED  \] .* ms)$')  # --gtest_brief prints no count
  skipped=$(cat "$out/$pass"/*.log | grep -o '\[  SKIPPED \] [0-9]* test' | awk '{s+=$4} END {print s+0}')
  bad=$(awk '$2 != 0' "$out/$pass/exit_codes.txt" | wc -l)
  echo "$pass: $passed passed, $failed failed, $skipped skipped; binaries exiting non-zero: $bad" | tee -a "$out/summary.txt"
done
