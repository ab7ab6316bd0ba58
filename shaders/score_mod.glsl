// score_mod.glsl — score modifiers, applied to each visible score in this order:
//   s = scale * q.k
//   s = c * tanh(s / c)                        softcap
//   s = s - slope_h * |j - diag|               ALiBi
//   s = s + table[h, clamp(j - diag, -M, M) + M]   relative-position bias (clamped distance)
//   s = s + bias[b, h, i, j]                   additive bias
// The kernels keep s in log2 units (s * log2 e), so every term arrives pre-multiplied by log2 e.
// The per-row terms (ALiBi slope, table row, bias row) are found by the helpers below.
// Included at the end of attn_fwd_bindings.glsl and attn_bwd_bindings.glsl, so by every kernel but
// attn_bwd_pre.comp.
#ifndef VKATTN_SCORE_MOD_GLSL
#define VKATTN_SCORE_MOD_GLSL

#include "attn_enums.glsl"  // ALIBI_*, BIAS_*

const float LOG2E = 1.44269504088896340736;

// No score_mod: the score is scale * q.k, and only the mask can change it.
const bool PLAIN_SCORES = SOFTCAP == 0u && ALIBI == ALIBI_NONE && REL_POS == 0u && BIAS == BIAS_NONE;

// tanh(x) that never divides inf by inf and keeps fp32's relative precision near 0 (a large cap
// c makes x = s / c tiny, and c tanh(s / c) must stay ~ s): for |x| < 0.3 its odd Taylor series
// to x^9 (the next term, 1382/155925 x^11, is below 6e-8 of x there); above, with
// e = exp(-2|x|), tanh x = sign(x) (1 - e) / (1 + e), whose error (exp2's, which Vulkan bounds
// at 3 + 2|x| ulp, then the rounding of 1 - e) stays below about 6e-7 of tanh x for |x| >= 0.3.
float safe_tanh(float x) {
  const float x2 = x * x;
  if (x2 < 0.09) return x * (1.0 + x2 * (-1.0 / 3.0 + x2 * (2.0 / 15.0 + x2 * (-17.0 / 315.0 + x2 * (62.0 / 2835.0)))));
  const float e = exp2(-2.0 * LOG2E * abs(x));
  return sign(x) * (1.0 - e) / (1.0 + e);
}

// Bucket of the relative position rel = j - diag in a table of 2M + 1 entries.
uint rel_bucket(int rel, int max_distance) {
  return uint(clamp(rel, -max_distance, max_distance) + max_distance);
}

// ALiBi slope of head h (batch b for per-batch slopes) in log2 units; 0 without ALiBi. Needs
// pc.slopes_offset and `slopes` (slopes dense [Hq], or [B, Hq] for ALIBI_PER_BATCH_HEAD).
float alibi_slope_log2(uint b, uint h) {
  return ALIBI != ALIBI_NONE
             ? LOG2E * slopes[pc.slopes_offset + (ALIBI == ALIBI_PER_BATCH_HEAD ? b * params.q_heads : 0u) + h]
             : 0.0;
}

// Row of head h in the relative-position table (dense [Hq, 2M + 1]): table_offset + h * (2M + 1).
// Needs pc.table_offset.
uint rel_table_row(uint h) {
  return pc.table_offset + h * params.rel_buckets;
}

// Element [b, h, 0, 0] of bias[b, h, i, j]: bias_offset + b * stride_b + h * stride_h. Needs
// pc.bias_offset, pc.bias_stride_b, pc.bias_stride_h and (below) pc.bias_stride_q.
uint bias_head_index(uint b, uint h) {
  return pc.bias_offset + b * pc.bias_stride_b + h * pc.bias_stride_h;
}

// The bias element `rows` query rows past element idx: idx + rows * stride_q (j is contiguous).
uint bias_add_rows(uint idx, uint rows) {
  return idx + rows * pc.bias_stride_q;
}

// Element [b, h, i, 0] of the bias, the row of query i: bias_head_index(b, h) + i * stride_q.
uint bias_row_index(uint b, uint h, uint i) {
  return bias_add_rows(bias_head_index(b, h), i);
}

// The modified score of a visible pair, in log2 units, from s = scale_log2 * q.k. `rel` is
// j - diag(i); `bias_idx` the element of bias[b, h, i, j]. `dsoftcap` receives the derivative of
// the softcap at s (1 - tanh^2; 1 without softcap), which the backward chains through.
// Needs SOFTCAP/ALIBI/REL_POS/BIAS, `params`, `rel_table` and `bias_words` declared by the kernel.
float modified_score(float s, int rel, float slope_log2, uint table_row, uint bias_idx, out float dsoftcap) {
  dsoftcap = 1.0;
  if (SOFTCAP != 0u) {
    const float t = safe_tanh(s / params.softcap_log2);
    s = params.softcap_log2 * t;
    dsoftcap = 1.0 - t * t;
  }
  if (ALIBI != ALIBI_NONE) s -= slope_log2 * abs(float(rel));
  if (REL_POS != 0u) s += LOG2E * rel_table[table_row + rel_bucket(rel, params.rel_max_distance)];
  // BIAS = 1 + the bias tensor's DTYPE and DTYPE_F32 = 0, so BIAS - BIAS_F32 is that DTYPE.
  if (BIAS != BIAS_NONE) s += LOG2E * LOAD_AS(BIAS - BIAS_F32, bias_words, bias_idx);
  return s;
}

#endif
