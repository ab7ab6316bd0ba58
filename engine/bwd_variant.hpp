// Choosing the backward kernels' variant (tiles from the device's limits) and naming it.
#pragma once

#include <string>

#include "attn_bwd_interface.hpp"
#include "fwd_variant.hpp"

namespace vkattn {

// Why the backward of `p` cannot run on the coopmat kernels of `info` ("" if it can): the
// forward's reasons (coopmat_blocker), plus head dims up to 128 (each subgroup keeps dK and dV
// of its 16 keys in registers) and the shared memory of 16-row tiles.
std::string bwd_coopmat_blocker(const FwdProblem& p, const DeviceInfo& info);

// Shared memory of attn_bwd_dq_cm / attn_bwd_dkdv_cm (the larger) with BLOCK_ROWS = block_rows
// (one 32-lane subgroup per 16 rows) and BLOCK_COLS = block_cols.
std::uint32_t cm_bwd_shared_bytes(std::uint32_t block_rows, std::uint32_t block_cols, std::uint32_t dk,
                                  std::uint32_t dv);

// The coopmat backward's tiles forced for tuning (0: chosen): BLOCK_ROWS by VKATTN_CM_BWD_ROWS
// (64 or 128: four or eight subgroups of 16 rows) and BLOCK_COLS by VKATTN_CM_BWD_BLOCK_COLS
// (16, 32 or 64).
struct CmBwdTiles {
  std::uint32_t rows = 0;
  std::uint32_t cols = 0;
};

// Reads the two variables. A malformed value is kInvalidArgument on every device (naming the
// variable and the value); on the coopmat kernels (`coopmat`) a forced tiling whose workgroup or
// shared memory (the smallest it can take: BLOCK_COLS 16 unless forced) exceeds `info` is
// kUnsupported naming the variables and the limit.
Result<CmBwdTiles> cm_bwd_forced_tiles(const FwdProblem& p, const DeviceInfo& info, bool coopmat);

// Spec constants of the dq and dkdv kernels for a resolved problem, on the coopmat kernels when
// `coopmat`. Scalar: BLOCK_ROWS = 64 (or the device's workgroup limit) = WORKGROUP_SIZE,
// BLOCK_COLS the largest power of two <= min(64, BLOCK_ROWS) whose fp32 staged tiles fit
// maxComputeSharedMemorySize. Coopmat: one 32-lane subgroup per 16 rows (WORKGROUP_SIZE =
// 2 BLOCK_ROWS); for BLOCK_ROWS = 64 and 128 (four and eight subgroups, where the workgroup limit
// allows) the largest BLOCK_COLS in {64, 32, 16} whose fp16 tiles fit and whose prefetched tile
// stays within kCmPrefetchChunks, and of those the longer column tile, ties to 64 rows (on the
// H100: 64 x 64 at Dk = Dv = 64, 128 x 64 at 128, where 64 rows reach 32 columns). `forced`
// (checked by cm_bwd_forced_tiles) fixes either; a forced BLOCK_COLS alone keeps 64 rows.
BwdSpecConstants choose_bwd_variant(const FwdProblem& p, const DeviceInfo& info, bool coopmat, CmBwdTiles forced = {});

// The preprocessing kernel's constants: only the ones it reads, so its pipeline is shared widely.
BwdSpecConstants bwd_pre_spec(const BwdSpecConstants& s);

// "attn_bwd_<feature_name>_br64_bc32_st2_scalar" (or _br64_bc64_st1_coopmat).
std::string bwd_variant_name(const FwdProblem& p, const BwdSpecConstants& s, bool coopmat);

// Device limits for the backward of `p`: shared memory, workgroup counts and llvmpipe's loop budget.
Status check_bwd_limits(const FwdProblem& p, const BwdSpecConstants& s, const DeviceInfo& info);

}  // namespace vkattn
