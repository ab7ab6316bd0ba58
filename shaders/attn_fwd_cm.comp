#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_KHR_shader_subgroup_vote : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_NV_cooperative_matrix : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require

// attn_fwd_cm.comp — FlashAttention-2 forward on the matrix units (VK_NV_cooperative_matrix):
// fp16 operands, fp32 accumulation. Same math, bindings and specialization constants as
// attn_fwd.comp (its header states the recurrence); only the two products change hands.
//
// One workgroup = BLOCK_Q query rows of one (b, h); subgroup w (of WORKGROUP_SIZE / 32, 32 lanes
// each) owns RF = 1 or 2 fragments of 16 rows, rows 16 RF w .. 16 RF (w + 1) - 1. Per K/V tile of
// BLOCK_K keys, staged in shared memory as fp16 (fetched into registers one tile ahead):
//   S_w   = Q_w K^T               16 RF x BLOCK_K, fp32 accumulators (coopMatMulAddNV over Dk / 16)
//   s = score_mod(scale_log2 * S), masked keys -inf; t = rowmax s
//   m moves to t only where t > m + RESCALE_SLACK ("lazy rescaling"), alpha = 2^(m_old - m) there
//   and 1 elsewhere; P = 2^(s - m) <= 2^RESCALE_SLACK; l = alpha l + rowsum P
//   O_w   = diag(alpha) O_w + P_w V   (P as fp16; coopMatMulAddNV over BLOCK_K / 16)
// O / l and LSE = ln 2 (m + log2 l) are the same for any m the scores stay within SLACK (log2
// units) above, so the O rescale runs only on the few tiles where some row's max jumps (nearly
// always the first).
// Each K^T or V fragment read from shared memory feeds RF products. O_w stays in registers as
// RF x Dv / 16 accumulator fragments. Q is either staged once in shared memory (Q_SHARED, when it
// fits) and read fragment by fragment per tile, or held as RF x Dk / 16 operand fragments.
// The softmax runs on the S fragments in registers: by the accumulator layout
// (attn_cm_layout.glsl) a lane's elements of a fragment lie in rows g and g + 8 of its quad, so
// each lane keeps m of 2 RF rows ("slots") and its own part of their l; the row max takes two quad
// shuffles per tile, the row sum two at the end.
//
// Each plan holds this kernel twice: with WIDE_ROWS = 1 for calls whose Q, K and V rows all start
// on 16 bytes (offsets and strides multiples of 8 halves: the tiles then load 16-byte chunks
// only), and with WIDE_ROWS = 0 for any other views (forward_plan.cpp picks per call).
// The host (engine/planning/kernel_path.cpp) picks this kernel only for fp16 storage (any Dk, Dv: 8 mod 16 is padded)
// and a shared-memory budget that fits, on a device with DeviceInfo::coopmat (32-lane subgroups,
// and the accumulator layout the context's probe confirmed: engine/pipelines/coopmat_layout.cpp); anything
// else runs attn_fwd.comp and the variant name says _scalar.

#include "attn_fwd_bindings.glsl"
#include "attn_sequence.glsl"
#include "attn_documents.glsl"

layout(local_size_x_id = 36) in;

const uint STAGE_ROWS = BLOCK_K;  // the K/V tile: K in tile_dk_sh, V in tile_dv_sh
const uint HELD_DK_ROWS = Q_SHARED * BLOCK_Q;  // Q rows in tile_dk_sh past the K tile (Q_SHARED)

// O, elements dst .. dst + 7 (store_acc's output; `which` is always 0).
void write_out8(uint which, uint dst, vec4 lo, vec4 hi) {
  STORE_VEC4(o_words, dst, lo);
  STORE_VEC4(o_words, dst + 4u, hi);
}

#define CM_ALL_ROWS_WIDE (WIDE_ROWS != 0u)
#include "attn_cm_tiles.glsl"

const uint RF = BLOCK_Q / (16u * SUBGROUPS);  // row fragments (16 rows each) per subgroup: 1 or 2
const uint SLOTS = 2u * RF;                   // rows per lane: g + 8 hi + 16 r, hi = 0, 1, r < RF
const uint BK16 = BLOCK_K / 16u;
const float RESCALE_SLACK = 8.0;  // log2 units: P <= 256 between rescales (fp16 holds 65504)
const uint Q_SH = BLOCK_K * KROW;  // Q_SHARED: where Q row 0 starts in tile_dk_sh

