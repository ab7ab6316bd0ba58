// score_mod.glsl — score modifiers, applied to each visible score in this order:
//   s = scale * q.k
//   s = c * tanh(s / c)                        softcap
//   s = s - slope_h * |j - diag|               ALiBi
//   s = s + table[h, clamp(j - diag, -M, M) + M]   relative-position bias (clamped distance)
//   s = s + bias[b, h, i, j]                   additive bias
// The kernels keep s in log2 units (s * log2 e), so every term arrives pre-multiplied by log2 e.
#ifndef VKATTN_SCORE_MOD_GLSL
#define VKATTN_SCORE_MOD_GLSL

const float LOG2E = 1.44269504088896340736;

// tanh(x) that never divides inf by inf: with e = exp(-2|x|), tanh x = sign(x) (1 - e) / (1 + e).
float safe_tanh(float x) {
  const float e = exp2(-2.0 * LOG2E * abs(x));
  return sign(x) * (1.0 - e) / (1.0 + e);
}

// c * tanh(s / c) for s and cap = c * log2 e both in log2 units.
float softcap_log2(float s, float cap) {
  return cap * safe_tanh(s / cap);
}

// Bucket of the relative position rel = j - diag in a table of 2M + 1 entries.
uint rel_bucket(int rel, int max_distance) {
  return uint(clamp(rel, -max_distance, max_distance) + max_distance);
}

#endif
