// vkattn/merge.hpp — combine partial attention results exactly.
//
// Attention over a set of keys can be computed in parts (chunks of a KV cache, shards of a ring,
// splits of a long row): run a ForwardPlan per part with desc.write_lse = true and, where masks
// or score_mods depend on positions, desc.mask.q_offset / k_offset placing the part in the whole
// sequence (mask.hpp). Each part gives O_n (normalized over its own keys) and LSE_n. The merge
//   M = max_n LSE_n,  w_n = exp(LSE_n - M),  O = sum_n w_n O_n / sum_n w_n,  LSE = M + ln sum_n w_n
// equals one pass over the union of the keys, to rounding (the tests hold it to the forward's own
// tolerance against the fp64 reference). A part that saw no key has LSE_n = -inf and counts for
// nothing (its O_n is not read); a row no part saw gets O = 0 and LSE = -inf, as one pass gives.
//
//   auto merge = vkattn::MergePlan::create(ctx, {.dtype = DType::kF16, .batch = B, .heads = H,
//                                               .seq = S, .head_dim_v = Dv, .num_parts = N});
//   merge->record(cmd, {o_parts, o_part_stride, lse_parts, lse_part_stride, o, lse});
//
// The parts live in one buffer at a fixed distance from each other (o_part_stride elements), so
// one dispatch reads them all. Parts in separate buffers merge one at a time with
// MergeDesc::accumulate (each call folds one more part into O and LSE in place).
#pragma once

#include <vulkan/vulkan_core.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "vkattn/dtype.hpp"
#include "vkattn/status.hpp"
#include "vkattn/tensor.hpp"

namespace vkattn {

class Context;

struct MergeDesc {
  DType dtype = DType::kF16;        // storage of O (f32, f16 or bf16)
  DType part_dtype = DType::kF16;   // storage of the partial O's (f32, f16 or bf16)
  std::int64_t batch = 1;           // B
  std::int64_t heads = 1;           // H
  std::int64_t seq = 0;             // S: query rows per (batch, head)
  std::int64_t head_dim_v = 0;      // Dv: a multiple of 8 in [8, 256]
  std::int64_t num_parts = 1;       // N in [1, 16384]
  bool accumulate = false;  // O and LSE already hold a result (or 0 and -inf): merge the parts into it
  bool write_lse = true;    // write the merged LSE (required with accumulate, which reads it)
};

struct MergeTensors {
  TensorView o_parts;                // [B, H, S, Dv] view of part 0, dtype desc.part_dtype
  std::int64_t o_part_stride = 0;    // elements from part n to part n + 1 of the O parts (> 0 when N > 1)
  TensorView lse_parts;              // fp32 [B, H, S] view of part 0's LSE (natural log)
  std::int64_t lse_part_stride = 0;  // elements from part n to part n + 1 of the LSE parts
  TensorView o;                      // [B, H, S, Dv], dtype desc.dtype: written (read too with accumulate)
  std::optional<TensorView> lse;     // fp32 [B, H, S]: written (read too with accumulate); iff write_lse
};

class MergePlan {
 public:
  static Result<MergePlan> create(Context& ctx, const MergeDesc& desc);
  MergePlan(MergePlan&&) noexcept;
  MergePlan& operator=(MergePlan&&) noexcept;
  ~MergePlan();

  // "attn_merge_dv64_f16_from_f32_n4_acc_lse"
  const std::string& variant_name() const;
  const MergeDesc& desc() const;

  // Checks `t` (shapes, dtypes, strides, bounds of every part, outputs not overlapping the
  // parts); records nothing.
  Status validate(const MergeTensors& t) const;
  // Validates, then records one dispatch into `cmd` (a compute-capable command buffer that is
  // recording). Barriers are the caller's, as for ForwardPlan::record: the parts' writes (and,
  // with accumulate, O's and LSE's) before, the consumers of O and LSE after. On error nothing
  // is recorded.
  Status record(VkCommandBuffer cmd, const MergeTensors& t);
  // Validates, records with full barriers, submits and waits.
  Status run(const MergeTensors& t);
  // As ForwardPlan::release_descriptor_sets.
  void release_descriptor_sets();

 private:
  struct Impl;
  explicit MergePlan(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vkattn
