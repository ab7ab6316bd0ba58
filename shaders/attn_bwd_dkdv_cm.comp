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

// attn_bwd_dkdv_cm.comp — dK and dV of the FlashAttention-2 backward on the matrix units
// (VK_NV_cooperative_matrix: fp16 operands, fp32 accumulation). Same math as attn_bwd_dkdv.comp:
//   dV_j = sum_{h in group} sum_i P_ij dO_i          (P_ij Z_ij / (1 - p) with DROPOUT, and dO_i . v_j
//                                                    below likewise: attn_dropout.glsl)
//   dK_j = scale * sum_{h in group} sum_i dU_ij q_i,   dU_ij = P_ij (dO_i . v_j - delta_i) softcap'(u_ij)
// One workgroup = BLOCK_ROWS key rows of one (b, KV head); subgroup w owns keys 16w .. 16w + 15
// and keeps K_w, V_w as fp16 fragments, dK_w, dV_w as fp32 accumulators. For every query head of
// the GQA group, per query tile of BLOCK_COLS rows (Q, dO fp16 in shared memory; lse2, delta),
// one 16-query block n at a time, in transposed form (rows = keys, columns = queries):
//   S^T  = K_w Q_n^T,  dP^T = V_w dO_n^T       (accumulators, 16 x 16)
//   P^T  = 2^(score_mod(scale_log2 S^T) - lse2),  dU^T = P^T o (dP^T - delta) o softcap'(U^T)
//                                               (masked pairs 0), both as fp16
//   dV_w += P^T dO_n,  dK_w += dU^T Q_n        (scale applied to dK once at the end)
// The elementwise step finds each element's key and query by the accumulator layout
// (attn_cm_layout.glsl). Each dK/dV row is summed in a fixed order: deterministic.
// Head dims past 128 (DKDV_CHUNK16 != 0): workgroup z accumulates only fragments
// [z DKDV_CHUNK16, (z + 1) DKDV_CHUNK16) of dK and of dV, recomputing S^T and dP^T, so K_w, V_w and
// the chunk's accumulators stay within the registers of D = 128.

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

// The Q / dO tile is tile_dk_sh / tile_dv_sh (attn_bwd_cm_common.glsl); they stage K and V first.
shared float lse2_sh[BLOCK_COLS];
shared float delta_sh[BLOCK_COLS];
shared int doc_q_tile[BLOCK_COLS];
#include "attn_doc_range.glsl"  // doc_range (DOCUMENTS): document ids of this block's keys, then of the query tile

// Q and dO rows [q0, q0 + BLOCK_COLS) of query head h, and their lse2 and delta (invocations
// tid < BLOCK_COLS, one query each), into registers; stage_tile() and the loop take them from there.
float lse2_reg;
float delta_reg;
void fetch_step(uint b, uint h, uint q0, uvec4 seq) {
  const uint start_q = seq.x, len_q = seq.y;
  const uint q_seq = pc.q_offset + b * pc.q_stride_b + h * pc.q_stride_h + start_q * pc.q_stride_s;
  const uint do_seq = pc.do_offset + b * pc.do_stride_b + h * pc.do_stride_h + start_q * pc.do_stride_s;
  fetch_tile(row_source(SRC_Q, q_seq, pc.q_stride_s), row_source(SRC_DO, do_seq, pc.do_stride_s), q0, len_q);
  const uint tid = gl_LocalInvocationID.x;
  if (tid < BLOCK_COLS) {
    const uint i = q0 + tid;
    const uint row = work_row(b, h, start_q, i);
    lse2_reg = i < len_q ? work[row] : NEG_INF;  // -inf past len_q: those queries contribute nothing
    delta_reg = i < len_q ? work[params.work_rows + row] : 0.0;
  }
}

