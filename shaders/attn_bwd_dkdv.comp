#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

// attn_bwd_dkdv.comp — dK and dV of the FlashAttention-2 backward, scalar path. One workgroup =
// BLOCK_ROWS key rows of one (b, KV head); invocation r owns key row j and walks, for every query
// head of its GQA group, the query tiles its mask allows (Q, dO, lse2 and delta staged in shared
// memory), recomputing P from the saved LSE. In the notation of attn_bwd_dq.comp:
//   dV_j = sum_{h in group} sum_i P_ij dO_i          (P_ij Z_ij / (1 - p) with DROPOUT)
//   dK_j = scale * sum_{h in group} sum_i dU_ij q_i
// Each dK/dV row is owned by one invocation and summed in a fixed order (heads, then query
// tiles, then rows): deterministic, no atomics.

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

const uint Q_TILE_VEC4S = BLOCK_COLS * DK4;
const uint DO_TILE_VEC4S = BLOCK_COLS * DV4;
const uint TILE_VEC4S = Q_TILE_VEC4S > DO_TILE_VEC4S ? Q_TILE_VEC4S : DO_TILE_VEC4S;
const uint LOADS_PER_INVOCATION = (TILE_VEC4S + BLOCK_ROWS - 1u) / BLOCK_ROWS;

shared vec4 q_tile[Q_TILE_VEC4S];
shared vec4 do_tile[DO_TILE_VEC4S];
shared float lse2_tile[BLOCK_COLS];
shared float delta_tile[BLOCK_COLS];
shared int doc_q_tile[BLOCK_COLS];

