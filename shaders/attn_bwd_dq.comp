#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

// attn_bwd_dq.comp — dQ of the FlashAttention-2 backward, scalar path. One workgroup = BLOCK_ROWS
// query rows of one (b, h); invocation r owns row i and walks the K/V tiles its mask allows
// (staged in shared memory), recomputing P from the saved LSE. With u_ij = scale_log2 * q_i . k_j
// and s_ij = score_mod(u_ij) in log2 units (score_mod.glsl: softcap first, then the additive
// ALiBi, relative-position and bias terms):
//   P_ij  = 2^(s_ij - lse2_i)                       (lse2 = LSE * log2 e, attn_bwd_pre)
//   dP_ij = dO_i . v_j                              (x Z_ij / (1 - p) with DROPOUT: attn_dropout.glsl)
//   dS_ij = P_ij (dP_ij - delta_i)                  (dL/ds in natural units; what dparam sums)
//   dU_ij = dS_ij * softcap'(u_ij)                  (dL/du: 1 - tanh^2(u / c), 1 without softcap)
//   dQ_i  = scale * sum_j dU_ij k_j
// Each dQ row is owned by one invocation and summed in a fixed order: deterministic.

layout(push_constant) uniform BwdPush {
#define VKATTN_PC(T, name) T name;
#include "attn_bwd_push.inc"
#undef VKATTN_PC
} pc;

#include "attn_bwd_bindings.glsl"
#include "attn_sequence.glsl"
#include "attn_workspace.glsl"
#include "attn_documents.glsl"

layout(local_size_x_id = 32) in;  // BLOCK_ROWS

const uint K_TILE_VEC4S = BLOCK_COLS * DK4;
const uint V_TILE_VEC4S = BLOCK_COLS * DV4;
const uint TILE_VEC4S = K_TILE_VEC4S > V_TILE_VEC4S ? K_TILE_VEC4S : V_TILE_VEC4S;
const uint LOADS_PER_INVOCATION = (TILE_VEC4S + BLOCK_ROWS - 1u) / BLOCK_ROWS;

shared vec4 k_tile[K_TILE_VEC4S];
shared vec4 v_tile[V_TILE_VEC4S];
shared int doc_k_tile[BLOCK_COLS];

