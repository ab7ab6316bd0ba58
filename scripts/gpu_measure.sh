#!/usr/bin/env bash
# On the NVIDIA device machine: the measurements a session records in bench/RESULTS_H100.md, each
# under its own time limit, into OUT_DIR, packed as OUT_DIR/all.tgz (the device tool returns a
# limited number of files: keep everything in one archive). Carry .gpu and .gl (gpu_bundle.sh,
# GPU.md), and .mpi for the ring (gpu_mpi_env.sh).
# Usage: bash scripts/gpu_measure.sh OUT_DIR [STEP ...]
# Steps (default: suite gemm compare headdims decode bf16 features cmdecode splits ring):
#   suite     scripts/gpu_suite.sh $SUITE_PASSES (default "auto scalar"; validation layer 1.4.309)
#   gemm      build/bench/vkattn-gemm-probe (each instruction path's GEMM ceiling), its --attention
#             probe (a bare cooperative-matrix-2 forward) and vkattn-bench's forward on that shape
#   compare   bench/compare_sdpa.sh: the compare preset against SDPA (FlashAttention-2)
#   headdims  head dims 72, 80, 96, 112, 192 / 128 (and 64, 128) at S = 4096 and (1, 16, 5776, 72)
#             against SDPA (192 / 128: cuDNN and memory-efficient; FlashAttention-2 refuses Dv != Dk)
#   decode    the decode preset's Sk = 4k and 32k cases against SDPA and the copy bandwidth
#   bf16      the compare shapes in bf16 against SDPA in bf16
#   features  (4, 16, 4096, 128) fp16 plain, with RMSNorm + RoPE on Q and K, and with dropout 0.1
#   cmdecode  decode_test and paged_kv_test (fp16 cases) on the KHR coopmat kernels, and the
#             decode preset's long cases there (auto keeps decode on the scalar kernels until these
#             pass: kCoopmatDecodeByDefault)
#   bwd256    fwd and fwd+bwd at (2, 16, 4096, D) for D = 256 (_dsplit2x4), 192 and 128 against SDPA
#   splits    the decode preset's Sk = 4k and 32k cases, batch 1 and 16 (not paged), at the automatic
#             split count and forced to 2 .. 256 splits (VKATTN_SPLITS), to check split_k.hpp's rule
#   ring      examples/ring on 1, 2 and 4 ranks sharing the GPU (needs .mpi)
#   fetchmodes the coopmat kernels' three ways to load K/V tiles (the next tile in registers, each
#             at its turn: VKATTN_CM_NO_PREFETCH=1, staggered: VKATTN_CM_STAGGER=1): the decode,
#             paged-KV and merge tests with each override (decode's default waits on the first), the
#             forward tests with the stagger, and the forward (D = 64, 80, 96, 128) and decode
#             presets timed each way
#   sass      the machine code of the default forward (D = 64 and 128, with and without a causal
#             mask) and backward (D = 128) variants: registers and shared memory from the driver,
#             and per pipeline the matrix, shared-load, global, barrier and spill (LDL/STL)
#             instructions (scripts/nv_sass.py: needs nvdisasm, and zstd, e.g. Debian's carried
#             in .gpu/bin, which scripts/gpu_env.sh puts on PATH). bench/RESULTS_H100.md's
#             "where the gap goes" table comes from it
#   cm2       the cooperative-matrix-2 forward (KernelPath::kCoopmat2): its tests under validation,
#             a sweep of its tiles (VKATTN_CM_BLOCK_Q/_BLOCK_K/_SUBGROUPS) at (4, 16, 4096, 64 and 128)
#             against the automatic path in the same call, and the compare preset against SDPA
# Limits per step: LIMIT_<STEP> seconds (e.g. LIMIT_SUITE=300), defaults below. The archive is
# rewritten after every step, so a call stopped by its time limit still brings back the steps
# that finished.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: gpu_measure.sh OUT_DIR [steps]}
shift
steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(suite gemm compare headdims decode bf16 features cmdecode splits ring)
mkdir -p "$out"
source "$root/scripts/gpu_env.sh" >/dev/null 2>&1
cd "$root"
limit() { local v="LIMIT_${1^^}"; echo "${!v:-$2}"; }
for step in "${steps[@]}"; do
  start=$(date +%s)
  case "$step" in
    suite) timeout "$(limit suite 330)" bash scripts/gpu_suite.sh "$out/suite" ${SUITE_PASSES:-auto scalar} ;;
    gemm)
      { timeout "$(limit gemm 60)" build/bench/vkattn-gemm-probe
        timeout "$(limit gemm 60)" build/bench/vkattn-gemm-probe --attention=4,16,4096,128
        timeout "$(limit gemm 60)" build/bench/vkattn-bench --shapes=4x16x4096x128 --benchmark_min_time=0.1 \
          --benchmark_filter='^fwd/f16/'; } >"$out/gemm.txt" 2>&1 ;;
    compare) timeout "$(limit compare 300)" bash bench/compare_sdpa.sh "$out/compare" --benchmark_min_time=0.1 ;;
    headdims)
      timeout "$(limit headdims 300)" bash bench/compare_sdpa.sh "$out/headdims" \
        --shapes=4x16x4096x72,4x16x4096x80,4x16x4096x96,4x16x4096x112,1x16x5776x72,4x16x4096x192x128,4x16x4096x64,4x16x4096x128 \
        --benchmark_min_time=0.05 ;;
    # Issue 24's cases only (Sk = 4k and 32k, contiguous and paged): the whole preset's vkattn half
    # alone ran past 270 s on a fresh H100 (thirty-second session), leaving no time for SDPA's.
    decode) timeout "$(limit decode 300)" bash bench/compare_sdpa.sh "$out/decode" --preset=decode \
      --benchmark_filter='sk(4096|32768)' --benchmark_min_time=0.05 ;;
    bf16) timeout "$(limit bf16 300)" bash bench/compare_sdpa.sh "$out/bf16" --preset=compare --dtype=bf16 --benchmark_min_time=0.1 ;;
    features)
      # The names end _qkrope or _dropout10 with those flags: the filter must not anchor on d128/.
      for extra in "" --qk=rms_rope --dropout=0.1; do
        timeout "$(limit features 60)" build/bench/vkattn-bench --shapes=4x16x4096x128 --benchmark_min_time=0.1 $extra
      done >"$out/features.txt" 2>&1 ;;
    cmdecode)
      for b in decode_test paged_kv_test; do
        VKATTN_PATH=coopmat_khr timeout "$(limit cmdecode 60)" build/tests/$b --gtest_filter='*f16*' --gtest_brief=1
      done >"$out/cmdecode_tests.txt" 2>&1
      timeout "$(limit cmdecode 60)" bash bench/compare_sdpa.sh "$out/cmdecode" --preset=decode --path=coopmat_khr \
        --benchmark_filter='sk(4096|32768)' --benchmark_min_time=0.05 ;;
    bwd256)
      timeout "$(limit bwd256 240)" bash bench/compare_sdpa.sh "$out/bwd256" \
        --shapes=2x16x4096x256,2x16x4096x128 --benchmark_min_time=0.05 ;;
    splits)
      for n in auto 2 4 8 16 32 64 128 256; do
        echo "=== splits $n"
        ( [ "$n" = auto ] || export VKATTN_SPLITS=$n
          timeout "$(limit splits 40)" build/bench/vkattn-bench --preset=decode --benchmark_min_time=0.05 \
            --benchmark_filter='b(1|16)_h32x4_sq[18]_sk(4096|32768)_d128(/|$)' )
      done >"$out/splits.txt" 2>&1 ;;
    ring)
      root=$root source scripts/gpu_mpi_env.sh
      for args in "1 --causal --zigzag" "2 --causal --zigzag" "4 --causal --zigzag" "4 --causal" "4"; do
        set -- $args
        n=$1
        shift
        echo "=== $n ranks $*"
        timeout "$(limit ring 120)" orterun --allow-run-as-root --oversubscribe --bind-to none -np "$n" \
          build/examples/example_ring_attention --seq=16384 --heads=16 --dim=128 --dtype=f16 "$@" --backward --repeat=3
      done >"$out/ring.txt" 2>&1 ;;
    fetchmodes)
      for mode in VKATTN_CM_NO_PREFETCH VKATTN_CM_STAGGER; do
        for b in decode_test paged_kv_test merge_test; do
          echo "=== $mode=1 $b"
          env "$mode=1" timeout "$(limit fetchmodes 60)" build/tests/$b --gtest_brief=1
        done
      done >"$out/fetchmodes_tests.txt" 2>&1
      for b in forward_test forward_variants_test head_dims_test fwd_tiles_test; do
        echo "=== VKATTN_CM_STAGGER=1 $b"
        VKATTN_CM_STAGGER=1 timeout "$(limit fetchmodes 60)" build/tests/$b --gtest_brief=1
      done >>"$out/fetchmodes_tests.txt" 2>&1
      for mode in default VKATTN_CM_NO_PREFETCH VKATTN_CM_STAGGER; do
        echo "=== $mode"
        ( [ "$mode" = default ] || export "$mode=1"
          timeout "$(limit fetchmodes 60)" build/bench/vkattn-bench \
            --shapes=4x16x4096x64,4x16x4096x80,4x16x4096x96,4x16x4096x128 --benchmark_filter='^fwd/' \
            --benchmark_min_time=0.1 --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
          timeout "$(limit fetchmodes 60)" build/bench/vkattn-bench --preset=decode --benchmark_min_time=0.05 \
            --benchmark_filter='sk(4096|32768)' --benchmark_repetitions=3 --benchmark_report_aggregates_only=true ) |
          grep -E 'median|rror'
      done >"$out/fetchmodes_bench.txt" 2>&1 ;;
    cm2)
      for b in coopmat2_test kernel_path_test coopmat2_planning_test; do
        timeout "$(limit cm2 90)" build/tests/$b --gtest_brief=1
      done >"$out/cm2_tests.txt" 2>&1
      for tiles in auto "64 64 4" "64 32 4" "64 64 8" "128 64 4" "128 64 8" "128 32 8" "128 32 4" "256 32 8"; do
        echo "=== $tiles"
        if [ "$tiles" = auto ]; then
          timeout 40 build/bench/vkattn-bench --shapes=4x16x4096x64,4x16x4096x128 --benchmark_min_time=0.05 \
            --benchmark_filter='^fwd/f16/(nomask|causal_br)/'
        else
          set -- $tiles
          VKATTN_CM_BLOCK_Q=$1 VKATTN_CM_BLOCK_K=$2 VKATTN_CM_SUBGROUPS=$3 timeout 40 build/bench/vkattn-bench \
            --path=coopmat2 --shapes=4x16x4096x64,4x16x4096x128 --benchmark_min_time=0.05 \
            --benchmark_filter='^fwd/f16/(nomask|causal_br)/'
        fi 2>&1 | grep -E "median|rror"
      done >"$out/cm2_tiles.txt" 2>&1
      timeout "$(limit cm2 300)" bash bench/compare_sdpa.sh "$out/cm2_compare" --path=coopmat2 --benchmark_min_time=0.1 ;;
    sass)
      for c in "fwd 4x16x4096x64 nomask" "fwd 4x16x4096x64 causal_br" "fwd 4x16x4096x128 nomask" \
               "fwd 4x16x4096x128 causal_br" "bwd 4x16x4096x128 nomask" "bwd 4x16x4096x128 causal_br"; do
        set -- $c
        cache=$(mktemp -d)
        echo "=== $1 $2 $3"
        if [ "$1" = fwd ]; then what=(--shapes="$2"); else what=(--preset=fa2); fi
        XDG_CACHE_HOME=$cache timeout "$(limit sass 60)" build/bench/vkattn-bench "${what[@]}" --pipeline-stats \
          --benchmark_filter="^$1/f16/$3/b4_h16x16_sq4096_sk4096_d${2##*x}/" --benchmark_min_time=0.01 2>&1 |
          grep -E '^stats .*(Register Count|Shared Memory Size)' | sort -u
        python3 scripts/nv_sass.py "$cache"/vkattn/*.bin "$cache/sass"
        rm -rf "$cache"
      done >"$out/sass.txt" 2>&1 ;;
    *) echo "unknown step $step" >&2 ;;
  esac
  echo "$step: exit $? after $(($(date +%s) - start)) s" | tee -a "$out/steps.txt"
  tar -C "$out" --exclude=all.tgz --exclude=all.tgz.part -czf "$out/all.tgz.part" . && mv "$out/all.tgz.part" "$out/all.tgz"
done
find "$out" -mindepth 1 ! -name all.tgz ! -name steps.txt -delete
