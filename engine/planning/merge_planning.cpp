#include "planning/merge_planning.hpp"

#include <algorithm>

#include "base/checked_product.hpp"
#include "base/vk_util.hpp"

namespace vkattn {
namespace {
bool storable(DType t) { return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16; }
}  // namespace

Result<MergeSpecConstants> plan_merge(const MergeDesc& d, std::uint32_t max_invocations) {
  if (!storable(d.dtype)) return invalid(std::string("desc.dtype = ") + dtype_text(d.dtype) + " (must be f32, f16 or bf16)");
  if (!storable(d.part_dtype)) {
    return invalid(std::string("desc.part_dtype = ") + dtype_text(d.part_dtype) + " (must be f32, f16 or bf16)");
  }
  if (d.batch < 1) return invalid("desc.batch = " + num(d.batch) + " (must be >= 1)");
  if (d.heads < 1) return invalid("desc.heads = " + num(d.heads) + " (must be >= 1)");
  if (d.seq < 1) return invalid("desc.seq = " + num(d.seq) + " (must be >= 1)");
  if (d.head_dim_v < 8 || d.head_dim_v > 256 || d.head_dim_v % 8 != 0) {
    return invalid("desc.head_dim_v = " + num(d.head_dim_v) + " (must be a multiple of 8 in [8, 256])");
  }
  if (d.num_parts < 1 || d.num_parts > kMaxMergeParts) {
    return invalid("desc.num_parts = " + num(d.num_parts) + " (must be in [1, " + num(kMaxMergeParts) + "])");
  }
  if (d.accumulate && !d.write_lse) {
    return invalid("desc.accumulate = true needs desc.write_lse = true (the running LSE is read and updated)");
  }
  Result<std::int64_t> rows = checked_product({{"desc.batch", d.batch}, {"desc.heads", d.heads}, {"desc.seq", d.seq}},
                                              std::int64_t{1} << 31, "2^31", "rows");
  if (!rows) return rows.status();
  MergeSpecConstants s;
  s.head_dim_v = static_cast<std::uint32_t>(d.head_dim_v);
  s.part_dtype = static_cast<std::uint32_t>(d.part_dtype);
  s.dtype = static_cast<std::uint32_t>(d.dtype);
  s.accumulate = d.accumulate ? 1u : 0u;
  s.write_lse = d.write_lse ? 1u : 0u;
  // One invocation per 4 elements of Dv (COLS, rounded up to a power of two), times the lanes that
  // share out the parts, each merging four parts per step: as many lanes as bring each to one
  // step (the largest power of two <= ceil(parts / 4)), up to kMergeInvocations (or the device's
  // limit) in all.
  s.cols = 1;
  while (s.cols < s.head_dim_v / 4) s.cols *= 2;
  const std::uint32_t most = std::min(kMergeInvocations, max_invocations != 0 ? max_invocations : 128u);
  const std::uint64_t steps_of_four = (static_cast<std::uint64_t>(d.num_parts) + 3) / 4;
  s.part_lanes = 1;
  while (s.part_lanes * 2 <= steps_of_four && s.cols * s.part_lanes * 2 <= most) s.part_lanes *= 2;
  s.workgroup_size = s.cols * s.part_lanes;
  return s;
}

std::string merge_variant_name(const MergeSpecConstants& s, std::int64_t num_parts) {
  const auto dt = [](std::uint32_t t) { return to_string(static_cast<DType>(t)); };
  return "attn_merge_dv" + num(s.head_dim_v) + "_" + dt(s.dtype) + "_from_" + dt(s.part_dtype) + "_n" +
         num(num_parts) + (s.accumulate != 0 ? "_acc" : "") + (s.write_lse != 0 ? "_lse" : "");
}

Result<WorkgroupCount> merge_grid(std::int64_t rows, const DeviceInfo& info) {
  const std::int64_t x = std::min<std::int64_t>(rows, info.max_workgroup_count[0]);
  const std::int64_t y = (rows + x - 1) / x;
  if (y > static_cast<std::int64_t>(info.max_workgroup_count[1])) {
    return invalid("the merge's " + num(rows) + " rows need " + num(y) +
                   " lines of workgroups, more than maxComputeWorkGroupCount[1] = " + num(info.max_workgroup_count[1]));
  }
  return WorkgroupCount{static_cast<std::uint32_t>(x), static_cast<std::uint32_t>(y), 1};
}

}  // namespace vkattn
