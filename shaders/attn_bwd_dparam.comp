#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

// attn_bwd_dparam.comp — gradients of the score_mod parameters (PARAM picks which). One workgroup
// per output element: its invocations stride over the element's contributing query rows, then a
// fixed-order tree sums their partial sums (deterministic, no atomics). With dS recomputed as in
// attn_bwd_dq.comp (dS_ij = P_ij (dO_i . v_j - delta_i), natural units):
//   PARAM 1  dbias[b', h', i', j] = sum over the broadcast (b, h, i) of dS_bhij
//   PARAM 2  dtable[h, m]         = sum over (b, i, j) with clamp(j - diag(i), -M, M) + M = m of dS_bhij
//   PARAM 3  dsink[h]             = -sum over (b, i) of exp(sink_h - LSE_bhi) * delta_bhi
// (O_i = sum_j P_ij v_j has no sink row and dP_ij/dsink = -P_sink,i P_ij, so
// dL/dsink = sum_i dO_i . dO_i/dsink = -sum_i P_sink,i (dO_i . O_i) = -sum_i P_sink,i delta_i.)

layout(push_constant) uniform ParamPush {
#define VKATTN_PC(T, name) T name;
#include "attn_bwd_dparam_push.inc"
#undef VKATTN_PC
} pc;

#include "attn_bwd_bindings.glsl"
#include "attn_sequence.glsl"
#include "attn_workspace.glsl"
#include "attn_documents.glsl"

layout(local_size_x_id = 32) in;  // BLOCK_ROWS

shared float partial[BLOCK_ROWS];

