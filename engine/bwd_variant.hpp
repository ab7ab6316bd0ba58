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

// Shared memory of attn_bwd_dq_cm / attn_bwd_dkdv_cm (the larger) with BLOCK_COLS = block_cols.
std::uint32_t cm_bwd_shared_bytes(std::uint32_t block_cols, std::uint32_t dk, std::uint32_t dv);

// Spec constants of the dq and dkdv kernels for a resolved problem, on the coopmat kernels when
// `coopmat`. Scalar: BLOCK_ROWS = 64 (or the device's workgroup limit) = WORKGROUP_SIZE,
// BLOCK_COLS the largest power of two <= min(64, BLOCK_ROWS) whose fp32 staged tiles fit
// maxComputeSharedMemorySize. Coopmat: BLOCK_ROWS = 64 (four 32-lane subgroups of 16 rows,
// WORKGROUP_SIZE = 128), BLOCK_COLS in {64, 32, 16}, the largest whose fp16 tiles fit and whose
// prefetched tile stays within kCmPrefetchChunks (cm_prefetch_chunks: 64 at Dk = Dv = 64, 32 at 128).
BwdSpecConstants choose_bwd_variant(const FwdProblem& p, const DeviceInfo& info, bool coopmat);

// The preprocessing kernel's constants: only the ones it reads, so its pipeline is shared widely.
BwdSpecConstants bwd_pre_spec(const BwdSpecConstants& s);

// "attn_bwd_<feature_name>_br64_bc32_st2_scalar" (or _br64_bc64_st1_coopmat).
std::string bwd_variant_name(const FwdProblem& p, const BwdSpecConstants& s, bool coopmat);

// Device limits for the backward of `p`: shared memory, workgroup counts and llvmpipe's loop budget.
Status check_bwd_limits(const FwdProblem& p, const BwdSpecConstants& s, const DeviceInfo& info);

}  // namespace vkattn
