#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

// attn_merge.comp — the exact merge of partial attention results.
//
// Part n of a row holds O_n, attention over its own keys (normalized: sum_j P_nj v_j / l_n), and
// LSE_n = ln sum_{j in part n} exp(s_j) (-inf where the part saw no key). Over the union of the
// parts' keys:
//   M   = max_n LSE_n,   w_n = exp(LSE_n - M),   W = sum_n w_n
//   O   = sum_n w_n O_n / W
//   LSE = M + ln W
// Parts with LSE_n = -inf have w_n = 0 and their O_n is never used (it may be anything, NaN
// included). When every part is -inf the row saw nothing: O = 0 and LSE = -inf, as one pass
// writes. With ACCUMULATE the output's current (O, LSE) is one more part, merged in place (the
// running result of ring attention or of a chunked KV cache).
//
// One workgroup per row (b, h, s), PART_LANES groups of COLS invocations: invocation c of lane p
// owns elements 4c .. 4c + 3 and merges parts p, p + PART_LANES, p + 2 PART_LANES, ... in order,
// four per step with all their loads in flight (split-K decode merges dozens to hundreds of parts
// per row; one dependent load per part would leave the row waiting on memory). Each lane keeps
// its own running merge, rescaled when its maximum grows (one pass over the parts: no separate
// pass for M):
//   m_p = max LSE_n over the lane's parts so far,  w_p = sum exp(LSE_n - m_p),
//   o_p = sum exp(LSE_n - m_p) O_n.
// A part with LSE_n = -inf is loaded with the others of its step but never used.
// The lanes' (m, w, o) then combine pairwise in a fixed tree (lane p with lane p + half, half =
// PART_LANES / 2, ..., 1), so the result depends only on the spec, never on timing.

#include "attn_enums.glsl"
#include "storage.glsl"

#define VKATTN_SPEC(id, NAME, field, def) layout(constant_id = id) const uint NAME = def;
#include "attn_merge_spec.inc"
#undef VKATTN_SPEC

layout(local_size_x_id = 5) in;

layout(push_constant) uniform MergePush {
#define VKATTN_PC(T, name) T name;
#include "attn_merge_push.inc"
#undef VKATTN_PC
} pc;

#include "attn_buffers.glsl"
#include "attn_merge_bindings.inc"
#undef VKATTN_BUFFER
#undef VKATTN_PARAMS

const float NEG_INF = -1.0 / 0.0;
const uint DV4 = HEAD_DIM_V / 4u;

shared vec4 o_sh[WORKGROUP_SIZE];
shared float m_sh[PART_LANES];
shared float w_sh[PART_LANES];

uint part_o_index(uint row_base, uint n, uint c) { return row_base + n * pc.o_part_stride + 4u * c; }

