#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_memory_scope_semantics : require
#if CM_KHR
#extension GL_KHR_cooperative_matrix : require
#else
#extension GL_NV_cooperative_matrix : require
#endif
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require

// attn_bwd_dq_cm.comp — dQ of the FlashAttention-2 backward on the matrix units
// (VK_NV_cooperative_matrix: fp16 operands, fp32 accumulation). Same math as attn_bwd_dq.comp:
//   P_ij  = 2^(s_ij - lse2_i),  s_ij = score_mod(u_ij),  u_ij = scale_log2 * q_i . k_j
//   dU_ij = P_ij (dO_i . v_j - delta_i) * softcap'(u_ij)    (dL/du; dS without the softcap factor)
//           (with DROPOUT, dO_i . v_j x Z_ij / (1 - p): attn_dropout.glsl)
//   dQ_i  = scale * sum_j dU_ij k_j
// One workgroup = BLOCK_ROWS query rows of one (b, h); subgroup w owns rows 16w .. 16w + 15 and
// keeps Q_w and dO_w as fp16 fragments, dQ_w as fp32 accumulators. Per K/V tile of BLOCK_COLS
// keys (fp16 in shared memory), one 16-key block n at a time:
//   S  = Q_w K_n^T,  dP = dO_w V_n^T          (accumulators, 16 x 16)
//   dU = P o (dP - delta) o softcap'(U), elementwise (masked pairs 0), rounded to fp16
//   dQ_w += dU K_n                              (scale applied once at the end)
// Each lane knows the (row, column) of its elements by the accumulator layout (attn_cm_layout.glsl)
// and keeps its rows' lse2 and delta in registers. Each dQ row is summed in a fixed order:
// deterministic.
// Head dims past 128 (DQ_CHUNK16 != 0): workgroup z accumulates only dQ fragments
// [z DQ_CHUNK16, (z + 1) DQ_CHUNK16), recomputing S and dP (attn_bwd_spec.inc).

layout(push_constant) uniform BwdPush {
#define VKATTN_PC(T, name) T name;
#include "attn_bwd_push.inc"
#undef VKATTN_PC
} pc;

#include "attn_bwd_bindings.glsl"
#include "attn_sequence.glsl"
#include "attn_workspace.glsl"
#include "attn_documents.glsl"
#include "attn_bwd_cm_common.glsl"

layout(local_size_x_id = 36) in;  // WORKGROUP_SIZE = 2 * BLOCK_ROWS

// The K / V tile is tile_dk_sh / tile_dv_sh (attn_bwd_cm_common.glsl); they stage Q and dO first.
shared int doc_k_tile[BLOCK_COLS];
#include "attn_doc_range.glsl"  // doc_range (DOCUMENTS): document ids of this block's queries, then of the key tile