void main() {
  const uint r = gl_LocalInvocationID.x;
  const uint b = gl_WorkGroupID.y / params.q_heads;
  const uint h = gl_WorkGroupID.y % params.q_heads;
  const uint kv_h = h / (params.q_heads / params.kv_heads);
  const uvec4 seq = sequence(b);
  const uint start_q = seq.x, len_q = seq.y, start_k = seq.z, len_k = seq.w;
  // Query blocks run last to first: under a causal mask the last tiles see the most keys, so the
  // heaviest workgroups start first and the light ones fill the end of the grid.
  const uint i0 = (gl_NumWorkGroups.x - 1u - gl_WorkGroupID.x) * BLOCK_ROWS;
  if (SEQ_MODE == SEQ_VARLEN && i0 >= len_q) return;  // uniform
  const uint i = i0 + r;
  const bool row_written = i < (SEQ_MODE == SEQ_VARLEN ? len_q : params.seq_q);
  const int shift = diag_shift(len_q, len_k, params.position_shift);
  const int diag = int(i) + shift;
  const int win_left = params.window_left;
  const int win_right = params.window_right;

  float lse2 = NEG_INF;
  float delta = 0.0;
  if (i < len_q) {
    const uint row = work_row(b, h, start_q, i);
    lse2 = work[row];
    delta = work[params.work_rows + row];
  }
  const bool row_live = lse2 != NEG_INF;  // a row that saw nothing has no gradient

  const uvec2 kv_tiles = mask_key_tiles(i0, BLOCK_ROWS, len_q, len_k, shift, win_left, win_right, BLOCK_COLS);
  const uint tile_begin = kv_tiles.x, tile_end = kv_tiles.y;

  const float slope_log2 = alibi_slope_log2(b, h);
  const uint table_row = rel_table_row(h);
  const uint bias_row = bias_row_index(b, h, i);
  const float scale = params.scale_log2 / LOG2E;
  int doc_i = 0;
  if (DOCUMENTS != 0u && i < len_q) doc_i = query_doc(b, start_q, i);

  vec4 q[DK4];
  vec4 dout[DV4];
  vec4 dq[DK4];
  const uint q_base = pc.q_offset + b * pc.q_stride_b + h * pc.q_stride_h + (start_q + i) * pc.q_stride_s;
  const uint do_base = pc.do_offset + b * pc.do_stride_b + h * pc.do_stride_h + (start_q + i) * pc.do_stride_s;
  [[unroll]] for (uint d4 = 0u; d4 < DK4; ++d4) {
    q[d4] = row_live ? LOAD_VEC4(q_words, q_base + 4u * d4) * params.scale_log2 : vec4(0.0);
    dq[d4] = vec4(0.0);
  }
  [[unroll]] for (uint d4 = 0u; d4 < DV4; ++d4) {
    dout[d4] = row_live ? LOAD_VEC4(do_words, do_base + 4u * d4) : vec4(0.0);
  }

  const uint k_seq = pc.k_offset + b * pc.k_stride_b + kv_h * pc.k_stride_h + start_k * pc.k_stride_s;
  const uint v_seq = pc.v_offset + b * pc.v_stride_b + kv_h * pc.v_stride_h + start_k * pc.v_stride_s;

  // The row's keys come in order: one generator call per group, one per (j / 2) % 4 (attn_dropout.glsl).
  DropoutWords z[4] = DropoutWords[4](no_dropout_words(), no_dropout_words(), no_dropout_words(), no_dropout_words());
  [[dont_unroll]] for (uint t = tile_begin; t < tile_end; ++t) {
    const uint kv0 = t * BLOCK_COLS;
    barrier();  // the previous tile is no longer read
    [[dont_unroll]] for (uint n = 0u; n < LOADS_PER_INVOCATION; ++n) {
      const uint e = n * BLOCK_ROWS + r;
      if (e < K_TILE_VEC4S) {
        const uint j = kv0 + e / DK4;
        k_tile[e] = j < len_k ? LOAD_VEC4(k_words, k_seq + j * pc.k_stride_s + 4u * (e % DK4)) : vec4(0.0);
      }
      if (e < V_TILE_VEC4S) {
        const uint j = kv0 + e / DV4;
        v_tile[e] = j < len_k ? LOAD_VEC4(v_words, v_seq + j * pc.v_stride_s + 4u * (e % DV4)) : vec4(0.0);
      }
    }
    if (DOCUMENTS != 0u && r < BLOCK_COLS) {
      const uint j = kv0 + r;
      doc_k_tile[r] = j < len_k ? key_doc(b, start_k, j) : 0;
    }
    barrier();
    if (!row_live) continue;

    [[dont_unroll]] for (uint j0 = 0u; j0 < BLOCK_COLS; j0 += STEP) {
      [[unroll]] for (uint u = 0u; u < STEP; ++u) {
        const uint jj = j0 + u;
        const int j = int(kv0 + jj);
        if (!mask_allows(diag, j, int(len_k), win_left, win_right) ||
            (DOCUMENTS != 0u && doc_k_tile[jj] != doc_i)) {
          continue;
        }
        vec4 xs = vec4(0.0);
        vec4 dp4 = vec4(0.0);
        [[unroll]] for (uint d4 = 0u; d4 < DK4; ++d4) xs = fma(q[d4], k_tile[jj * DK4 + d4], xs);
        [[unroll]] for (uint d4 = 0u; d4 < DV4; ++d4) dp4 = fma(dout[d4], v_tile[jj * DV4 + d4], dp4);
        float dsoftcap;
        const float s = modified_score((xs.x + xs.y) + (xs.z + xs.w), j - diag, slope_log2, table_row,
                                       bias_row + uint(j), dsoftcap);
        const float p = exp2(s - lse2);
        // Dropout: dL/dP_ij = Z_ij / (1 - p) dO_i . v_j (delta = dO_i . O_i already holds Z).
        const float zp = DROPOUT != 0u ? dropout_factor_kept(z[(uint(j) >> 1u) & 3u], b, h, i, uint(j)) : 1.0;
        const float ds = p * (zp * ((dp4.x + dp4.y) + (dp4.z + dp4.w)) - delta);  // dL/ds
        const float g = ds * dsoftcap * scale;                                   // dL/d(q.k)
        [[unroll]] for (uint d4 = 0u; d4 < DK4; ++d4) dq[d4] = fma(vec4(g), k_tile[jj * DK4 + d4], dq[d4]);
      }
    }
  }

  if (!row_written) return;
  const uint dq_base = pc.out0_offset + b * pc.out0_stride_b + h * pc.out0_stride_h + (start_q + i) * pc.out0_stride_s;
  [[unroll]] for (uint d4 = 0u; d4 < DK4; ++d4) {
    STORE_VEC4(out0_words, dq_base + 4u * d4, dq[d4]);
  }
}
