// vkattn/attention.hpp — plan an attention forward pass once, record it many times.
//
//   auto plan = vkattn::ForwardPlan::create(ctx, desc);      // validate + pick a variant
//   plan->record(cmd, {q, k, v, o, lse});                    // into the caller's command buffer
//   plan->run({q, k, v, o, lse});                            // or submit and wait
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

// Which keys a query may see. Query i, key j; Sq, Sk the sequence lengths.
enum class Causal : std::uint32_t {
  kNone = 0,
  kTopLeft = 1,      // j <= i
  kBottomRight = 2,  // j <= i + Sk - Sq (the last query sees every key; FlashAttention-2's rule)
};
const char* to_string(Causal c);  // "none", "causal_tl", "causal_br"

struct Mask {
  Causal causal = Causal::kNone;
};

// Kernel family. kAuto picks the fastest path the device supports.
enum class KernelPath : std::uint32_t {
  kAuto = 0,
  kScalar = 1,  // portable fp32 FMA path: lavapipe and every Vulkan 1.3 device
};
const char* to_string(KernelPath p);

// The problem a plan solves. Tensors bound at record time must match it.
struct AttentionDesc {
  DType dtype = DType::kF16;      // storage type of Q, K, V and O (accumulation is fp32)
  std::int64_t batch = 1;         // B
  std::int64_t q_heads = 1;       // Hq
  std::int64_t kv_heads = 0;      // Hkv; 0 means Hkv = Hq
  std::int64_t seq_q = 0;         // Sq >= 1
  std::int64_t seq_k = 0;         // Sk >= 1
  std::int64_t head_dim = 0;      // D: a multiple of 8 in [8, 256]
  Mask mask;
  std::optional<float> scale;     // softmax scale; default 1/sqrt(D)
  bool write_lse = true;          // write LSE (fp32 [B, Hq, Sq], natural log)
  KernelPath path = KernelPath::kAuto;
};

// Tensors of one forward call, each a [B, H, S, D] view (any layout with innermost stride 1).
struct ForwardTensors {
  TensorView q;  // [B, Hq, Sq, D]
  TensorView k;  // [B, Hkv, Sk, D]
  TensorView v;  // [B, Hkv, Sk, D]
  TensorView o;  // [B, Hq, Sq, D], written; dtype of Q
  std::optional<TensorView> lse;  // [B, Hq, Sq] fp32, written; required iff desc.write_lse
};

class ForwardPlan {
 public:
  // Validates `desc` against the device and builds (or finds) the pipeline of its variant.
  static Result<ForwardPlan> create(Context& ctx, const AttentionDesc& desc);

  ForwardPlan(ForwardPlan&&) noexcept;
  ForwardPlan& operator=(ForwardPlan&&) noexcept;
  ~ForwardPlan();

  // The procedural variant name, e.g. "attn_fwd_d64_f16_causal_br_bq64_bk32_lse_scalar": the
  // pipeline key, its debug-utils name and the test/benchmark name.
  const std::string& variant_name() const;
  const AttentionDesc& desc() const;

  // Checks `t` against the plan (shapes, dtypes, strides, bounds, alignment); records nothing.
  Status validate(const ForwardTensors& t) const;

  // Validates, then records bind + push + dispatch into `cmd` (which must be recording, on a
  // queue family with compute). Records no barriers; the caller adds:
  //   before: writes of Q, K, V  -> VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT / SHADER_STORAGE_READ,
  //           and earlier reads/writes of O, LSE -> COMPUTE_SHADER_BIT (write-after-read/write);
  //   after:  COMPUTE_SHADER_BIT / SHADER_STORAGE_WRITE of O, LSE -> the consumer's stage/access.
  // The plan (and the buffers) must stay alive until `cmd` has finished executing.
  // On error nothing is recorded.
  Status record(VkCommandBuffer cmd, const ForwardTensors& t);

  // Validates, records with full barriers around the dispatch, submits and waits.
  Status run(const ForwardTensors& t);

 private:
  struct Impl;
  explicit ForwardPlan(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The AttentionDesc that `t` describes (shapes and dtype read from the views).
AttentionDesc describe(const ForwardTensors& t, Mask mask = {}, std::optional<float> scale = {});

// One-shot: describe, plan (pipelines are cached by the context) and run synchronously.
Status attention_forward(Context& ctx, const ForwardTensors& t, Mask mask = {},
                         std::optional<float> scale = {});

}  // namespace vkattn