shared int doc_k_tile[BLOCK_K];
#include "attn_doc_range.glsl"  // doc_range (DOCUMENTS): document ids of the Q tile, then of the K tile

void main() {
  const uint warp = gl_SubgroupID;
  const uint lane = gl_SubgroupInvocationID;
  const uint tid = gl_LocalInvocationID.x;
  // Query tiles run last to first: under a causal mask the last tiles see the most keys, so the
  // heaviest workgroups start first and the light ones fill the end of the grid.
  const uint tile = gl_NumWorkGroups.x - 1u - gl_WorkGroupID.x;
  const uint b = gl_WorkGroupID.y / params.q_heads;
  const uint h = gl_WorkGroupID.y % params.q_heads;
  const uint kv_h = h / (params.q_heads / params.kv_heads);

  const uvec4 seq = sequence(b);
  const uint start_q = seq.x, len_q = seq.y, start_k = seq.z, len_k = seq.w;
  const uint i0 = tile * BLOCK_Q;
  if (SEQ_MODE == SEQ_VARLEN && i0 >= len_q) return;  // uniform
  const uint w0 = i0 + 16u * RF * warp;  // this subgroup's first row; fragment r holds rows w0 + 16 r ..
  const int shift = diag_shift(len_q, len_k, params.position_shift);
  const int win_left = params.window_left;
  const int win_right = params.window_right;

  const uvec2 kv_tiles = mask_key_tiles(i0, BLOCK_Q, len_q, len_k, shift, win_left, win_right, BLOCK_K);
  const uint tile_begin = kv_tiles.x, tile_end = kv_tiles.y;

  if (DOCUMENTS != 0u) {
    doc_range_reset(DOC_RANGE_BLOCK);
    barrier();
    for (uint r = tid; r < BLOCK_Q; r += WORKGROUP_SIZE) {
      if (i0 + r < len_q) doc_range_add(DOC_RANGE_BLOCK, query_doc(b, start_q, i0 + r));
    }
    barrier();
  }

  const float slope_log2 = alibi_slope_log2(b, h);
  const uint table_row = rel_table_row(h);

  // Per slot s = 2 r + hi (row g + 8 hi of fragment r, for this lane's quad g): the row, its
  // diagonal, bias row, document, and the running max m (log2 units) and sum l.
  uint qi[SLOTS];
  bool q_live[SLOTS];
  int q_diag[SLOTS];
  uint q_bias_row[SLOTS];
  int q_doc[SLOTS];
  float q_m[SLOTS];
  float q_l[SLOTS];
  [[unroll]] for (uint s = 0u; s < SLOTS; ++s) {
    qi[s] = w0 + 16u * (s >> 1u) + (lane >> 2u) + 8u * (s & 1u);
    q_live[s] = qi[s] < len_q;
    q_diag[s] = int(qi[s]) + shift;
    q_bias_row[s] = bias_row_index(b, h, qi[s]);
    q_doc[s] = DOCUMENTS != 0u && q_live[s] ? query_doc(b, start_q, qi[s]) : 0;
    q_m[s] = SINKS != 0u && q_live[s] ? LOG2E * sinks[pc.sinks_offset + h] : NEG_INF;
    q_l[s] = SINKS != 0u && q_live[s] && (lane & 3u) == 0u ? 1.0 : 0.0;  // the quad's lanes sum theirs
  }

  // Q (zeros past len_q and in the head dim's padding columns, attn_cm_tiles.glsl), 4 halves per
  // word: all BLOCK_Q rows into tile_dk_sh from Q_SH (fenced by the tile loop's first barrier), or
  // RF x Dk / 16 fragments (q_frag[r * DK16 + d]) staged through tile_dk_sh BLOCK_K rows at a time.
  const uint q_seq = pc.q_offset + b * pc.q_stride_b + h * pc.q_stride_h + start_q * pc.q_stride_s;
  const RowSource qs = row_source(SRC_Q, q_seq, pc.q_stride_s);
  A_MAT q_frag[RF * DK16];
  const uint QW = HEAD_DIM_P / 4u;
  if (Q_SHARED != 0u) {
    for (uint e = tid; e < BLOCK_Q * QW; e += WORKGROUP_SIZE) {
      const uint r = e / QW;
      const uint c = e % QW;
      const uint q_row = i0 + r;
      tile_dk_sh[Q_SH + r * KROW + c] =
          q_row < len_q && 4u * c < HEAD_DIM ? load4(qs, q_seq + q_row * pc.q_stride_s + 4u * c) : uvec2(0u);
    }
  }
  for (uint r0 = 0u; Q_SHARED == 0u && r0 < BLOCK_Q; r0 += BLOCK_K) {
    barrier();
    for (uint e = tid; e < BLOCK_K * QW; e += WORKGROUP_SIZE) {
      const uint r = e / QW;
      const uint c = e % QW;
      const uint q_row = i0 + r0 + r;
      tile_dk_sh[r * KROW + c] =
          q_row < len_q && 4u * c < HEAD_DIM ? load4(qs, q_seq + q_row * pc.q_stride_s + 4u * c) : uvec2(0u);
    }
    barrier();
    [[unroll]] for (uint r = 0u; r < RF; ++r) {
      const uint f0 = 16u * (RF * warp + r);  // the fragment's first row in the block
      if (f0 >= r0 && f0 < r0 + BLOCK_K) {
        [[unroll]] for (uint d = 0u; d < DK16; ++d) {
          coopMatLoadNV(q_frag[r * DK16 + d], tile_dk_sh, (f0 - r0) * KROW + 4u * d, KROW, false);
        }
      }
    }
  }

  ACC_MAT o_frag[RF * DV16];
  [[unroll]] for (uint f = 0u; f < RF * DV16; ++f) o_frag[f] = ACC_MAT(0.0);

  const uint k_seq = pc.k_offset + b * pc.k_stride_b + kv_h * pc.k_stride_h + start_k * pc.k_stride_s;
  const uint v_seq = pc.v_offset + b * pc.v_stride_b + kv_h * pc.v_stride_h + start_k * pc.v_stride_s;
  const RowSource ks = row_source(SRC_K, k_seq, pc.k_stride_s);
  const RowSource vs = row_source(SRC_V, v_seq, pc.v_stride_s);

  // Without document ids every tile in [tile_begin, tile_end) is visited, so the next one is
  // fetched while this one computes; with them a tile may be skipped, so each is fetched in turn.
  const bool prefetch = DOCUMENTS == 0u;
  if (prefetch && tile_begin < tile_end) fetch_tile(ks, vs, tile_begin * BLOCK_K, len_k);
  [[dont_unroll]] for (uint t = tile_begin; t < tile_end; ++t) {
    const uint kv0 = t * BLOCK_K;
    barrier();  // the previous tile is no longer read
    if (DOCUMENTS != 0u) {
      doc_range_reset(DOC_RANGE_TILE);
      barrier();
      if (tid < BLOCK_K) {
        const uint j = kv0 + tid;
        const int doc_j = j < len_k ? key_doc(b, start_k, j) : INT_MIN;
        doc_k_tile[tid] = doc_j;
        if (j < len_k) doc_range_add(DOC_RANGE_TILE, doc_j);
      }
      barrier();
      if (doc_ranges_disjoint()) continue;  // uniform
    }
    if (!prefetch) fetch_tile(ks, vs, kv0, len_k);
    stage_tile();
    barrier();
    if (prefetch && t + 1u < tile_end) fetch_tile(ks, vs, kv0 + BLOCK_K, len_k);

    // S = Q K^T over 16 dims at a time; each K^T fragment (dims 16d.., keys 16n..: K rows read
    // column-major) feeds all RF row fragments (s_frag[r * BK16 + n]).
    ACC_MAT s_frag[RF * BK16];
    [[unroll]] for (uint f = 0u; f < RF * BK16; ++f) s_frag[f] = ACC_MAT(0.0);
    [[unroll]] for (uint d = 0u; d < DK16; ++d) {
      A_MAT q_d[RF];
      [[unroll]] for (uint r = 0u; r < RF; ++r) {
        if (Q_SHARED != 0u) {
          coopMatLoadNV(q_d[r], tile_dk_sh, Q_SH + (16u * (RF * warp + r)) * KROW + 4u * d, KROW, false);
        } else {
          q_d[r] = q_frag[r * DK16 + d];
        }
      }
      [[unroll]] for (uint n = 0u; n < BK16; ++n) {
        A_MAT k_frag;
        coopMatLoadNV(k_frag, tile_dk_sh, (16u * n) * KROW + 4u * d, KROW, true);
        [[unroll]] for (uint r = 0u; r < RF; ++r) {
          s_frag[r * BK16 + n] = coopMatMulAddNV(q_d[r], k_frag, s_frag[r * BK16 + n]);
        }
      }
    }

    // Softmax in registers: element e of s_frag[r * BK16 + n] is (slot 2 r + acc_hi(e), key
    // 16 n + acc_col). Per-element work is kept to scale, max, exp2 and sum: the mask and score_mod
    // run only where needed (`needs_mask`: the mask may hide an element of this subgroup's rows x
    // BLOCK_K block: keys past len_k, rows past len_q, keys past the first row's causal diagonal,
    // any window, any document ids). (Folding the scale into the exp2's FFMA measured no faster.)
    bool needs_mask = kv0 + BLOCK_K > len_k || w0 + 16u * RF > len_q || WINDOW != 0u || DOCUMENTS != 0u;
    if (CAUSAL != 0u) needs_mask = needs_mask || int(kv0 + BLOCK_K) - 1 > int(w0) + shift;
    if (needs_mask || !PLAIN_SCORES) {
      [[unroll]] for (uint f = 0u; f < RF * BK16; ++f) {
        [[unroll]] for (uint e = 0u; e < ELEMS; ++e) {
          const uint sl = 2u * (f / BK16) + (acc_hi(e) ? 1u : 0u);
          const uint jj = 16u * (f % BK16) + acc_col(lane, e);
          const int j = int(kv0 + jj);
          float score = NEG_INF;
          if (q_live[sl] && mask_allows(q_diag[sl], j, int(len_k), win_left, win_right) &&
              (DOCUMENTS == 0u || doc_k_tile[jj] == q_doc[sl])) {
            float unused_dsoftcap;
            score = modified_score(params.scale_log2 * s_frag[f][e], j - q_diag[sl], slope_log2, table_row,
                                   q_bias_row[sl] + uint(j), unused_dsoftcap);
          }
          s_frag[f][e] = score;
        }
      }
    } else {
      [[unroll]] for (uint f = 0u; f < RF * BK16; ++f) {
        [[unroll]] for (uint e = 0u; e < ELEMS; ++e) s_frag[f][e] *= params.scale_log2;
      }
    }
    float m_tile[SLOTS];
    [[unroll]] for (uint s = 0u; s < SLOTS; ++s) m_tile[s] = NEG_INF;
    [[unroll]] for (uint f = 0u; f < RF * BK16; ++f) {
      [[unroll]] for (uint e = 0u; e < ELEMS; ++e) {
        const uint sl = 2u * (f / BK16) + (acc_hi(e) ? 1u : 0u);
        m_tile[sl] = max(m_tile[sl], s_frag[f][e]);
      }
    }
    float alpha[SLOTS];
    float m_sub[SLOTS];  // subtracted before exp2: m, or 0 for a row with no finite score (P = 0)
    float sum[SLOTS];
    bool rescale = false;
    [[unroll]] for (uint sl = 0u; sl < SLOTS; ++sl) {
      m_tile[sl] = max(m_tile[sl], subgroupShuffleXor(m_tile[sl], 1u));
      m_tile[sl] = max(m_tile[sl], subgroupShuffleXor(m_tile[sl], 2u));
      // -inf + slack = -inf: without sinks the first finite score moves m (alpha = 2^-inf = 0
      // scales the nothing summed so far); with sinks m starts at the sink logit; a row with no
      // finite score keeps m = -inf and alpha = 1.
      const bool move = m_tile[sl] > q_m[sl] + RESCALE_SLACK;
      alpha[sl] = move ? exp2(q_m[sl] - m_tile[sl]) : 1.0;
      q_m[sl] = move ? m_tile[sl] : q_m[sl];
      m_sub[sl] = q_m[sl] != NEG_INF ? q_m[sl] : 0.0;
      rescale = rescale || move;
      sum[sl] = 0.0;
    }
    [[unroll]] for (uint f = 0u; f < RF * BK16; ++f) {
      [[unroll]] for (uint e = 0u; e < ELEMS; ++e) {
        const uint sl = 2u * (f / BK16) + (acc_hi(e) ? 1u : 0u);
        const float p = exp2(s_frag[f][e] - m_sub[sl]);
        s_frag[f][e] = p;
        sum[sl] += p;
      }
    }
    [[unroll]] for (uint sl = 0u; sl < SLOTS; ++sl) q_l[sl] = alpha[sl] * q_l[sl] + sum[sl];  // this lane's part
    // O = diag(alpha) O + P V (P as fp16 in registers); the rescale is skipped when no row's max
    // moved.
    if (subgroupAny(rescale)) {
      [[unroll]] for (uint f = 0u; f < RF * DV16; ++f) {
        [[unroll]] for (uint e = 0u; e < ELEMS; ++e) o_frag[f][e] *= alpha[2u * (f / DV16) + (acc_hi(e) ? 1u : 0u)];
      }
    }
    [[unroll]] for (uint kk = 0u; kk < BK16; ++kk) {
      A_MAT p_frag[RF];
      [[unroll]] for (uint r = 0u; r < RF; ++r) p_frag[r] = A_MAT(s_frag[r * BK16 + kk]);
      [[unroll]] for (uint d = 0u; d < DV16; ++d) {
        A_MAT v_frag;
        coopMatLoadNV(v_frag, tile_dv_sh, (16u * kk) * VROW + 4u * d, VROW, false);
        [[unroll]] for (uint r = 0u; r < RF; ++r) {
          o_frag[r * DV16 + d] = coopMatMulAddNV(p_frag[r], v_frag, o_frag[r * DV16 + d]);
        }
      }
    }
  }

  // l = the quad's parts; O = O / l (0 for a row that saw nothing), stored 16 x 16 at a time
  // (store_acc).
  [[unroll]] for (uint sl = 0u; sl < SLOTS; ++sl) {
    q_l[sl] += subgroupShuffleXor(q_l[sl], 1u);
    q_l[sl] += subgroupShuffleXor(q_l[sl], 2u);
  }
  float inv_l[SLOTS];
  [[unroll]] for (uint sl = 0u; sl < SLOTS; ++sl) inv_l[sl] = q_l[sl] > 0.0 ? 1.0 / q_l[sl] : 0.0;
  [[unroll]] for (uint f = 0u; f < RF * DV16; ++f) {
    [[unroll]] for (uint e = 0u; e < ELEMS; ++e) o_frag[f][e] *= inv_l[2u * (f / DV16) + (acc_hi(e) ? 1u : 0u)];
  }
  const uint o_rows = SEQ_MODE == SEQ_VARLEN ? len_q : params.seq_q;
  [[unroll]] for (uint r = 0u; r < RF; ++r) {
    const uint row0 = w0 + 16u * r;
    const uint o_base = pc.o_offset + b * pc.o_stride_b + h * pc.o_stride_h + (start_q + row0) * pc.o_stride_s;
    const uint rows_valid = row0 < o_rows ? o_rows - row0 : 0u;
    [[unroll]] for (uint d = 0u; d < DV16; ++d) {
      store_acc(o_frag[r * DV16 + d], 0u, o_base + 16u * d, pc.o_stride_s, rows_valid, HEAD_DIM_V - 16u * d);
    }
  }
  if (WRITE_LSE != 0u && (lane & 3u) == 0u) {
    [[unroll]] for (uint sl = 0u; sl < SLOTS; ++sl) {
      if (qi[sl] < o_rows) {
        const uint idx = pc.lse_offset + b * pc.lse_stride_b + h * pc.lse_stride_h + (start_q + qi[sl]) * pc.lse_stride_s;
        lse_values[idx] = q_l[sl] > 0.0 ? LN2 * (q_m[sl] + log2(q_l[sl])) : NEG_INF;
      }
    }
  }
}