void main() {
  const uint warp = gl_SubgroupID;
  const uint tid = gl_LocalInvocationID.x;
  const uint b = gl_WorkGroupID.y / params.kv_heads;
  const uint kv_h = gl_WorkGroupID.y % params.kv_heads;
  const uint group = params.q_heads / params.kv_heads;
  const uvec4 seq = sequence(b);
  const uint start_q = seq.x, len_q = seq.y, start_k = seq.z, len_k = seq.w;
  const uint j0 = gl_WorkGroupID.x * BLOCK_ROWS;
  if (SEQ_MODE == SEQ_VARLEN && j0 >= len_k) return;  // uniform
  const int shift = diag_shift(len_q, len_k, params.position_shift);
  const int win_left = params.window_left;
  const int win_right = params.window_right;
  const uint w0 = j0 + 16u * warp;  // this subgroup's first key row

  // Per accumulator element e (attn_cm_layout.glsl): its key row and query column.
  const uint lane = gl_SubgroupInvocationID;
  uint col_e[ELEMS];
  int key_e[ELEMS];
  int doc_e[ELEMS];
  [[unroll]] for (uint e = 0u; e < ELEMS; ++e) {
    const uint j = w0 + acc_row(lane, e);
    col_e[e] = acc_col(lane, e);
    key_e[e] = int(j);
    doc_e[e] = DOCUMENTS != 0u && j < len_k ? key_doc(b, start_k, j) : 0;
  }

  // Query tiles [tile_begin, tile_end) may see some key of this block; other query tiles are
  // skipped.
  const uvec2 q_tiles = mask_query_tiles(j0, BLOCK_ROWS, len_q, len_k, shift, win_left, win_right, BLOCK_COLS);
  const uint tile_begin = q_tiles.x, tile_end = q_tiles.y;

  if (DOCUMENTS != 0u) {
    doc_range_reset(DOC_RANGE_BLOCK);
    barrier();
    if (tid < BLOCK_ROWS && j0 + tid < len_k) doc_range_add(DOC_RANGE_BLOCK, key_doc(b, start_k, j0 + tid));
    barrier();  // the block's document range is complete
  }

  // K_w and V_w as fp16 fragments.
  const uint k_seq = pc.k_offset + b * pc.k_stride_b + kv_h * pc.k_stride_h + start_k * pc.k_stride_s;
  const uint v_seq = pc.v_offset + b * pc.v_stride_b + kv_h * pc.v_stride_h + start_k * pc.v_stride_s;
  A_MAT k_frag[DK16];
  A_MAT v_frag[DV16];
  load_own_rows(row_source(SRC_K, k_seq, pc.k_stride_s), row_source(SRC_V, v_seq, pc.v_stride_s), j0, len_k, k_frag,
                v_frag);

  // This workgroup's chunk of dK and dV: fragments [d_first, d_first + DKDV_OUT16) of each head
  // dim (the part of it that exists).
  const uint d_first = DKDV_CHUNK16 != 0u ? gl_WorkGroupID.z * DKDV_OUT16 : 0u;  // unchunked: constant 0
  ACC_MAT dk_frag[DKDV_OUT16];
  ACC_MAT dv_frag[DKDV_OUT16];
  [[unroll]] for (uint c = 0u; c < DKDV_OUT16; ++c) {
    dk_frag[c] = ACC_MAT(0.0);
    dv_frag[c] = ACC_MAT(0.0);
  }

  // One step per (query head g of the group, query tile t), g outer; without document ids every
  // step is visited, so the next step's Q, dO, lse2 and delta are fetched while this one computes
  // (TILE_AHEAD = 1; with 0 each step loads its own at its turn, as with document ids).
  const uint tiles = tile_end - tile_begin;
  const uint steps = group * tiles;
  const bool prefetch = DOCUMENTS == 0u && TILE_AHEAD != 0u;
  if (prefetch && steps > 0u) fetch_step(b, kv_h * group, tile_begin * BLOCK_COLS, seq);
  [[dont_unroll]] for (uint step = 0u; step < steps; ++step) {
    const uint g = step / tiles;
    const uint t = tile_begin + step % tiles;
    const uint h = kv_h * group + g;
    const float slope_log2 = alibi_slope_log2(b, h);
    const uint table_row = rel_table_row(h);
    const uint bias_head = bias_head_index(b, h);
    const uint q0 = t * BLOCK_COLS;
    barrier();  // the previous tile is no longer read
    if (DOCUMENTS != 0u) {
      if (tid < BLOCK_COLS) {
        const uint i = q0 + tid;
        doc_q_tile[tid] = i < len_q ? query_doc(b, start_q, i) : INT_MIN;
      }
      doc_range_reset(DOC_RANGE_TILE);
      barrier();
      if (tid < BLOCK_COLS && q0 + tid < len_q) doc_range_add(DOC_RANGE_TILE, doc_q_tile[tid]);
      barrier();
      if (doc_ranges_disjoint()) continue;  // uniform: no shared document
    }
    if (!prefetch) fetch_step(b, h, q0, seq);
    if (tid < BLOCK_COLS) {
      lse2_sh[tid] = lse2_reg;
      delta_sh[tid] = delta_reg;
    }
    stage_tile();
    barrier();
    if (prefetch && step + 1u < steps) {
      const uint g_next = (step + 1u) / tiles;
      fetch_step(b, kv_h * group + g_next, (tile_begin + (step + 1u) % tiles) * BLOCK_COLS, seq);
    }
    // Whether the mask can hide a pair of this subgroup's keys and this tile's queries: keys
    // past len_k or past the first query's causal diagonal, queries past len_q (lse2 = -inf),
    // windows, documents. Otherwise every pair is visible and every query's lse2 finite.
    bool needs_mask = w0 + 16u > len_k || q0 + BLOCK_COLS > len_q || WINDOW != 0u || DOCUMENTS != 0u;
    if (CAUSAL != 0u) needs_mask = needs_mask || int(w0) + 15 > int(q0) + shift;

    [[unroll]] for (uint n = 0u; n < BC16; ++n) {
      ACC_MAT st = ACC_MAT(0.0);
      ACC_MAT dpt = ACC_MAT(0.0);
      [[unroll]] for (uint d = 0u; d < DK16; ++d) {
        B_MAT qt;  // Q_n^T block (dims 16d.., queries 16n..): Q rows read column-major
        load_bt(qt, tile_dk_sh, (16u * n) * KROW + 4u * d, KROW);
        st = mma(k_frag[d], qt, st);
      }
      [[unroll]] for (uint d = 0u; d < DV16; ++d) {
        B_MAT dot_blk;
        load_bt(dot_blk, tile_dv_sh, (16u * n) * VROW + 4u * d, VROW);
        dpt = mma(v_frag[d], dot_blk, dpt);
      }
      // Dropout (attn_dropout.glsl): dP carries Z_ij / (1 - p) here, P below (dV sums P Z / (1 - p) dO).
      // The fragment's rows (keys) start at w0 and its columns (queries) at q0 + 16 n, multiples of
      // 16: a lane's queries c, c + 8 and c + 1, c + 9 are two groups, one call each.
      float zf[ELEMS];
      if (DROPOUT != 0u) {
        const uvec4 words[2] = uvec4[2](dropout_words(b, h, q0 + 16u * n + col_e[0], uint(key_e[0])),
                                        dropout_words(b, h, q0 + 16u * n + col_e[1], uint(key_e[0])));
        [[unroll]] for (uint e = 0u; e < ELEMS; ++e) {
          zf[e] = dropout_factor_value(words[e & 1u], dropout_value_of_acc_t(e, lane));
          dpt[e] *= zf[e];
        }
      }
      if (!needs_mask && PLAIN_SCORES) {
        [[unroll]] for (uint e = 0u; e < ELEMS; ++e) {
          const uint ii = 16u * n + col_e[e];
          const float p = exp2(params.scale_log2 * st[e] - lse2_sh[ii]);
          st[e] = p;
          dpt[e] = p * (dpt[e] - delta_sh[ii]);
        }
      } else {
        [[unroll]] for (uint e = 0u; e < ELEMS; ++e) {
          const uint ii = 16u * n + col_e[e];
          const int i = int(q0 + ii);
          const int diag = i + shift;
          const int j = key_e[e];
          const float lse2 = lse2_sh[ii];
          float p = 0.0;
          float du = 0.0;  // dL/du of this pair
          if (lse2 != NEG_INF && mask_allows(diag, j, int(len_k), win_left, win_right) &&
              (DOCUMENTS == 0u || doc_q_tile[ii] == doc_e[e])) {
            float dsoftcap;
            const float sm = modified_score(params.scale_log2 * st[e], j - diag, slope_log2, table_row,
                                            bias_add_rows(bias_head, uint(i)) + uint(j), dsoftcap);
            p = exp2(sm - lse2);
            du = p * (dpt[e] - delta_sh[ii]) * dsoftcap;
          }
          st[e] = p;
          dpt[e] = du;
        }
      }
      if (DROPOUT != 0u) {
        [[unroll]] for (uint e = 0u; e < ELEMS; ++e) st[e] *= zf[e];
      }
      const A_MAT p16 = acc_to_a(st);
      const A_MAT ds16 = acc_to_a(dpt);
      [[unroll]] for (uint c = 0u; c < DKDV_OUT16; ++c) {
        const uint d = d_first + c;
        if (d < DV16) {
          B_MAT dob;  // dO_n block (queries 16n.., dims 16d..)
          load_b(dob, tile_dv_sh, (16u * n) * VROW + 4u * d, VROW);
          dv_frag[c] = mma(p16, dob, dv_frag[c]);
        }
        if (d < DK16) {
          B_MAT qb;
          load_b(qb, tile_dk_sh, (16u * n) * KROW + 4u * d, KROW);
          dk_frag[c] = mma(ds16, qb, dk_frag[c]);
        }
      }
    }
  }

  const float scale = params.scale_log2 / LOG2E;
  const uint rows_written = SEQ_MODE == SEQ_VARLEN ? len_k : params.seq_k;
  const uint rows_valid = w0 < rows_written ? rows_written - w0 : 0u;
  const uint dk_base = pc.out0_offset + b * pc.out0_stride_b + kv_h * pc.out0_stride_h + (start_k + w0) * pc.out0_stride_s;
  const uint dv_base = pc.out1_offset + b * pc.out1_stride_b + kv_h * pc.out1_stride_h + (start_k + w0) * pc.out1_stride_s;
  [[unroll]] for (uint c = 0u; c < DKDV_OUT16; ++c) {
    const uint d = d_first + c;
    if (d < DK16) {
      [[unroll]] for (uint e = 0u; e < ELEMS; ++e) dk_frag[c][e] *= scale;
      store_acc(dk_frag[c], 0u, dk_base + 16u * d, pc.out0_stride_s, rows_valid, HEAD_DIM - 16u * d);
    }
  }
  [[unroll]] for (uint c = 0u; c < DKDV_OUT16; ++c) {
    const uint d = d_first + c;
    if (d < DV16) store_acc(dv_frag[c], 1u, dv_base + 16u * d, pc.out1_stride_s, rows_valid, HEAD_DIM_V - 16u * d);
  }
}
