// vkattn/plan_overrides.hpp — context-wide overrides of the kernel path and of the tensor-core
// tiles, for benchmarking and tuning. Each may also come from an environment variable, read once
// when the context is created (Context::options() then names it in from_environment).
#pragma once

#include <cstdint>

#include "vkattn/kernel_path.hpp"

namespace vkattn {

// 0 (or kAuto) leaves a choice to the planner. A field left at its default takes the value of
// the environment variable named beside it; a value set here wins over the variable. Malformed
// or disallowed values fail Context::create / adopt with kInvalidArgument naming the field (or
// the variable) and the value. The cm_* tile overrides apply to the coopmat kernels only; a forced
// tiling those kernels cannot hold makes a coopmat plan kUnsupported, naming it. `splits`
// applies to the scalar forward.
struct PlanOverrides {
  // Used where a desc says kAuto; a desc.path other than kAuto wins. VKATTN_PATH.
  KernelPath path = KernelPath::kAuto;
  std::uint32_t cm_block_q = 0;         // forward query tile: 64, 128 or 256. VKATTN_CM_BLOCK_Q
  std::uint32_t cm_block_k = 0;         // forward key tile: 16, 32 or 64. VKATTN_CM_BLOCK_K
  std::uint32_t cm_subgroups = 0;       // forward 32-lane subgroups: 4 or 8. VKATTN_CM_SUBGROUPS
  std::uint32_t cm_bwd_rows = 0;        // backward rows per workgroup: 64 or 128. VKATTN_CM_BWD_ROWS
  std::uint32_t cm_bwd_block_cols = 0;  // backward streamed tile: 16, 32 or 64. VKATTN_CM_BWD_BLOCK_COLS
  // 1: the coopmat kernels (forward, decode and backward) load each staged tile at its turn
  // instead of fetching the next one into registers while this one computes (KV_AHEAD = 0 in the
  // forward, TILE_AHEAD = 0 in the backward; variant names end "_noprefetch"). The default
  // (0) leaves it to the measured tile rules. VKATTN_CM_NO_PREFETCH
  std::uint32_t cm_no_prefetch = 0;
  // 1: the coopmat forward (prefill and decode) staggers its loads: each tile's V is fetched into
  // registers while S = Q K^T and the softmax compute, and the next tile's K while P V computes
  // (KV_AHEAD = 2; variant names end "_stagger"): half the registers of fetching both ahead, one
  // more barrier per tile. Not with cm_no_prefetch. VKATTN_CM_STAGGER
  std::uint32_t cm_stagger = 0;
  // Split-K forward (scalar kernel): workgroups along each row's keys, a power of two up to 1024
  // (1: no split). Otherwise chosen from the device's compute units, the keys and the rows
  // (planning/split_k.hpp). VKATTN_SPLITS
  std::uint32_t splits = 0;
  // 1: where kAuto takes the coopmat kernels, take their VK_KHR_cooperative_matrix build if it
  // can run (KernelPath::kCoopmatKhr; the NV build otherwise). For the GPU suite's KHR pass and
  // for comparing the builds; VKATTN_PATH = coopmat_khr, by contrast, refuses what it cannot run.
  // VKATTN_CM_KHR
  std::uint32_t cm_khr = 0;
  // 1: where kAuto takes the tensor cores, take the cooperative-matrix-2 kernels if they can run the
  // pass (KernelPath::kCoopmat2; the coopmat kernels otherwise). For the GPU suite's cm2 pass and
  // for comparing the paths until the automatic choice takes it by measured rules. VKATTN_CM2
  std::uint32_t cm2 = 0;
};

}  // namespace vkattn