vec4 load_part(uint idx) {
  return vec4(LOAD_AS(PART_DTYPE, o_parts_words, idx), LOAD_AS(PART_DTYPE, o_parts_words, idx + 1u),
              LOAD_AS(PART_DTYPE, o_parts_words, idx + 2u), LOAD_AS(PART_DTYPE, o_parts_words, idx + 3u));
}

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint c = tid % COLS;   // elements 4c .. 4c + 3
  const uint p = tid / COLS;   // part lane
  const uint row = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
  if (row >= pc.rows) return;  // uniform: the grid's last line may run past the rows
  const uint b = row / (pc.heads * pc.seq);
  const uint h = (row / pc.seq) % pc.heads;
  const uint s = row % pc.seq;
  const uint o_row = pc.o_offset + b * pc.o_stride_b + h * pc.o_stride_h + s * pc.o_stride_s;
  const uint lse_row = pc.lse_offset + b * pc.lse_stride_b + h * pc.lse_stride_h + s * pc.lse_stride_s;
  const uint part_o_row = pc.o_parts_offset + b * pc.o_parts_stride_b + h * pc.o_parts_stride_h + s * pc.o_parts_stride_s;
  const uint part_lse_row =
      pc.lse_parts_offset + b * pc.lse_parts_stride_b + h * pc.lse_parts_stride_h + s * pc.lse_parts_stride_s;
  const bool owns = c < DV4;

  // Lane 0 starts from the current output under ACCUMULATE (a part of weight exp(lse_acc)).
  float m = NEG_INF;  // the lane's running maximum
  float w = 0.0;      // sum exp(LSE_n - m)
  vec4 o = vec4(0.0); // sum exp(LSE_n - m) O_n
  const float lse_acc = ACCUMULATE != 0u ? lse_values[lse_row] : NEG_INF;
  if (p == 0u && lse_acc != NEG_INF) {
    m = lse_acc;
    w = 1.0;
    if (owns) o = LOAD_VEC4(o_words, o_row + 4u * c);
  }
  const uint step = PART_LANES;
  for (uint n = p; n < pc.num_parts; n += 4u * step) {
    // All eight loads go out together (an O load that waited for its LSE would double the step's
    // latency); an O whose part saw nothing (LSE = -inf) is read but never used, NaN or not.
    float lse_n[4];
    vec4 v[4];
    [[unroll]] for (uint k = 0u; k < 4u; ++k) {
      const uint q = n + k * step;
      lse_n[k] = q < pc.num_parts ? lse_parts[part_lse_row + q * pc.lse_part_stride] : NEG_INF;
      v[k] = q < pc.num_parts && owns ? load_part(part_o_index(part_o_row, q, c)) : vec4(0.0);
    }
    const float m_new = max(max(m, max(lse_n[0], lse_n[1])), max(lse_n[2], lse_n[3]));
    if (m_new == NEG_INF) continue;  // nothing seen yet (uniform in the lane)
    // 0 while m = -inf (w and o are 0 then); exp(-inf) is not relied on (Vulkan bounds exp's error
    // relative to |x|, which is unbounded there).
    const float r = m == NEG_INF ? 0.0 : exp(m - m_new);
    w *= r;
    o *= r;
    [[unroll]] for (uint k = 0u; k < 4u; ++k) {
      if (lse_n[k] == NEG_INF) continue;
      const float wk = exp(lse_n[k] - m_new);
      w += wk;
      o = fma(vec4(wk), v[k], o);
    }
    m = m_new;
  }

  // The lanes combine pairwise: lane p (< half) takes lane p + half's (m, w, o). Each step reads
  // only lanes >= half, which no longer write, and writes lanes < half, read after the barrier.
  o_sh[tid] = o;
  if (c == 0u) {
    m_sh[p] = m;
    w_sh[p] = w;
  }
  barrier();
  [[unroll]] for (uint half_lanes = PART_LANES / 2u; half_lanes > 0u; half_lanes /= 2u) {
    if (p < half_lanes) {
      const float m_b = m_sh[p + half_lanes];
      const float m_new = max(m, m_b);
      if (m_new != NEG_INF) {
        const float ra = m == NEG_INF ? 0.0 : exp(m - m_new);
        const float rb = m_b == NEG_INF ? 0.0 : exp(m_b - m_new);
        w = ra * w + rb * w_sh[p + half_lanes];
        o = ra * o + rb * o_sh[tid + half_lanes * COLS];
        m = m_new;
      }
      o_sh[tid] = o;
      if (c == 0u) {
        m_sh[p] = m;
        w_sh[p] = w;
      }
    }
    barrier();
  }
  if (p != 0u) return;
  // m is the maximum over every part (M) and w >= 1 (the part that holds M has weight 1).
  if (m != NEG_INF) o /= w;
  if (owns) STORE_VEC4(o_words, o_row + 4u * c, o);
  // Every invocation read the old LSE (ACCUMULATE) before the first barrier above.
  if (WRITE_LSE != 0u && tid == 0u) lse_values[lse_row] = m != NEG_INF ? m + log(w) : NEG_INF;
}
