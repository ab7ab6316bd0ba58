// What vkattn-bench measures: passes x variants x shapes, grouped in presets, and the FLOP
// counts the FlashAttention papers use.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vkattn/vkattn.hpp"

namespace vkattn::bench {

enum class Pass { kFwd, kBwd, kFwdBwd };

// qk_rms_rope's transform (the LLM block's): RMSNorm on Q and K, rotate-half RoPE.
inline const QKNorm kBenchQKNorm{QKNormKind::kRMS, 1e-6f, 1.0f};
constexpr RopeStyle kBenchRope = RopeStyle::kRotateHalf;
const char* to_string(Pass p);  // "fwd", "bwd", "fwdbwd"

struct BenchCase {
  Pass pass = Pass::kFwd;
  std::int64_t batch = 1, q_heads = 1, kv_heads = 1, seq_q = 1, seq_k = 1, head_dim = 64;
  std::int64_t head_dim_v = 0;  // Dv of V and O where it differs from head_dim (Dk); 0: Dv = Dk
  DType dtype = DType::kF16;
  std::string mask_name;  // "nomask", "causal_br", "win512_br"
  Mask mask;
  std::int64_t paged_block = 0;  // K/V in a paged cache of blocks of this many tokens (0: contiguous)
  float dropout = 0.0f;           // dropout probability on P (vkattn/dropout.hpp; 0: none)
  bool qk_rms_rope = false;       // RMSNorm on Q and K and rotate-half RoPE (vkattn/qk_transform.hpp)
  bool qk_separate = false;       // with qk_rms_rope: as separate passes before plain attention (qk_separate.hpp)

  std::int64_t dv() const { return head_dim_v != 0 ? head_dim_v : head_dim; }

  // "fwd/f16/causal_br/b4_h16x16_sq4096_sk4096_d64": the benchmark name ("_d192_dv128" where Dv
  // differs from Dk; then "_paged16" for a
  // paged cache, "_dropout10" for dropout with p = 0.1, "_qkrope" for QK-norm and RoPE, "_qkrope_sep"
  // for them as separate passes).
  std::string name() const;
  // The chart series this case belongs to: everything but the sequence length and batch.
  std::string series() const;
  // FLOPs by the FlashAttention papers' formula: 2 * B * Hq * (Dk + Dv) * (visible query-key
  // pairs) for the forward (4 * B * H * Sq * Sk * D without a mask where Dk = Dv = D, about half
  // with a causal one), 2.5x that for the backward, 3.5x for forward + backward (the papers'
  // convention; where Dk != Dv the backward's products are 2 * (3 Dk + 2 Dv) per pair, e.g. 4 %
  // more than 2.5x at 192 / 128).
  double flops() const;
  // Bytes of Q, K, V, O (and dO, dQ, dK, dV for the backward) moved at least once.
  double bytes() const;
  // Bytes of K and V: what a decode step must read (its bandwidth figure).
  double kv_bytes() const;
};

// A (B, H, S, D) problem: batch, heads (as many K/V heads as query heads), sequence length (queries
// and keys), head dimension (of Q and K; of V and O too unless dv is set).
struct Shape {
  std::int64_t b, h, s, d;
  std::int64_t dv = 0;  // V's and O's head dim where it differs from d (e.g. 192 / 128); 0: d
  bool operator==(const Shape&) const = default;
};

// Forward and forward + backward, fp16, no mask and causal, for each shape: the cases the compare
// preset runs, for any shapes (vkattn-bench --shapes=...).
std::vector<BenchCase> shape_cases(const std::vector<Shape>& shapes);

// "4x16x4096x64,1x16x16384x128,4x16x4096x192x128": comma-separated BxHxSxD or BxHxSxDkxDv (Q's
// and K's head dim, then V's and O's), each from 1 to kMaxShapeDim, at most kMaxShapeElements
// elements per tensor, none given twice; an error names the item.
constexpr std::int64_t kMaxShapeDim = std::int64_t{1} << 28;
constexpr std::int64_t kMaxShapeElements = std::int64_t{1} << 36;
Result<std::vector<Shape>> parse_shapes(const std::string& text);

// A decode problem: batch, query heads, K/V heads (a divisor of the query heads), new tokens (Sq),
// cached keys (Sk), head dimension.
struct DecodeShape {
  std::int64_t batch, q_heads, kv_heads, seq_q, seq_k, head_dim;
};

// "4x32x8x1x8192x128,...": comma-separated BxHqxHkvxSqxSkxD (vkattn-bench --decode), each from 1 to
// kMaxShapeDim, Hq a multiple of Hkv, none given twice; an error names the item.
Result<std::vector<DecodeShape>> parse_decode_shapes(const std::string& text);

// The decode preset's cases for `shapes`: forward, fp16, bottom-right causal (the new tokens see
// the whole cache and each other up to themselves), K/V contiguous (paged block 0) and in paged
// caches of each other block size in `paged_blocks`.
std::vector<BenchCase> decode_cases(const std::vector<DecodeShape>& shapes, const std::vector<std::int64_t>& paged_blocks);

// Presets:
//   short   (default) a minute on lavapipe; the FlashAttention shapes (4, 16, 4096, 64/128) on GPUs
//   fa2     the FlashAttention-2 paper's sweep: B * S = 16k tokens, S = 512 ... 16k, H * D = 2048,
//           D = 64, 128, 256, causal and not, fp16, every pass
//   decode  Sq = 1 ... 8 against Sk up to 32k, GQA 8:1 (Hq 32, Hkv 4), D = 128, fp16, forward,
//           batch 1 and 16, K/V contiguous and in a paged cache of 16-token blocks (CPU devices:
//           Sq 1 and 8, Sk 1k and 4k, batch 1)
// Returns an empty list for an unknown name.
std::vector<BenchCase> preset(const std::string& name, bool cpu);

}  // namespace vkattn::bench
