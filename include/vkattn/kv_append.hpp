// vkattn/kv_append.hpp — write new tokens' K and V rows into a paged cache (paged_kv.hpp).
//
// New token t of sequence b lands at position cache_lens[b] + t (cache_lens: the lengths before
// the append), in every KV head: row (cache_lens[b] + t) % block_size of pool block
// block_table[b, (cache_lens[b] + t) / block_size]. Recorded into the caller's command buffer, so
// a decode step is: append, a barrier (compute write -> compute read), attention over the cache
// with cache_lens + new_tokens.
//
//   auto append = vkattn::KVAppendPlan::create(ctx, {.dtype = DType::kF16, .batch = B, .kv_heads = Hkv,
//                                                   .head_dim = 128, .new_tokens = 1, .paged_kv = pk});
//   append->record(cmd, {k_new, v_new, k_cache, v_cache});
//
// Host tables are checked at creation: every block a new token lands in must be in
// [0, num_blocks) and cache_lens[b] + new_tokens within max_blocks * block_size. Device tables
// (KVAppendTensors::block_table and cache_lens) are trusted.
#pragma once

#include <vulkan/vulkan_core.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "vkattn/dtype.hpp"
#include "vkattn/paged_kv.hpp"
#include "vkattn/status.hpp"
#include "vkattn/tensor.hpp"

namespace vkattn {

class Context;

struct KVAppendDesc {
  DType dtype = DType::kF16;     // storage of the new rows and of the caches (f32, f16 or bf16)
  std::int64_t batch = 1;        // B
  std::int64_t kv_heads = 1;     // Hkv
  std::int64_t head_dim = 0;     // Dk: a multiple of 8 in [8, 256]
  std::int64_t head_dim_v = 0;   // Dv; 0 means Dk
  std::int64_t new_tokens = 1;   // Snew >= 1 per sequence
  PagedKV paged_kv;              // the cache; cache_lens are the lengths before the append
};

struct KVAppendTensors {
  TensorView k_new;  // [B, Hkv, Snew, Dk]
  TensorView v_new;  // [B, Hkv, Snew, Dv]
  TensorView k_cache;  // [num_blocks, Hkv, block_size, Dk], written
  TensorView v_cache;  // [num_blocks, Hkv, block_size, Dv], written
  std::optional<TensorView> block_table;  // i32 [B, max_blocks], device tables only
  std::optional<TensorView> cache_lens;   // i32 [B], device tables only
};

class KVAppendPlan {
 public:
  static Result<KVAppendPlan> create(Context& ctx, const KVAppendDesc& desc);
  KVAppendPlan(KVAppendPlan&&) noexcept;
  KVAppendPlan& operator=(KVAppendPlan&&) noexcept;
  ~KVAppendPlan();

  const std::string& variant_name() const;  // "kv_append_d128_f16_paged16"
  const KVAppendDesc& desc() const;
  Status validate(const KVAppendTensors& t) const;
  // One dispatch into `cmd`; barriers are the caller's (the new rows' writes before, the
  // attention's reads of the caches after). On error nothing is recorded.
  Status record(VkCommandBuffer cmd, const KVAppendTensors& t);
  Status run(const KVAppendTensors& t);
  void release_descriptor_sets();

 private:
  struct Impl;
  explicit KVAppendPlan(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vkattn
