// Planning of the merge of partial attention results (attn_merge.comp): a MergeDesc checked into
// its kernel's constants and name, and the grid that covers its rows. ForwardPlan's split-K
// merges its workspace through the same functions.
#pragma once

#include <cstdint>
#include <string>

#include "kernels/attn_merge_interface.hpp"
#include "kernels/kernel.hpp"
#include "vkattn/device.hpp"
#include "vkattn/merge.hpp"

namespace vkattn {

inline constexpr std::int64_t kMaxMergeParts = 16384;
// The merge's workgroup size when the parts are many (attn_merge.comp's COLS x PART_LANES), or
// the device's maxComputeWorkGroupInvocations where smaller (Vulkan guarantees 128). 512 lets a
// split-K decode's 64 parts at Dv = 128 (16 lanes of 32 invocations, four parts each) load in one
// step; its shared memory (16 bytes per invocation) stays within Vulkan's guaranteed 16 KiB.
inline constexpr std::uint32_t kMergeInvocations = 512;

// Every error is kInvalidArgument naming the desc field and its value. `max_invocations`: the
// device's maxComputeWorkGroupInvocations (0: unknown, 128 assumed).
Result<MergeSpecConstants> plan_merge(const MergeDesc& desc, std::uint32_t max_invocations);

// "attn_merge_dv64_f16_from_f32_n4_acc_lse" (n: parts; acc: ACCUMULATE; lse: WRITE_LSE).
std::string merge_variant_name(const MergeSpecConstants& spec, std::int64_t num_parts);

// One workgroup per row, laid out x-major over at most maxComputeWorkGroupCount[0] columns;
// kInvalidArgument when the rows need more lines than maxComputeWorkGroupCount[1].
Result<WorkgroupCount> merge_grid(std::int64_t rows, const DeviceInfo& info);

}  // namespace vkattn
