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

#include "vkattn/dropout.hpp"
#include "vkattn/dtype.hpp"
#include "vkattn/kernel_path.hpp"
#include "vkattn/mask.hpp"
#include "vkattn/paged_kv.hpp"
#include "vkattn/qk_transform.hpp"
#include "vkattn/score_mod.hpp"
#include "vkattn/sequences.hpp"
#include "vkattn/status.hpp"
#include "vkattn/tensor.hpp"

namespace vkattn {

class Context;

// The problem a plan solves. Tensors bound at record time must match it.
struct AttentionDesc {
  DType dtype = DType::kF16;    // storage type of Q, K, V and O (accumulation is fp32)
  std::int64_t batch = 1;       // B (varlen: cu_seqlens_q.size() - 1)
  std::int64_t q_heads = 1;     // Hq
  std::int64_t kv_heads = 0;    // Hkv, dividing Hq (GQA/MQA); 0 means Hkv = Hq
  std::int64_t seq_q = 0;       // Sq >= 1 (varlen: 0, or at least the longest query sequence)
  std::int64_t seq_k = 0;       // Sk >= 1 (varlen: 0, or at least the longest key sequence)
  std::int64_t head_dim = 0;    // Dk of Q and K: a multiple of 8 in [8, 256]
  std::int64_t head_dim_v = 0;  // Dv of V and O: a multiple of 8 in [8, 256]; 0 means Dv = Dk
  Mask mask;
  ScoreMod score_mod;
  Dropout dropout;             // dropout on P (training; dropout.hpp): each call's ForwardTensors::dropout
  QKTransform qk;              // QK-norm and RoPE of Q and K before attention (qk_transform.hpp)
  Sequences sequences;         // padding lengths or varlen offsets (sequences.hpp)
  PagedKV paged_kv;            // K and V in a paged cache (paged_kv.hpp); forward only
  std::optional<float> scale;  // softmax scale; default 1/sqrt(Dk); finite, with abs(scale) * log2(e) <= 2^64
  bool write_lse = true;       // write LSE (fp32, natural log)
  KernelPath path = KernelPath::kAuto;
};

// Tensors of one forward call. Dense problems use [B, H, S, D] views (any strides, D
// contiguous); varlen problems use packed [T, H, D] views (sequences.hpp).
struct ForwardTensors {
  TensorView q;                   // [B, Hq, Sq, Dk]           varlen [Tq, Hq, Dk]
  TensorView k;                   // [B, Hkv, Sk, Dk]          varlen [Tk, Hkv, Dk]   paged [blocks, Hkv, block_size, Dk]
  TensorView v;                   // [B, Hkv, Sk, Dv]          varlen [Tk, Hkv, Dv]   paged [blocks, Hkv, block_size, Dv]
  TensorView o;                   // [B, Hq, Sq, Dv], written  varlen [Tq, Hq, Dv]; dtype of Q
  std::optional<TensorView> lse;  // fp32 [B, Hq, Sq], written (varlen [Hq, Tq]); iff desc.write_lse

  // Inputs of masks and score_mods, each required iff the desc enables its feature.
  std::optional<TensorView> bias;           // [B|1, Hq|1, Sq|1, Sk], dtype desc.score_mod.bias; size-1 dims broadcast
  std::optional<TensorView> alibi_slopes;   // fp32 [Hq] or [B, Hq], contiguous
  std::optional<TensorView> rel_pos_table;  // fp32 [Hq, 2M + 1], contiguous
  std::optional<TensorView> sinks;          // fp32 [Hq], contiguous
  std::optional<TensorView> doc_ids_q;      // i32 [B, Sq] (varlen [Tq]), contiguous
  std::optional<TensorView> doc_ids_kv;     // i32 [B, Sk] (varlen [Tk]), contiguous

  // A paged cache whose tables are on the device (paged_kv.hpp: desc.paged_kv's vectors empty).
  std::optional<TensorView> block_table;  // i32 [B, max_blocks], row stride any, entries contiguous
  std::optional<TensorView> cache_lens;   // i32 [B], contiguous