void main() {
  const uint r = gl_LocalInvocationID.x;
  const uint B = params.batch, Hq = params.q_heads, Sq = params.seq_q;
  // The element this workgroup reduces, and how many query rows contribute to it.
  uint out_b = 0u, out_h = 0u, out_i = 0u, out_j = 0u, bucket = 0u;
  uint nb = B, nh = 1u, ni = Sq;  // contributing rows: nb x nh x ni
  if (PARAM == PARAM_BIAS) {
    out_j = gl_WorkGroupID.x;
    out_i = gl_WorkGroupID.y;
    out_b = gl_WorkGroupID.z / pc.extent_h;
    out_h = gl_WorkGroupID.z % pc.extent_h;
    nb = pc.extent_b == 1u ? B : 1u;
    nh = pc.extent_h == 1u ? Hq : 1u;
    ni = pc.extent_q == 1u ? Sq : 1u;
  } else if (PARAM == PARAM_TABLE) {
    bucket = gl_WorkGroupID.x;
    out_h = gl_WorkGroupID.y;
  } else {
    out_h = gl_WorkGroupID.x;
  }
  const uint count = nb * nh * ni;
  const int M = params.rel_max_distance;
  const int win_left = params.window_left;
  const int win_right = params.window_right;
  const float scale_log2 = params.scale_log2;

  float acc = 0.0;
  [[dont_unroll]] for (uint n = r; n < count; n += BLOCK_ROWS) {
    // Row n of the set: (b, h, i), taking the element's own index on non-broadcast dims.
    const uint b = nb == 1u ? out_b : n / (nh * ni);
    const uint h = nh == 1u ? out_h : (n / ni) % nh;
    const uint i = ni == 1u ? out_i : n % ni;
    const uvec4 seq = sequence(b);
    const uint start_q = seq.x, len_q = seq.y, start_k = seq.z, len_k = seq.w;
    if (i >= len_q) continue;
    const uint row = work_row(b, h, start_q, i);
    const float lse2 = work[row];
    if (lse2 == NEG_INF) continue;  // the row saw nothing
    const float delta = work[params.work_rows + row];
    if (PARAM == PARAM_SINKS) {
      acc -= exp2(LOG2E * sinks[pc.sinks_offset + h] - lse2) * delta;
      continue;
    }
    const int shift = diag_shift(len_q, len_k, params.position_shift);
    const int diag = int(i) + shift;
    // Keys [j_lo, j_hi) that feed this element from row i.
    int j_lo = int(out_j), j_hi = int(out_j) + 1;
    if (PARAM == PARAM_TABLE) {
      const int d = int(bucket) - M;  // relative position of the bucket
      j_lo = d == -M ? 0 : diag + d;
      j_hi = d == M ? int(len_k) : diag + d + 1;
    }
    j_lo = max(j_lo, 0);
    j_hi = min(j_hi, int(len_k));
    if (j_lo >= j_hi) continue;

    const uint kv_h = h / (Hq / params.kv_heads);
    const uint token = start_q + i;
    vec4 q[DK4];
    vec4 dout[DV4];
    const uint q_base = pc.q_offset + b * pc.q_stride_b + h * pc.q_stride_h + token * pc.q_stride_s;
    const uint do_base = pc.do_offset + b * pc.do_stride_b + h * pc.do_stride_h + token * pc.do_stride_s;
    [[unroll]] for (uint d4 = 0u; d4 < DK4; ++d4) q[d4] = LOAD_VEC4(q_words, q_base + 4u * d4) * scale_log2;
    [[unroll]] for (uint d4 = 0u; d4 < DV4; ++d4) dout[d4] = LOAD_VEC4(do_words, do_base + 4u * d4);
    const float slope_log2 = alibi_slope_log2(b, h);
    const uint table_row = rel_table_row(h);
    const uint bias_row = bias_row_index(b, h, i);
    int doc_i = 0;
    if (DOCUMENTS != 0u) doc_i = query_doc(b, start_q, i);
    const uint k_seq = pc.k_offset + b * pc.k_stride_b + kv_h * pc.k_stride_h + start_k * pc.k_stride_s;
    const uint v_seq = pc.v_offset + b * pc.v_stride_b + kv_h * pc.v_stride_h + start_k * pc.v_stride_s;

    [[dont_unroll]] for (int j = j_lo; j < j_hi; ++j) {
      if (!mask_allows(diag, j, int(len_k), win_left, win_right)) continue;
      if (DOCUMENTS != 0u && key_doc(b, start_k, uint(j)) != doc_i) continue;
      vec4 xs = vec4(0.0);
      vec4 dp4 = vec4(0.0);
      const uint k_row = k_seq + uint(j) * pc.k_stride_s;
      const uint v_row = v_seq + uint(j) * pc.v_stride_s;
      [[unroll]] for (uint d4 = 0u; d4 < DK4; ++d4) xs = fma(q[d4], LOAD_VEC4(k_words, k_row + 4u * d4), xs);
      [[unroll]] for (uint d4 = 0u; d4 < DV4; ++d4) dp4 = fma(dout[d4], LOAD_VEC4(v_words, v_row + 4u * d4), dp4);
      float dsoftcap;
      const float s = modified_score((xs.x + xs.y) + (xs.z + xs.w), j - diag, slope_log2, table_row,
                                     bias_row + uint(j), dsoftcap);
      const float zp = DROPOUT != 0u ? dropout_factor_at(b, h, i, uint(j)) : 1.0;  // attn_bwd_dq.comp
      acc += exp2(s - lse2) * (zp * ((dp4.x + dp4.y) + (dp4.z + dp4.w)) - delta);  // dS_ij
    }
  }

  // Fixed-order tree: partial[0] = sum of all partial sums. The first stride is half the power of
  // two at or above BLOCK_ROWS (entries past BLOCK_ROWS count as 0), so any workgroup size works.
  partial[r] = acc;
  barrier();
  for (uint stride = 1u << findMSB(max(BLOCK_ROWS, 2u) - 1u); stride > 0u; stride >>= 1u) {
    if (r < stride && r + stride < BLOCK_ROWS) partial[r] += partial[r + stride];
    barrier();
  }
  if (r != 0u) return;
  uint out_idx = pc.out_offset;
  if (PARAM == PARAM_BIAS) {
    out_idx += out_b * pc.out_stride_b + out_h * pc.out_stride_h + out_i * pc.out_stride_q + out_j;
  } else if (PARAM == PARAM_TABLE) {
    out_idx += out_h * pc.out_stride_h + bucket;
  } else {
    out_idx += out_h;
  }
  out0_words[out_idx] = floatBitsToUint(partial[0]);
}
