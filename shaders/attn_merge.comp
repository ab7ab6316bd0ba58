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
// owns elements 4c .. 4c + 3 and sums parts p, p + PART_LANES, p + 2 PART_LANES, ... in order
// (four loads in flight per step: split-K decode merges hundreds of parts per row, and one
// dependent load per part leaves the row waiting on memory); the lanes' sums then add up in lane
// order, so the result depends only on the spec, never on timing. M comes first, from all
// invocations striding over the parts' LSEs and a tree in shared memory.

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

shared float max_sh[WORKGROUP_SIZE];
shared vec4 o_sh[WORKGROUP_SIZE];
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

  // M = max_n LSE_n (with the current output's LSE under ACCUMULATE).
  const float lse_acc = ACCUMULATE != 0u ? lse_values[lse_row] : NEG_INF;
  float m = tid == 0u ? lse_acc : NEG_INF;
  for (uint n = tid; n < pc.num_parts; n += WORKGROUP_SIZE) m = max(m, lse_parts[part_lse_row + n * pc.lse_part_stride]);
  max_sh[tid] = m;
  barrier();
  [[unroll]] for (uint half_size = WORKGROUP_SIZE / 2u; half_size > 0u; half_size /= 2u) {
    if (tid < half_size) max_sh[tid] = max(max_sh[tid], max_sh[tid + half_size]);
    barrier();
  }
  m = max_sh[0];

  // Lane p: o = sum w_n O_n and w = sum w_n over its parts, w_n = exp(LSE_n - M); parts with
  // w_n = 0 are not read. Lane 0 starts from the current output under ACCUMULATE.
  vec4 o = vec4(0.0);
  float w_sum = 0.0;
  if (m != NEG_INF) {
    if (p == 0u && ACCUMULATE != 0u && lse_acc != NEG_INF) {
      w_sum = exp(lse_acc - m);
      if (owns) o = w_sum * LOAD_VEC4(o_words, o_row + 4u * c);
    }
    const uint step = PART_LANES;
    uint n = p;
    for (; n + 3u * step < pc.num_parts; n += 4u * step) {
      float w[4];
      vec4 v[4];
      // All eight loads go out together (an O load that waited for its LSE would double the
      // step's latency); an O whose part saw nothing is read but not used.
      float lse_n[4];
      [[unroll]] for (uint k = 0u; k < 4u; ++k) {
        lse_n[k] = lse_parts[part_lse_row + (n + k * step) * pc.lse_part_stride];
        v[k] = owns ? load_part(part_o_index(part_o_row, n + k * step, c)) : vec4(0.0);
      }
      [[unroll]] for (uint k = 0u; k < 4u; ++k) {
        w[k] = lse_n[k] == NEG_INF ? 0.0 : exp(lse_n[k] - m);
        w_sum += w[k];
        if (w[k] != 0.0) o = fma(vec4(w[k]), v[k], o);
      }
    }
    for (; n < pc.num_parts; n += step) {
      const float lse_n = lse_parts[part_lse_row + n * pc.lse_part_stride];
      if (lse_n == NEG_INF) continue;
      const float w = exp(lse_n - m);
      w_sum += w;
      if (owns) o = fma(vec4(w), load_part(part_o_index(part_o_row, n, c)), o);
    }
  }

  // The lanes' sums, in lane order; W >= 1 (the part that holds M has w = 1).
  o_sh[tid] = o;
  if (c == 0u) w_sh[p] = w_sum;
  barrier();
  if (p != 0u) return;
  if (m != NEG_INF) {
    w_sum = w_sh[0];
    for (uint q = 1u; q < PART_LANES; ++q) {
      o += o_sh[q * COLS + c];
      w_sum += w_sh[q];
    }
    o /= w_sum;
  }
  if (owns) STORE_VEC4(o_words, o_row + 4u * c, o);
  // Every invocation read the old LSE (ACCUMULATE) before the barrier above.
  if (WRITE_LSE != 0u && tid == 0u) lse_values[lse_row] = m != NEG_INF ? m + log(w_sum) : NEG_INF;
}
