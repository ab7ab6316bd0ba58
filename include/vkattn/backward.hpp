// vkattn/backward.hpp — the FlashAttention-2 backward: dQ, dK, dV from Q, K, V, O, dO and the
// forward's LSE, for every forward variant (layouts, GQA, varlen, masks, score_mods).
//
//   auto plan = vkattn::BackwardPlan::create(ctx, desc);  // the forward's desc (write_lse ignored)
//   plan->record(cmd, {q, k, v, o, d_o, lse, dq, dk, dv});
//
// The work: a preprocessing pass delta_i = rowsum(dO_i o O_i), then dQ (one invocation per query
// row) and dK/dV (one per key row, summing the query heads of its GQA group) recompute P from
// the saved LSE tile by tile; the score_mod parameters' gradients (bias, relative-position
// table, sinks) are reduced per element by their own kernel. O(S) extra memory (the plan's workspace holds lse and
// delta per query row), fp32 accumulation, fp32 or fp16 storage. Rows that saw nothing (LSE = -inf) have zero
// gradients.
#pragma once

#include <vulkan/vulkan_core.h>

#include <memory>
#include <optional>
#include <string>

#include "vkattn/attention.hpp"

namespace vkattn {

// Whether gradients may differ between runs. Every gradient of the scalar path is summed by one
// invocation in a fixed order, so both modes are bitwise reproducible today; kFast is where a
// path may use floating-point atomics if they pay off.
enum class Determinism : std::uint32_t {
  kDeterministic = 0,  // default: no floating-point atomics; bitwise identical across runs
  kFast = 1,
};

struct BackwardOptions {
  Determinism determinism = Determinism::kDeterministic;
};

// Tensors of one backward call. Shapes as in ForwardTensors (dense [B, H, S, D] or varlen
// [T, H, D]); gradients have the shape and dtype of what they differentiate, and may have their
// own strides.
struct BackwardTensors {
  TensorView q, k, v;  // the forward's inputs
  TensorView o;        // the forward's output
  TensorView d_o;      // dL/dO, shaped like O
  TensorView lse;      // the forward's LSE (fp32 [B, Hq, Sq], varlen [Hq, Tq])
  TensorView dq;       // written: dL/dQ, shaped like Q
  TensorView dk;       // written: dL/dK, shaped like K (summed over the query heads of a group)
  TensorView dv;       // written: dL/dV, shaped like V

  // The forward's mask and score_mod inputs, as in ForwardTensors.
  std::optional<TensorView> bias;
  std::optional<TensorView> alibi_slopes;
  std::optional<TensorView> rel_pos_table;
  std::optional<TensorView> sinks;
  std::optional<TensorView> doc_ids_q;
  std::optional<TensorView> doc_ids_kv;

  // Parameter gradients, each written iff given (and allowed only with its score_mod). fp32.
  std::optional<TensorView> dbias;           // shaped like `bias`: summed over its broadcast (size-1) dims
  std::optional<TensorView> drel_pos_table;  // [Hq, 2M + 1]: per bucket, the sum of dS over its pairs
  std::optional<TensorView> dsinks;          // [Hq], contiguous

  // With desc.dropout: the forward call's seed and offset, which regenerate its mask (dropout.hpp).
  DropoutRng dropout;

  // With desc.qk: the forward's weights and positions (as in ForwardTensors), and the weights'
  // gradients (fp32 [Dk], written iff given; summed over batch, heads and tokens in a fixed order).
  std::optional<TensorView> q_norm_weight, k_norm_weight;
  std::optional<TensorView> q_positions, k_positions;
  std::optional<TensorView> dq_norm_weight, dk_norm_weight;
};

class BackwardPlan {
 public:
  static Result<BackwardPlan> create(Context& ctx, const AttentionDesc& desc, BackwardOptions options = {});

  BackwardPlan(BackwardPlan&&) noexcept;
  BackwardPlan& operator=(BackwardPlan&&) noexcept;
  ~BackwardPlan();

  // e.g. "attn_bwd_d64_f16_causal_br_br64_bc32_st2_scalar".
  const std::string& variant_name() const;
  // Why this kernel path: "desc.path = scalar", "VKATTN_PATH = coopmat", "auto: coopmat", or
  // "auto: scalar (<what keeps the problem off the coopmat kernels>)".
  const std::string& path_reason() const;
  const AttentionDesc& desc() const;
  const BackwardOptions& options() const;

  // Checks `t` against the plan; records nothing.
  Status validate(const BackwardTensors& t) const;

  // Validates, then records into `cmd`: a compute -> compute memory barrier (global, so an earlier
  // recording of this plan has finished with its workspace), the delta kernel, another such
  // barrier, the dq and dkdv kernels, and one kernel per parameter gradient the desc has (dbias,
  // drel_pos_table, dsinks): up to six dispatches. It binds its own pipelines, descriptors and push
  // constants (rebind yours after it). The caller adds: before, writes of Q, K, V, O, dO, LSE
  // (and the score_mod inputs) -> COMPUTE_SHADER / SHADER_READ, and earlier accesses of dQ, dK,
  // dV and the parameter gradients -> COMPUTE_SHADER; after, COMPUTE_SHADER / SHADER_WRITE of
  // them -> the consumer. Recordings of one plan must execute in submission order on one queue
  // (they share the workspace). The plan (its workspace) and the buffers must stay alive until
  // `cmd` has finished executing. On any error (bad tensors, or out of memory for a pooled
  // descriptor set) nothing is recorded.
  Status record(VkCommandBuffer cmd, const BackwardTensors& t);

  // Validates, records with full barriers, submits and waits.
  Status run(const BackwardTensors& t);

  // As ForwardPlan::release_descriptor_sets: where the context binds with pooled descriptor sets (no
  // VK_KHR_push_descriptor, or ContextOptions::force_pooled_descriptors), the plan keeps one set per distinct list of
  // (VkBuffer, offset, range) it has recorded, until it is destroyed or this is called. Call it
  // after destroying a buffer this plan recorded with, before recording again: a new buffer may
  // get the destroyed one's handle, and would otherwise be bound through the old set. Command
  // buffers recorded before the call must have finished executing and must not be resubmitted.
  // With push descriptors it does nothing.
  void release_descriptor_sets();

 private:
  struct Impl;
  explicit BackwardPlan(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vkattn
