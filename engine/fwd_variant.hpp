// Choosing the forward kernel variant (tiles from the device's limits) and naming it.
#pragma once

#include <string>

#include "attn_fwd_interface.hpp"
#include "vkattn/attention.hpp"
#include "vkattn/context.hpp"

namespace vkattn {

// Spec constants for `desc` on a device with `info`. Tiles are chosen from the device limits:
// BLOCK_K is the largest power of two <= 64 whose fp32 K and V tiles fit maxComputeSharedMemorySize.
// Assumes `desc` is valid (validate_desc passed).
FwdSpecConstants choose_fwd_variant(const AttentionDesc& desc, const DeviceInfo& info);

// "attn_fwd_d64_f16_causal_br_bq64_bk32_lse_scalar": every spec constant appears, so equal names
// mean equal pipelines.
std::string fwd_variant_name(const FwdSpecConstants& spec);

// Problem-level checks that need no tensors (shapes, head dim, scale, limits of the device,
// including llvmpipe's per-invocation loop budget for the chosen variant).
Status validate_desc(const AttentionDesc& desc, const DeviceInfo& info);

// Loop iterations one invocation of `spec` runs for a row of `seq_k` keys (see attn_fwd.comp).
std::uint64_t fwd_loop_iterations(const FwdSpecConstants& spec, std::int64_t seq_k);

}  // namespace vkattn
