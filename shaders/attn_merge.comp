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
// Parts with LSE_n = -inf have w_n = 0 and their O_n is never read (it may be anything, NaN
// included). When every part is -inf the row saw nothing: O = 0 and LSE = -inf, as one pass
// writes. With ACCUMULATE the output's current (O, LSE) is one more part, merged in place (the
// running result of ring attention or of a chunked KV cache).
//
// One workgroup per row (b, h, s); invocation c owns elements 4c .. 4c + 3 of the row.

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

void main() {
  const uint c = gl_LocalInvocationID.x;
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

  // M = max_n LSE_n (with the current output's LSE under ACCUMULATE).
  const float lse_acc = ACCUMULATE != 0u ? lse_values[lse_row] : NEG_INF;
  float m = lse_acc;
  [[dont_unroll]] for (uint n = 0u; n < pc.num_parts; ++n) {
    m = max(m, lse_parts[part_lse_row + n * pc.lse_part_stride]);
  }
  // O = sum_n w_n O_n / W with w_n = exp(LSE_n - M); parts with w_n = 0 are not read.
  vec4 o = vec4(0.0);
  float w_sum = 0.0;
  if (m != NEG_INF) {
    if (ACCUMULATE != 0u && lse_acc != NEG_INF) {
      const float w = exp(lse_acc - m);
      w_sum = w;
      if (c < DV4) o = w * LOAD_VEC4(o_words, o_row + 4u * c);
    }
    [[dont_unroll]] for (uint n = 0u; n < pc.num_parts; ++n) {
      const float lse_n = lse_parts[part_lse_row + n * pc.lse_part_stride];
      if (lse_n == NEG_INF) continue;
      const float w = exp(lse_n - m);
      w_sum += w;
      if (c < DV4) {
        const uint idx = part_o_row + n * pc.o_part_stride + 4u * c;
        o = fma(vec4(w), vec4(LOAD_AS(PART_DTYPE, o_parts_words, idx), LOAD_AS(PART_DTYPE, o_parts_words, idx + 1u),
                              LOAD_AS(PART_DTYPE, o_parts_words, idx + 2u), LOAD_AS(PART_DTYPE, o_parts_words, idx + 3u)),
                o);
      }
    }
    o /= w_sum;  // w_sum >= 1: the part that holds the max has w = 1
  }
  if (c < DV4) STORE_VEC4(o_words, o_row + 4u * c, o);
  if (WRITE_LSE != 0u) {
    barrier();  // every invocation has read the old LSE (ACCUMULATE) before it is replaced
    if (c == 0u) lse_values[lse_row] = m != NEG_INF ? m + log(w_sum) : NEG_INF;
  }
}