void main() {
  const uint warp = gl_SubgroupID;
  const uint tid = gl_LocalInvocationID.x;
  const uint b = gl_WorkGroupID.y / params.q_heads;
  const uint h = gl_WorkGroupID.y % params.q_heads;
  const uint kv_h = h / (params.q_heads / params.kv_heads);
  const uvec4 seq = sequence(b);
  const uint start_q = seq.x, len_q = seq.y, start_k = seq.z, len_k = seq.w;
  // Query blocks run last to first: under a causal mask the last tiles see the most keys, so the
  // heaviest workgroups start first and the light ones fill the end of the grid.
  const uint i0 = (gl_NumWorkGroups.x - 1u - gl_WorkGroupID.x) * BLOCK_ROWS;
  if (SEQ_MODE == SEQ_VARLEN && i0 >= len_q) return;  // uniform
  const int shift = diag_shift(len_q, len_k, params.position_shift);
  const int win_left = params.window_left;
  const int win_right = params.window_right;
  const uint w0 = i0 + 16u * warp;  // this subgroup's first query row

  // Per accumulator element e (attn_cm_layout.glsl): its query row and key column, and the row's
  // lse2 and delta.
  const uint lane = gl_SubgroupInvocationID;
  uint col_e[ELEMS];
  int q_e[ELEMS];
  float lse2_e[ELEMS];
  float delta_e[ELEMS];
  int doc_e[ELEMS];
  [[unroll]] for (uint e = 0u; e < ELEMS; ++e) {
    const uint i = w0 + acc_row(lane, e);
    col_e[e] = acc_col(lane, e);
    q_e[e] = int(i);
    const uint row = work_row(b, h, start_q, i);
    lse2_e[e] = i < len_q ? work[row] : NEG_INF;  // -inf: the row saw nothing, no gradient
    delta_e[e] = i < len_q ? work[params.work_rows + row] : 0.0;
    doc_e[e] = DOCUMENTS != 0u && i < len_q ? query_doc(b, start_q, i) : 0;
  }

  const uvec2 kv_tiles = mask_key_tiles(i0, BLOCK_ROWS, len_q, len_k, shift, win_left, win_right, BLOCK_COLS);
  const uint tile_begin = kv_tiles.x, tile_end = kv_tiles.y;

  if (DOCUMENTS != 0u) {
    doc_range_reset(DOC_RANGE_BLOCK);
    barrier();
    if (tid < BLOCK_ROWS && i0 + tid < len_q) doc_range_add(DOC_RANGE_BLOCK, query_doc(b, start_q, i0 + tid));
    barrier();  // the block's document range is complete
  }

  const float slope_log2 = alibi_slope_log2(b, h);
  const uint table_row = rel_table_row(h);
  const uint bias_head = bias_head_index(b, h);

  // Q_w and dO_w as fp16 fragments.
  const uint q_seq = pc.q_offset + b * pc.q_stride_b + h * pc.q_stride_h + start_q * pc.q_stride_s;
  const uint do_seq = pc.do_offset + b * pc.do_stride_b + h * pc.do_stride_h + start_q * pc.do_stride_s;
  A_MAT q_frag[DK16];
  A_MAT do_frag[DV16];
  load_own_rows(row_source(SRC_Q, q_seq, pc.q_stride_s), row_source(SRC_DO, do_seq, pc.do_stride_s), i0, len_q,
                q_frag, do_frag);

  // This workgroup's chunk of dQ: fragments [dq_first, dq_first + DQ_OUT16) of the head dim.
  const uint dq_first = DQ_CHUNK16 != 0u ? gl_WorkGroupID.z * DQ_OUT16 : 0u;  // unchunked: constant 0
  ACC_MAT dq_frag[DQ_OUT16];
  [[unroll]] for (uint c = 0u; c < DQ_OUT16; ++c) dq_frag[c] = ACC_MAT(0.0);

  const uint k_seq = pc.k_offset + b * pc.k_stride_b + kv_h * pc.k_stride_h + start_k * pc.k_stride_s;
  const uint v_seq = pc.v_offset + b * pc.v_stride_b + kv_h * pc.v_stride_h + start_k * pc.v_stride_s;
  const RowSource ks = row_source(SRC_K, k_seq, pc.k_stride_s);
  const RowSource vs = row_source(SRC_V, v_seq, pc.v_stride_s);

  // Without document ids every tile in [tile_begin, tile_end) is visited, so the next one is
  // fetched while this one computes (TILE_AHEAD = 1); with them a tile may be skipped, so each is
  // fetched in turn, as it is with TILE_AHEAD = 0.
  const bool prefetch = DOCUMENTS == 0u && TILE_AHEAD != 0u;
  if (prefetch && tile_begin < tile_end) fetch_tile(ks, vs, tile_begin * BLOCK_COLS, len_k);
  [[dont_unroll]] for (uint t = tile_begin; t < tile_end; ++t) {
    const uint kv0 = t * BLOCK_COLS;
    barrier();  // the previous tile is no longer read
    if (DOCUMENTS != 0u) {
      doc_range_reset(DOC_RANGE_TILE);
      barrier();
      if (tid < BLOCK_COLS) {
        const uint j = kv0 + tid;
        const int doc_j = j < len_k ? key_doc(b, start_k, j) : INT_MIN;
        doc_k_tile[tid] = doc_j;
        if (j < len_k) doc_range_add(DOC_RANGE_TILE, doc_j);
      }
      barrier();
      if (doc_ranges_disjoint()) continue;  // uniform: no shared document
    }
    if (!prefetch) fetch_tile(ks, vs, kv0, len_k);
    stage_tile();
    barrier();
    if (prefetch && t + 1u < tile_end) fetch_tile(ks, vs, kv0 + BLOCK_COLS, len_k);
    // Whether the mask can hide a pair of this subgroup's rows and this tile's keys: keys past
    // len_k or past the first row's causal diagonal, rows past len_q (lse2 = -inf), windows,
    // documents. Otherwise every pair is visible and every row's lse2 finite.
    bool needs_mask = kv0 + BLOCK_COLS > len_k || w0 + 16u > len_q || WINDOW != 0u || DOCUMENTS != 0u;
    if (CAUSAL != 0u) needs_mask = needs_mask || int(kv0 + BLOCK_COLS) - 1 > int(w0) + shift;

    [[unroll]] for (uint n = 0u; n < BC16; ++n) {
      ACC_MAT s = ACC_MAT(0.0);
      ACC_MAT dp = ACC_MAT(0.0);
      [[unroll]] for (uint d = 0u; d < DK16; ++d) {
        B_MAT kt;  // K_n^T block (dims 16d.., keys 16n..): K rows read column-major
        load_bt(kt, tile_dk_sh, (16u * n) * KROW + 4u * d, KROW);
        s = mma(q_frag[d], kt, s);
      }
      [[unroll]] for (uint d = 0u; d < DV16; ++d) {
        B_MAT vt;
        load_bt(vt, tile_dv_sh, (16u * n) * VROW + 4u * d, VROW);
        dp = mma(do_frag[d], vt, dp);
      }
      if (DROPOUT != 0u) {  // dL/dP_ij = Z_ij / (1 - p) dO_i . v_j (attn_dropout.glsl)
        // The fragment's rows start at w0 and its columns at kv0 + 16 n, multiples of 16: a lane's
        // eight elements are one group, element e its value e.
        const uvec4 words = dropout_words(b, h, uint(q_e[0]), kv0 + 16u * n + col_e[0]);
        [[unroll]] for (uint e = 0u; e < ELEMS; ++e) dp[e] *= dropout_factor_value(words, e);
      }
      if (!needs_mask && PLAIN_SCORES) {
        [[unroll]] for (uint e = 0u; e < ELEMS; ++e) {
          s[e] = exp2(params.scale_log2 * s[e] - lse2_e[e]) * (dp[e] - delta_e[e]);
        }
      } else {
        [[unroll]] for (uint e = 0u; e < ELEMS; ++e) {
          const uint jj = 16u * n + col_e[e];
          const int j = int(kv0 + jj);
          const int diag = q_e[e] + shift;
          float du = 0.0;  // dL/du of this pair
          if (lse2_e[e] != NEG_INF && mask_allows(diag, j, int(len_k), win_left, win_right) &&
              (DOCUMENTS == 0u || doc_k_tile[jj] == doc_e[e])) {
            float dsoftcap;
            const float sm = modified_score(params.scale_log2 * s[e], j - diag, slope_log2, table_row,
                                            bias_add_rows(bias_head, uint(q_e[e])) + uint(j), dsoftcap);
            const float p = exp2(sm - lse2_e[e]);
            du = p * (dp[e] - delta_e[e]) * dsoftcap;
          }
          s[e] = du;
        }
      }
      const A_MAT ds16 = acc_to_a(s);
      [[unroll]] for (uint c = 0u; c < DQ_OUT16; ++c) {
        const uint d = dq_first + c;
        if (d < DK16) {
          B_MAT kb;  // K_n block (keys 16n.., dims 16d..)
          load_b(kb, tile_dk_sh, (16u * n) * KROW + 4u * d, KROW);
          dq_frag[c] = mma(ds16, kb, dq_frag[c]);
        }
      }
    }
  }

  const float scale = params.scale_log2 / LOG2E;
  const uint rows_written = SEQ_MODE == SEQ_VARLEN ? len_q : params.seq_q;
  const uint rows_valid = w0 < rows_written ? rows_written - w0 : 0u;
  const uint dq_base = pc.out0_offset + b * pc.out0_stride_b + h * pc.out0_stride_h + (start_q + w0) * pc.out0_stride_s;
  [[unroll]] for (uint c = 0u; c < DQ_OUT16; ++c) {
    const uint d = dq_first + c;
    if (d < DK16) {
      [[unroll]] for (uint e = 0u; e < ELEMS; ++e) dq_frag[c][e] *= scale;
      store_acc(dq_frag[c], 0u, dq_base + 16u * d, pc.out0_stride_s, rows_valid, HEAD_DIM - 16u * d);
    }
  }
}
