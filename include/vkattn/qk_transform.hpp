// vkattn/qk_transform.hpp — QK-norm and rotary position embedding (RoPE) of Q or K rows, and
// their backward, as one pass over the tensor (shaders/qk_transform.comp).
//
// For each row x of a [B, H, S, D] tensor (fp32 arithmetic):
//   norm  kRMS: n = x / sqrt(mean(x^2) + eps) * weight     (weight: fp32 [D], a learned gain)
//         kL2:  n = scale * x / max(|x|, eps)              (cosine attention: scale 1, attention scale 1)
//   RoPE  pairs of elements rotate by the angle p * theta^(-2k / d) (k-th pair of a chunk of d
//         rotary dims, p the row's position or grid coordinate):
//           kRotateHalf (GPT-NeoX, Llama): pair k is (k, k + d/2) of the chunk
//           kInterleaved (GPT-J):          pair k is (2k, 2k + 1) of the chunk
//         (n_a, n_b) -> (n_a cos - n_b sin, n_a sin + n_b cos). The first rotary_dim dims rotate
//         (all of D by default); the rest pass through.
//   1D: the chunk is dims [0, rotary_dim), p = positions[b, s] (int32 tensor) or s + position_offset.
//   Spatial (channels-last inputs, S = the product of `grid`'s 2 or 3 extents, axis 0 slowest):
//   the rotary dims split into one chunk per axis (axis_dims, in order; by default equal parts
//   rounded down to even, axis 0 taking what is left), each rotated by the row's coordinate on
//   its axis.
// The backward takes dY and gives dX (rotated back, through the norm) and, for kRMS, dweight
// summed over every row in a fixed order (deterministic).
//
// Angles: p f modulo 2 pi is formed exactly in integer arithmetic (f / (2 pi) as a 64-bit
// fixed-point fraction from the host's double), then sin and cos by polynomials in fp32. The
// angle's error stays below 1e-6 rad for every int32 position (not p times fp32's rounding of f:
// 0.002 rad at p = 32768); tests/plans/qk_transform_test.cpp holds the rotated rows to 2e-6 of the
// fp64 reference at positions up to 10^6.
//
// Use: before attention, on Q and on K (separate plans when only one is normalized or their
// weights differ); in decode with a KV cache, on the new K rows before KVAppendPlan (the cache
// holds rotated keys) and on the new Q rows at their positions.
#pragma once

#include <vulkan/vulkan_core.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "vkattn/dtype.hpp"
#include "vkattn/status.hpp"
#include "vkattn/tensor.hpp"

namespace vkattn {

class Context;

enum class QKNormKind : std::uint32_t { kNone = 0, kL2 = 1, kRMS = 2 };
enum class RopeStyle : std::uint32_t { kNone = 0, kRotateHalf = 1, kInterleaved = 2 };

struct QKNorm {
  QKNormKind kind = QKNormKind::kNone;
  float eps = 1e-6f;   // > 0: kRMS adds it to mean(x^2); kL2 bounds |x| below by it (F.normalize uses 1e-12)
  float scale = 1.0f;  // kL2: the normalized row's length
};

struct Rope {
  RopeStyle style = RopeStyle::kNone;
  double theta = 10000.0;               // base, > 1
  std::int64_t rotary_dim = 0;          // even, <= D; 0: D
  std::vector<std::int64_t> grid;       // spatial: 2 or 3 extents whose product is S; empty: 1D
  std::vector<std::int64_t> axis_dims;  // spatial: rotary dims per axis (even, sum rotary_dim); empty: equal parts
  bool positions = false;               // 1D: QKTransformTensors::positions gives each row's position
  std::int64_t position_offset = 0;     // 1D without positions: row s is at position s + position_offset
};

struct QKTransformDesc {
  DType dtype = DType::kF16;  // storage of X, Y, dY, dX
  std::int64_t batch = 1;     // B
  std::int64_t heads = 1;     // H
  std::int64_t seq = 0;       // S
  std::int64_t head_dim = 0;  // D: a multiple of 8 in [8, 256]
  QKNorm norm;
  Rope rope;
};

struct QKTransformTensors {
  TensorView x;                         // [B, H, S, D]
  TensorView y;                         // [B, H, S, D], written; may be x itself (in place), not overlap it otherwise
  std::optional<TensorView> weight;     // fp32 [D], contiguous: iff norm.kind == kRMS
  std::optional<TensorView> positions;  // int32 [B, S] (entries contiguous): iff rope.positions
};

struct QKTransformGradTensors {
  TensorView x;                         // the forward's input
  TensorView dy;                        // dL/dY
  TensorView dx;                        // dL/dX, written; may be dy itself (in place)
  std::optional<TensorView> weight;     // as in the forward
  std::optional<TensorView> positions;  // as in the forward
  std::optional<TensorView> dweight;    // fp32 [D], written iff given (kRMS only)
};

class QKTransformPlan {
 public:
  static Result<QKTransformPlan> create(Context& ctx, const QKTransformDesc& desc);
  QKTransformPlan(QKTransformPlan&&) noexcept;
  QKTransformPlan& operator=(QKTransformPlan&&) noexcept;
  ~QKTransformPlan();

  // "qk_transform_d128_f16_rms_rope_half_r64" (the forward's kernel; the backward's adds "_bwd").
  const std::string& variant_name() const;
  const QKTransformDesc& desc() const;

  // Y = T(X). Checks, records (no barriers: as ForwardPlan::record) or runs.
  Status validate(const QKTransformTensors& t) const;
  Status record(VkCommandBuffer cmd, const QKTransformTensors& t);
  Status run(const QKTransformTensors& t);

  // dX = T'(X)^T dY (and dweight). Records two dispatches with a barrier between when dweight is
  // given.
  Status validate_backward(const QKTransformGradTensors& t) const;
  Status record_backward(VkCommandBuffer cmd, const QKTransformGradTensors& t);
  Status run_backward(const QKTransformGradTensors& t);

  void release_descriptor_sets();  // as ForwardPlan::release_descriptor_sets

 private:
  struct Impl;
  explicit QKTransformPlan(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// QK-norm and RoPE inside an attention plan (AttentionDesc::qk): the forward transforms Q and K
// into plan-owned buffers and attends over those; the backward recomputes them, runs the attention
// backward into plan-owned dQ', dK' and takes those back through the transforms into dQ, dK (and
// the weights' gradients). Positions (1D RoPE): ForwardTensors::q_positions / k_positions (int32
// [B, Sq] / [B, Sk], varlen [Tq] / [Tk]) when rope.positions is set; otherwise key j is at
// k_offset + j and query i at the position of the key on its aligned diagonal (mask.hpp: i +
// q_offset, plus Sk - Sq per sequence when bottom-right), so q.k depends on the distance the masks
// measure. A grid (rope.grid) needs Sq = Sk = its cell count and dense sequences.
struct QKTransform {
  QKNorm q_norm;  // weight: ForwardTensors::q_norm_weight
  QKNorm k_norm;  // weight: ForwardTensors::k_norm_weight
  Rope rope;      // on both Q and K (rope.position_offset is unused: see above)
  bool enabled() const {
    return q_norm.kind != QKNormKind::kNone || k_norm.kind != QKNormKind::kNone || rope.style != RopeStyle::kNone;
  }
};

// Rope::axis_dims as the plan uses them (the default split spelled out); empty for 1D.
std::vector<std::int64_t> rope_axis_dims(const Rope& rope, std::int64_t head_dim);

}  // namespace vkattn