void main() {
  const uint r = gl_LocalInvocationID.x;
  const uint b = gl_WorkGroupID.y / params.kv_heads;
  const uint kv_h = gl_WorkGroupID.y % params.kv_heads;
  const uint group = params.q_heads / params.kv_heads;
  const uvec4 seq = sequence(b);
  const uint start_q = seq.x, len_q = seq.y, start_k = seq.z, len_k = seq.w;
  const uint j0 = gl_WorkGroupID.x * BLOCK_ROWS;
  if (SEQ_MODE == SEQ_VARLEN && j0 >= len_k) return;  // uniform
  const uint j = j0 + r;
  const bool row_written = j < (SEQ_MODE == SEQ_VARLEN ? len_k : params.seq_k);
  const bool row_live = j < len_k;
  const int shift = diag_shift(len_q, len_k, params.position_shift);
  const int win_left = params.window_left;
  const int win_right = params.window_right;
  const float scale = params.scale_log2 / LOG2E;

  // Query tiles [tile_begin, tile_end) may see some key of this tile; other query tiles are skipped.
  const uvec2 q_tiles = mask_query_tiles(j0, BLOCK_ROWS, len_q, len_k, shift, win_left, win_right, BLOCK_COLS);
  const uint tile_begin = q_tiles.x, tile_end = q_tiles.y;

  vec4 k[DK4];
  vec4 v[DV4];
  vec4 dk[DK4];
  vec4 dv[DV4];
  const uint k_base = pc.k_offset + b * pc.k_stride_b + kv_h * pc.k_stride_h + (start_k + j) * pc.k_stride_s;
  const uint v_base = pc.v_offset + b * pc.v_stride_b + kv_h * pc.v_stride_h + (start_k + j) * pc.v_stride_s;
  [[unroll]] for (uint d4 = 0u; d4 < DK4; ++d4) {
    k[d4] = row_live ? LOAD_VEC4(k_words, k_base + 4u * d4) : vec4(0.0);
    dk[d4] = vec4(0.0);
  }
  [[unroll]] for (uint d4 = 0u; d4 < DV4; ++d4) {
    v[d4] = row_live ? LOAD_VEC4(v_words, v_base + 4u * d4) : vec4(0.0);
    dv[d4] = vec4(0.0);
  }
  int doc_j = 0;
  if (DOCUMENTS != 0u && row_live) doc_j = key_doc(b, start_k, j);

  [[dont_unroll]] for (uint g = 0u; g < group; ++g) {
    const uint h = kv_h * group + g;
    const float slope_log2 = alibi_slope_log2(b, h);
    const uint table_row = rel_table_row(h);
    const uint bias_col = bias_head_index(b, h) + j;  // element [b, h, 0, j]
    const uint q_seq = pc.q_offset + b * pc.q_stride_b + h * pc.q_stride_h + start_q * pc.q_stride_s;
    const uint do_seq = pc.do_offset + b * pc.do_stride_b + h * pc.do_stride_h + start_q * pc.do_stride_s;

    [[dont_unroll]] for (uint t = tile_begin; t < tile_end; ++t) {
      const uint q0 = t * BLOCK_COLS;
      barrier();  // the previous tile is no longer read
      // Stage Q_i, dO_i, lse2_i, delta_i for i in [q0, q0 + BLOCK_COLS); lse2 = -inf past len_q.
      [[dont_unroll]] for (uint n = 0u; n < LOADS_PER_INVOCATION; ++n) {
        const uint e = n * BLOCK_ROWS + r;
        if (e < Q_TILE_VEC4S) {
          const uint i = q0 + e / DK4;
          q_tile[e] = i < len_q ? LOAD_VEC4(q_words, q_seq + i * pc.q_stride_s + 4u * (e % DK4)) : vec4(0.0);
        }
        if (e < DO_TILE_VEC4S) {
          const uint i = q0 + e / DV4;
          do_tile[e] = i < len_q ? LOAD_VEC4(do_words, do_seq + i * pc.do_stride_s + 4u * (e % DV4)) : vec4(0.0);
        }
      }
      if (r < BLOCK_COLS) {
        const uint i = q0 + r;
        const uint row = work_row(b, h, start_q, i);
        lse2_tile[r] = i < len_q ? work[row] : NEG_INF;
        delta_tile[r] = i < len_q ? work[params.work_rows + row] : 0.0;
        if (DOCUMENTS != 0u) doc_q_tile[r] = i < len_q ? query_doc(b, start_q, i) : 0;
      }
      barrier();
      if (!row_live) continue;

      [[dont_unroll]] for (uint i0 = 0u; i0 < BLOCK_COLS; i0 += STEP) {
        [[unroll]] for (uint u = 0u; u < STEP; ++u) {
          const uint ii = i0 + u;
          const int i = int(q0 + ii);
          const int diag = i + shift;
          const float lse2 = lse2_tile[ii];
          if (lse2 == NEG_INF || !mask_allows(diag, int(j), int(len_k), win_left, win_right) ||
              (DOCUMENTS != 0u && doc_q_tile[ii] != doc_j)) {
            continue;
          }
          vec4 xs = vec4(0.0);
          vec4 dp4 = vec4(0.0);
          [[unroll]] for (uint d4 = 0u; d4 < DK4; ++d4) xs = fma(q_tile[ii * DK4 + d4], k[d4], xs);
          [[unroll]] for (uint d4 = 0u; d4 < DV4; ++d4) dp4 = fma(do_tile[ii * DV4 + d4], v[d4], dp4);
          float dsoftcap;
          const float s = modified_score(params.scale_log2 * ((xs.x + xs.y) + (xs.z + xs.w)), int(j) - diag, slope_log2,
                                         table_row, bias_add_rows(bias_col, uint(i)), dsoftcap);
          const float p = exp2(s - lse2);
          // Dropout: O used P_ij Z_ij / (1 - p), so dV and dP carry that factor.
          const float zp = DROPOUT != 0u ? dropout_factor_at(b, h, uint(i), j) : 1.0;
          const float ds = p * (zp * ((dp4.x + dp4.y) + (dp4.z + dp4.w)) - delta_tile[ii]);
          const float gk = ds * dsoftcap * scale;
          [[unroll]] for (uint d4 = 0u; d4 < DV4; ++d4) dv[d4] = fma(vec4(p * zp), do_tile[ii * DV4 + d4], dv[d4]);
          [[unroll]] for (uint d4 = 0u; d4 < DK4; ++d4) dk[d4] = fma(vec4(gk), q_tile[ii * DK4 + d4], dk[d4]);
        }
      }
    }
  }

  if (!row_written) return;
  const uint dk_base = pc.out0_offset + b * pc.out0_stride_b + kv_h * pc.out0_stride_h + (start_k + j) * pc.out0_stride_s;
  const uint dv_base = pc.out1_offset + b * pc.out1_stride_b + kv_h * pc.out1_stride_h + (start_k + j) * pc.out1_stride_s;
  [[unroll]] for (uint d4 = 0u; d4 < DK4; ++d4) {
    STORE_VEC4(out0_words, dk_base + 4u * d4, dk[d4]);
  }
  [[unroll]] for (uint d4 = 0u; d4 < DV4; ++d4) {
    STORE_VEC4(out1_words, dv_base + 4u * d4, dv[d4]);
  }
}
