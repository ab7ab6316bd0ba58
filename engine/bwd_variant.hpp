// Choosing the backward kernels' variant (tiles from the device's limits) and naming it.
#pragma once

#include <string>

#include "attn_bwd_interface.hpp"
#include "fwd_variant.hpp"

namespace vkattn {

// Spec constants of attn_bwd_dq and attn_bwd_dkdv for a resolved problem: BLOCK_ROWS = 64 (or
// the device's workgroup limit), BLOCK_COLS the largest power of two <= min(64, BLOCK_ROWS)
// whose staged tiles fit maxComputeSharedMemorySize.
BwdSpecConstants choose_bwd_variant(const FwdProblem& p, const DeviceInfo& info);

// The preprocessing kernel's constants: only the ones it reads, so its pipeline is shared widely.
BwdSpecConstants bwd_pre_spec(const BwdSpecConstants& s);

// "attn_bwd_<feature_name>_br64_bc32_st2_scalar".
std::string bwd_variant_name(const FwdProblem& p, const BwdSpecConstants& s);

// Device limits for the backward of `p`: shared memory, workgroup counts and llvmpipe's loop budget.
Status check_bwd_limits(const FwdProblem& p, const BwdSpecConstants& s, const DeviceInfo& info);

}  // namespace vkattn
