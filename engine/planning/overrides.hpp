// The context's plan overrides (PlanOverrides) as the planner reads them: each value with the
// name it was set under, so that a refusal names it ("VKATTN_CM_BLOCK_K = 64 needs ...", or
// "options.overrides.cm_block_k = 64 needs ..." when set in code).
#pragma once

#include <cstdint>
#include <string>

#include "vkattn/kernel_path.hpp"

namespace vkattn {

struct TileOverride {
  std::uint32_t value = 0;  // 0: not forced
  std::string source;       // "VKATTN_CM_BLOCK_K" or "options.overrides.cm_block_k"
  std::string text() const { return source + " = " + std::to_string(value); }
};

struct Overrides {
  KernelPath path = KernelPath::kAuto;
  std::string path_source;                            // "VKATTN_PATH" or "options.overrides.path"
  TileOverride cm_block_q, cm_block_k, cm_subgroups;  // forward (coopmat)
  TileOverride cm_bwd_rows, cm_bwd_block_cols;        // backward (coopmat)
  TileOverride cm_no_prefetch;                        // 1: coopmat kernels load each tile at its turn
  TileOverride cm_stagger;                            // 1: the coopmat forward fetches V and the next K apart
  TileOverride splits;                                // split-K forward (scalar)
  TileOverride cm_khr;                                // 1: auto prefers the KHR build
  TileOverride cm2;                                   // 1: auto prefers the cooperative-matrix-2 forward
};

}  // namespace vkattn