  // With desc.dropout: this call's generator seed and offset (dropout.hpp; written into the plan's
  // parameter buffer by each recording).
  DropoutRng dropout;

  // With desc.qk (qk_transform.hpp): the RMSNorm weights (fp32 [Dk], contiguous), iff that norm is
  // kRMS, and the RoPE positions (int32 [B, Sq] / [B, Sk], varlen [Tq] / [Tk]), iff rope.positions.
  std::optional<TensorView> q_norm_weight, k_norm_weight;
  std::optional<TensorView> q_positions, k_positions;
};

class ForwardPlan {
 public:
  // Validates `desc` against the device and builds (or finds) the pipeline of its variant.
  static Result<ForwardPlan> create(Context& ctx, const AttentionDesc& desc);

  ForwardPlan(ForwardPlan&&) noexcept;
  ForwardPlan& operator=(ForwardPlan&&) noexcept;
  ~ForwardPlan();

  // The procedural variant name, e.g. "attn_fwd_d64_f16_causal_br_softcap_bq64_bk64_ks2_lse_scalar":
  // the pipeline's identity, its debug-utils name and the benchmark label.
  const std::string& variant_name() const;
  // Why this kernel path: "desc.path = scalar", "VKATTN_PATH = coopmat", "auto: coopmat", or
  // "auto: scalar (<what keeps the problem off the coopmat kernels>)".
  const std::string& path_reason() const;
  const AttentionDesc& desc() const;

  // Checks `t` against the plan (shapes, dtypes, strides, bounds, alignment); records nothing.
  Status validate(const ForwardTensors& t) const;

  // Validates, then records bind + push + dispatch into `cmd` (which must be recording, on a
  // queue family with compute); the host's compute pipeline, descriptors and push constants are
  // replaced (rebind them after). Records no barriers; the caller adds:
  //   before: writes of Q, K, V (and the mask and score_mod inputs)
  //           -> VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT / SHADER_STORAGE_READ,
  //           and earlier reads/writes of O, LSE -> COMPUTE_SHADER_BIT (write-after-read/write);
  //   after:  COMPUTE_SHADER_BIT / SHADER_STORAGE_WRITE of O, LSE -> the consumer's stage/access.
  // The plan (and the buffers) must stay alive until `cmd` has finished executing.
  // On error nothing is recorded.
  Status record(VkCommandBuffer cmd, const ForwardTensors& t);

  // Validates, records with full barriers around the dispatch, submits and waits.
  Status run(const ForwardTensors& t);

  // Where the context binds with pooled descriptor sets (no VK_KHR_push_descriptor, or
  // ContextOptions::force_pooled_descriptors), the plan keeps one set per distinct list of
  // (VkBuffer, offset, range) it has recorded, until it is destroyed or this is called. Call it
  // after destroying a buffer this plan recorded with, before recording again: a new buffer may
  // get the destroyed one's handle, and would otherwise be bound through the old set. Command
  // buffers recorded before the call must have finished executing and must not be resubmitted.
  // With push descriptors it does nothing.
  void release_descriptor_sets();

 private:
  struct Impl;
  explicit ForwardPlan(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The name of the variant `desc` would run on `ctx`, without building anything (validates `desc`).
Result<std::string> forward_variant_name(Context& ctx, const AttentionDesc& desc);

// The device-independent part of the variant name: head dims, dtype, mask, score_mods and sequence
// mode, e.g. "d64_f16_causal_br_softcap" (tests are named after it).
std::string feature_name(const AttentionDesc& desc);

// The AttentionDesc that dense `t` describes (shapes and dtype read from the [B, H, S, D] views).
AttentionDesc describe(const ForwardTensors& t, Mask mask = {}, std::optional<float> scale = {});

// One-shot: describe, plan (pipelines are cached by the context) and run synchronously.
Status attention_forward(Context& ctx, const ForwardTensors& t, Mask mask = {}, std::optional<float> scale = {});

}  // namespace vkattn
