#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_KHR_shader_subgroup_vote : require
#extension GL_KHR_memory_scope_semantics : require
#if CM_KHR
#extension GL_KHR_cooperative_matrix : require
#else
#extension GL_NV_cooperative_matrix : require
#endif
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require

// attn_fwd_cm.comp — FlashAttention-2 forward on the matrix units (VK_NV_cooperative_matrix):
// fp16 operands, fp32 accumulation. Same math, bindings and specialization constants as
// attn_fwd.comp (its header states the recurrence); only the two products change hands.
//
// One workgroup = BLOCK_Q query rows of one (b, h); subgroup w (of WORKGROUP_SIZE / 32, 32 lanes
// each) owns RF = 1 or 2 fragments of 16 rows, rows 16 RF w .. 16 RF (w + 1) - 1. Per K/V tile of
// BLOCK_K keys, staged in shared memory as fp16 (KV_AHEAD = 1: fetched into registers one tile
// ahead; 0: each at its own turn; 2, "staggered": V fetched while S computes, the next K while
// P V computes, so only one of them is in registers at a time):
//   S_w   = Q_w K^T               16 RF x BLOCK_K, fp32 accumulators (mma over Dk / 16)
//   s = score_mod(scale_log2 * S), masked keys -inf; t = rowmax s
//   m moves to t only where t > m + RESCALE_SLACK ("lazy rescaling"), alpha = 2^(m_old - m) there
//   and 1 elsewhere; P = 2^(s - m) <= 2^RESCALE_SLACK; l = alpha l + rowsum P
//   O_w   = diag(alpha) O_w + P_w V   (P as fp16; mma over BLOCK_K / 16)
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
const uint HELD_DK_ROWS = Q_SHARED * (BLOCK_Q / ROW_LANES);  // Q rows in tile_dk_sh past the K tile (Q_SHARED)

// Unused: the output goes through store_rows (write_row8) below, not store_acc.
void write_out8(uint which, uint dst, vec4 lo, vec4 hi) {}

#define CM_ALL_ROWS_WIDE (WIDE_ROWS != 0u)
#define CM_TILES_PAGED
#include "attn_cm_tiles.glsl"

const uint RF = BLOCK_Q / (16u * SUBGROUPS);  // row fragments (16 rows each) per subgroup: 1 or 2
const uint SLOTS = 2u * RF;                   // rows per lane: g + 8 hi + 16 r, hi = 0, 1, r < RF
const uint KEY_LANES = ROW_LANES;             // subgroups sharing rows, each with 1 / KEY_LANES of a tile's keys
const uint ROW_GROUPS = SUBGROUPS / KEY_LANES;
const uint ROWS = BLOCK_Q / KEY_LANES;        // rows of the workgroup: 16 RF ROW_GROUPS
const uint BK16 = BLOCK_K / 16u;
const uint LK16 = BK16 / KEY_LANES;           // key fragments of a tile per subgroup
const float RESCALE_SLACK = 8.0;  // log2 units: P <= 256 between rescales (fp16 holds 65504)
const uint Q_SH = BLOCK_K * KROW;  // Q_SHARED: where Q row 0 starts in tile_dk_sh
const uint SCRATCH = 16u * OROW;   // floats of out_sh per subgroup

shared int doc_k_tile[BLOCK_K];
#include "attn_doc_range.glsl"  // doc_range (DOCUMENTS): document ids of the Q tile, then of the K tile

// Block row br of workgroup (tile, head_y): packed row rr = tile * ROWS + br, which is query
// rr / group of head head_y * group + rr % group with PACK_GQA, else query rr of head head_y.
uvec2 row_query_head(uint br, uint tile, uint head_y, uint group) {
  const uint rr = tile * ROWS + br;
  return PACK_GQA != 0u ? uvec2(rr / group, head_y * group + rr % group) : uvec2(rr, head_y);
}

// Output columns [c0, c0 + 8) of query i of head h (sequence b from token start_q): O, or with
// SPLITS > 1 this split's partial O in the workspace (fp32, row work_row, Dv per row).
void write_row8(uint b, uint h, uint start_q, uint i, uint split, uint c0, vec4 lo, vec4 hi) {
  if (SPLITS > 1u) {
    const uint work_row = b * params.work_stride_b + h * params.work_stride_h + start_q + i;
    const uint at = split * params.split_stride_o + work_row * HEAD_DIM_V + c0;
    [[unroll]] for (uint k = 0u; k < 4u; ++k) {
      work[at + k] = lo[k];
      work[at + 4u + k] = hi[k];
    }
    return;
  }
  const uint dst = pc.o_offset + b * pc.o_stride_b + h * pc.o_stride_h + (start_q + i) * pc.o_stride_s + c0;
  STORE_VEC4(o_words, dst, lo);
  STORE_VEC4(o_words, dst + 4u, hi);
}

void main() {
  const uint warp = gl_SubgroupID;
  const uint lane = gl_SubgroupInvocationID;
  const uint tid = gl_LocalInvocationID.x;
  const uint rg = warp % ROW_GROUPS;  // this subgroup's rows: block rows 16 RF rg ..
  const uint kl = warp / ROW_GROUPS;  // and its share of every tile's keys: fragments LK16 kl ..
  // Query tiles run last to first: under a causal mask the last tiles see the most keys, so the
  // heaviest workgroups start first and the light ones fill the end of the grid.
  const uint tile = gl_NumWorkGroups.x - 1u - gl_WorkGroupID.x;
  const uint split = gl_WorkGroupID.z;
  const uint group = PACK_GQA != 0u ? params.pack_group : 1u;
  const uint heads_y = PACK_GQA != 0u ? params.kv_heads : params.q_heads;
  const uint b = gl_WorkGroupID.y / heads_y;
  const uint head_y = gl_WorkGroupID.y % heads_y;
  const uint kv_h = PACK_GQA != 0u ? head_y : head_y / params.pack_group;

  const uvec4 seq = sequence(b);
  const uint start_q = seq.x, len_q = seq.y, start_k = seq.z;
  // A paged cache with device tables: the sequence's keys are cache_lens[b] (trusted).
  const uint len_k = PAGED_SHIFT != 0u && DEVICE_LENS != 0u ? uint(cache_lens[pc.lens_offset + b]) : seq.w;
  const uint i0 = (tile * ROWS) / group;  // the block's first query
  const uint block_queries = (tile * ROWS + ROWS - 1u) / group - i0 + 1u;
  if (SEQ_MODE == SEQ_VARLEN && i0 >= len_q) return;  // uniform
  const uint w0 = 16u * RF * rg;  // this subgroup's first block row; fragment r holds rows w0 + 16 r ..
  const uint w_q0 = (tile * ROWS + w0) / group;                // its first query
  const uint w_q1 = (tile * ROWS + w0 + 16u * RF - 1u) / group;  // and its last
  const int shift = diag_shift(len_q, len_k, params.position_shift);
  const int win_left = params.window_left;
  const int win_right = params.window_right;

  // The key tiles the block's live rows may see; split `split` takes its share of them.
  const uvec2 kv_tiles = mask_key_tiles(i0, block_queries, len_q, len_k, shift, win_left, win_right, BLOCK_K);
  const uint per_split = (kv_tiles.y - kv_tiles.x + SPLITS - 1u) / SPLITS;
  const uint tile_begin = min(kv_tiles.x + split * per_split, kv_tiles.y);
  const uint tile_end = min(tile_begin + per_split, kv_tiles.y);

  // K and V rows: contiguous from the sequence's first key, or in a paged cache row j % block_size
  // of pool block block_table[b, j / block_size] (attn_cm_tiles.glsl's paged_row_source).
  RowSource ks, vs;
  if (PAGED_SHIFT != 0u) {
    const uint pages_row = pc.pages_offset + b * pc.pages_stride_b;
    ks = paged_row_source(SRC_K, pc.k_offset + kv_h * pc.k_stride_h, pc.k_stride_s, pc.k_stride_b, pages_row);
    vs = paged_row_source(SRC_V, pc.v_offset + kv_h * pc.v_stride_h, pc.v_stride_s, pc.v_stride_b, pages_row);
  } else {
    ks = row_source(SRC_K, pc.k_offset + b * pc.k_stride_b + kv_h * pc.k_stride_h + start_k * pc.k_stride_s,
                    pc.k_stride_s);
    vs = row_source(SRC_V, pc.v_offset + b * pc.v_stride_b + kv_h * pc.v_stride_h + start_k * pc.v_stride_s,
                    pc.v_stride_s);
  }

  // Without document ids every tile in [tile_begin, tile_end) is visited, so the next one is
  // fetched while this one computes (KV_AHEAD); with them a tile may be skipped, so each is
  // fetched in turn, as it is with KV_AHEAD = 0 (the registers the next tile would hold then go to
  // the shape: fwd_tiles.cpp).
  // The first tile's loads go out here, before Q's, so that the two latencies may overlap (a
  // decode split walks only a few tiles; on the H100 this measured within noise of loading Q
  // first, bench/RESULTS_H100.md twenty-sixth session).
  const bool prefetch = DOCUMENTS == 0u && KV_AHEAD == 1u;
  const bool stagger = DOCUMENTS == 0u && KV_AHEAD == 2u;
  if (prefetch && tile_begin < tile_end) fetch_tile(ks, vs, tile_begin * BLOCK_K, len_k);
  if (stagger && tile_begin < tile_end) fetch_dk_rows(ks, tile_begin * BLOCK_K, len_k);

  if (DOCUMENTS != 0u) {
    doc_range_reset(DOC_RANGE_BLOCK);
    barrier();
    for (uint r = tid; r < ROWS; r += WORKGROUP_SIZE) {
      const uint i = row_query_head(r, tile, head_y, group).x;
      if (i < len_q) doc_range_add(DOC_RANGE_BLOCK, query_doc(b, start_q, i));
    }
    barrier();
  }

  // Per slot s = 2 r + hi (row g + 8 hi of fragment r, for this lane's quad g): the row's query
  // and head, diagonal, score_mod terms, document, and the running max m (log2 units) and sum l.
  // The sink starts the row in key lane 0 of split 0 only.
  const bool with_sink = SINKS != 0u && kl == 0u && split == 0u;
  uint qi[SLOTS];
  uint qh[SLOTS];
  bool q_live[SLOTS];
  int q_diag[SLOTS];
  uint q_bias_row[SLOTS];
  float q_slope[SLOTS];
  uint q_table_row[SLOTS];
  int q_doc[SLOTS];
  float q_m[SLOTS];
  float q_l[SLOTS];
  [[unroll]] for (uint s = 0u; s < SLOTS; ++s) {
    const uvec2 ih = row_query_head(w0 + 16u * (s >> 1u) + (lane >> 2u) + 8u * (s & 1u), tile, head_y, group);
    qi[s] = ih.x;
    qh[s] = ih.y;
    q_live[s] = qi[s] < len_q;
    q_diag[s] = int(qi[s]) + shift;
    q_bias_row[s] = bias_row_index(b, qh[s], qi[s]);
    q_slope[s] = alibi_slope_log2(b, qh[s]);
    q_table_row[s] = rel_table_row(qh[s]);
    q_doc[s] = DOCUMENTS != 0u && q_live[s] ? query_doc(b, start_q, qi[s]) : 0;
    q_m[s] = with_sink && q_live[s] ? LOG2E * sinks[pc.sinks_offset + qh[s]] : NEG_INF;
    q_l[s] = with_sink && q_live[s] && (lane & 3u) == 0u ? 1.0 : 0.0;  // the quad's lanes sum theirs
  }

  // Q (zeros past len_q and in the head dim's padding columns, attn_cm_tiles.glsl), 4 halves per
  // word: all ROWS rows into tile_dk_sh from Q_SH (fenced by the tile loop's first barrier), or
  // RF x Dk / 16 fragments (q_frag[r * DK16 + d]) staged through tile_dk_sh BLOCK_K rows at a time.
  A_MAT q_frag[RF * DK16];
  const uint QW = HEAD_DIM_P / 4u;
  if (Q_SHARED != 0u) {
    for (uint e = tid; e < ROWS * QW; e += WORKGROUP_SIZE) {
      const uint r = e / QW;
      const uint c = e % QW;
      const uvec2 ih = row_query_head(r, tile, head_y, group);
      const uint q_row = pc.q_offset + b * pc.q_stride_b + ih.y * pc.q_stride_h + (start_q + ih.x) * pc.q_stride_s;
      tile_dk_sh[Q_SH + r * KROW + c] =
          ih.x < len_q && 4u * c < HEAD_DIM ? load4(row_source(SRC_Q, q_row, 0u), q_row + 4u * c) : uvec2(0u);
    }
  }
  for (uint r0 = 0u; Q_SHARED == 0u && r0 < ROWS; r0 += BLOCK_K) {
    barrier();
    for (uint e = tid; e < BLOCK_K * QW; e += WORKGROUP_SIZE) {
      const uint r = e / QW;
      const uint c = e % QW;
      const uvec2 ih = row_query_head(r0 + r, tile, head_y, group);
      const uint q_row = pc.q_offset + b * pc.q_stride_b + ih.y * pc.q_stride_h + (start_q + ih.x) * pc.q_stride_s;
      tile_dk_sh[r * KROW + c] = r0 + r < ROWS && ih.x < len_q && 4u * c < HEAD_DIM
                                     ? load4(row_source(SRC_Q, q_row, 0u), q_row + 4u * c)
                                     : uvec2(0u);
    }
    barrier();
    [[unroll]] for (uint r = 0u; r < RF; ++r) {
      const uint f0 = w0 + 16u * r;  // the fragment's first row in the block
      if (f0 >= r0 && f0 < r0 + BLOCK_K) {
        [[unroll]] for (uint d = 0u; d < DK16; ++d) {
          load_a(q_frag[r * DK16 + d], tile_dk_sh, (f0 - r0) * KROW + 4u * d, KROW);
        }
      }
    }
  }

  ACC_MAT o_frag[RF * DV16];
  [[unroll]] for (uint f = 0u; f < RF * DV16; ++f) o_frag[f] = ACC_MAT(0.0);

  [[dont_unroll]] for (uint t = tile_begin; t < tile_end; ++t) {
    const uint kv0 = t * BLOCK_K;
    const uint lk0 = 16u * LK16 * kl;  // this subgroup's first key of the tile
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
    if (stagger) {
      stage_dk_rows();              // K of this tile (fetched during the last P V)
      fetch_dv_rows(vs, kv0, len_k);  // V in flight while S and the softmax compute
    } else {
      if (!prefetch) fetch_tile(ks, vs, kv0, len_k);
      stage_tile();
    }
    barrier();
    if (prefetch && t + 1u < tile_end) fetch_tile(ks, vs, kv0 + BLOCK_K, len_k);

    // S = Q K^T over 16 dims at a time, for this subgroup's keys lk0 .. lk0 + 16 LK16 of the
    // tile; each K^T fragment (dims 16d.., keys 16n..: K rows read column-major) feeds all RF row
    // fragments (s_frag[r * LK16 + n]).
    ACC_MAT s_frag[RF * LK16];
    [[unroll]] for (uint f = 0u; f < RF * LK16; ++f) s_frag[f] = ACC_MAT(0.0);
    [[unroll]] for (uint d = 0u; d < DK16; ++d) {
      A_MAT q_d[RF];
      [[unroll]] for (uint r = 0u; r < RF; ++r) {
        if (Q_SHARED != 0u) {
          load_a(q_d[r], tile_dk_sh, Q_SH + (w0 + 16u * r) * KROW + 4u * d, KROW);
        } else {
          q_d[r] = q_frag[r * DK16 + d];
        }
      }
      [[unroll]] for (uint n = 0u; n < LK16; ++n) {
        B_MAT k_frag;
        load_bt(k_frag, tile_dk_sh, (lk0 + 16u * n) * KROW + 4u * d, KROW);
        [[unroll]] for (uint r = 0u; r < RF; ++r) {
          s_frag[r * LK16 + n] = mma(q_d[r], k_frag, s_frag[r * LK16 + n]);
        }
      }
    }

    // Softmax in registers: element e of s_frag[r * LK16 + n] is (slot 2 r + acc_hi(e), key
    // lk0 + 16 n + acc_col). Per-element work is kept to scale, max, exp2 and sum: the mask and
    // score_mod run only where needed (`needs_mask`: the mask may hide an element of this
    // subgroup's rows x BLOCK_K block: keys past len_k, rows past len_q, keys past the first row's
    // causal diagonal, any window, any document ids). (Folding the scale into the exp2's FFMA
    // measured no faster.)
    bool needs_mask = kv0 + BLOCK_K > len_k || w_q1 >= len_q || WINDOW != 0u || DOCUMENTS != 0u;
    if (CAUSAL != 0u) needs_mask = needs_mask || int(kv0 + BLOCK_K) - 1 > int(w_q0) + shift;
    if (needs_mask || !PLAIN_SCORES) {
      [[unroll]] for (uint f = 0u; f < RF * LK16; ++f) {
        [[unroll]] for (uint e = 0u; e < ELEMS; ++e) {
          const uint sl = 2u * (f / LK16) + (acc_hi(e) ? 1u : 0u);
          const uint jj = lk0 + 16u * (f % LK16) + acc_col(lane, e);
          const int j = int(kv0 + jj);
          float score = NEG_INF;
          if (q_live[sl] && mask_allows(q_diag[sl], j, int(len_k), win_left, win_right) &&
              (DOCUMENTS == 0u || doc_k_tile[jj] == q_doc[sl])) {
            float unused_dsoftcap;
            score = modified_score(params.scale_log2 * s_frag[f][e], j - q_diag[sl], q_slope[sl], q_table_row[sl],
                                   q_bias_row[sl] + uint(j), unused_dsoftcap);
          }
          s_frag[f][e] = score;
        }
      }
    } else {
      [[unroll]] for (uint f = 0u; f < RF * LK16; ++f) {
        [[unroll]] for (uint e = 0u; e < ELEMS; ++e) s_frag[f][e] *= params.scale_log2;
      }
    }
    float m_tile[SLOTS];
    [[unroll]] for (uint s = 0u; s < SLOTS; ++s) m_tile[s] = NEG_INF;
    [[unroll]] for (uint f = 0u; f < RF * LK16; ++f) {
      [[unroll]] for (uint e = 0u; e < ELEMS; ++e) {
        const uint sl = 2u * (f / LK16) + (acc_hi(e) ? 1u : 0u);
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
    [[unroll]] for (uint f = 0u; f < RF * LK16; ++f) {
      [[unroll]] for (uint e = 0u; e < ELEMS; ++e) {
        const uint sl = 2u * (f / LK16) + (acc_hi(e) ? 1u : 0u);
        const float p = exp2(s_frag[f][e] - m_sub[sl]);
        s_frag[f][e] = p;
        sum[sl] += p;
      }
    }
    [[unroll]] for (uint sl = 0u; sl < SLOTS; ++sl) q_l[sl] = alpha[sl] * q_l[sl] + sum[sl];  // this lane's part
    // Dropout: P V takes P_ij Z_ij / (1 - p) (attn_dropout.glsl); l above stays undropped.
    // Without PACK_GQA a fragment's rows are queries i0 .. i0 + 15 of one head (w0 and tile ROWS
    // multiples of 16), so one generator call serves a lane's eight elements (attn_dropout.glsl);
    // rows packed from several heads (decode) keep the last call (DropoutWords). A runtime choice between
    // the two, per fragment, ran the H100's forward 2.9x slower. No branch on P = 0 (a masked
    // element's 0 stays 0), which made the unrolled calls diverge.
    if (DROPOUT != 0u) {
      DropoutWords z = no_dropout_words();
      [[unroll]] for (uint f = 0u; f < RF * LK16; ++f) {
        const uint lo = 2u * (f / LK16), hi = lo + 1u;
        const uint j0 = kv0 + lk0 + 16u * (f % LK16);
        if (PACK_GQA == 0u) {
          const uvec4 words = dropout_words(b, qh[lo], qi[lo], j0 + acc_col(lane, 0u));
          [[unroll]] for (uint e = 0u; e < ELEMS; ++e) s_frag[f][e] *= dropout_factor_value(words, e);
        } else {
          [[unroll]] for (uint e = 0u; e < ELEMS; ++e) {
            const uint sl = acc_hi(e) ? hi : lo;
            s_frag[f][e] *= dropout_factor_kept(z, b, qh[sl], qi[sl], j0 + acc_col(lane, e));
          }
        }
      }
    }
    // O = diag(alpha) O + P V (P as fp16 in registers); the rescale is skipped when no row's max
    // moved.
    if (subgroupAny(rescale)) {
      [[unroll]] for (uint f = 0u; f < RF * DV16; ++f) {
        [[unroll]] for (uint e = 0u; e < ELEMS; ++e) o_frag[f][e] *= alpha[2u * (f / DV16) + (acc_hi(e) ? 1u : 0u)];
      }
    }
    if (stagger) {
      // Every subgroup is past the last tile's P V (the loop's first barrier): V goes in, and the
      // next K is in flight while P V computes.
      stage_dv_rows();
      if (t + 1u < tile_end) fetch_dk_rows(ks, kv0 + BLOCK_K, len_k);
      barrier();
    }
    [[unroll]] for (uint kk = 0u; kk < LK16; ++kk) {
      A_MAT p_frag[RF];
      [[unroll]] for (uint r = 0u; r < RF; ++r) p_frag[r] = acc_to_a(s_frag[r * LK16 + kk]);
      [[unroll]] for (uint d = 0u; d < DV16; ++d) {
        B_MAT v_frag;
        load_b(v_frag, tile_dv_sh, (lk0 + 16u * kk) * VROW + 4u * d, VROW);
        [[unroll]] for (uint r = 0u; r < RF; ++r) {
          o_frag[r * DV16 + d] = mma(p_frag[r], v_frag, o_frag[r * DV16 + d]);
        }
      }
    }
  }

  // l = the quad's parts.
  [[unroll]] for (uint sl = 0u; sl < SLOTS; ++sl) {
    q_l[sl] += subgroupShuffleXor(q_l[sl], 1u);
    q_l[sl] += subgroupShuffleXor(q_l[sl], 2u);
  }
  // Key lanes: each row's (m, l) of every key lane through out_sh (m at 32 RF + row, l at
  // 32 RF + 16 RF + row of the subgroup's scratch, row < 16 RF <= 32 of its own), then per row
  // M = max m, L = sum l 2^(m - M); each lane's O is rescaled by 2^(m - M) (0 where m = -inf) and
  // the lanes' O are summed below. Without key lanes M = m, L = l.
  // out_scale[r]: 1 / L of output row 16 r + lane / 2 of the subgroup's rows (store_rows' rows).
  float out_scale[RF];
  float alpha_o[SLOTS];  // key lanes: this lane's rescale to the rows' common max
  if (KEY_LANES > 1u) {
    barrier();  // every subgroup's last tile is done (out_sh is free anyway)
    if ((lane & 3u) == 0u) {
      [[unroll]] for (uint sl = 0u; sl < SLOTS; ++sl) {
        const uint row = 16u * (sl >> 1u) + (lane >> 2u) + 8u * (sl & 1u);
        out_sh[warp * SCRATCH + row] = q_m[sl];
        out_sh[warp * SCRATCH + 32u + row] = q_l[sl];
      }
    }
    barrier();
    [[unroll]] for (uint sl = 0u; sl < SLOTS; ++sl) {
      const uint row = 16u * (sl >> 1u) + (lane >> 2u) + 8u * (sl & 1u);
      float m_all = NEG_INF;
      [[unroll]] for (uint k = 0u; k < KEY_LANES; ++k) m_all = max(m_all, out_sh[(k * ROW_GROUPS + rg) * SCRATCH + row]);
      float l_all = 0.0;
      [[unroll]] for (uint k = 0u; k < KEY_LANES; ++k) {
        const float m_k = out_sh[(k * ROW_GROUPS + rg) * SCRATCH + row];
        l_all += m_k == NEG_INF ? 0.0 : out_sh[(k * ROW_GROUPS + rg) * SCRATCH + 32u + row] * exp2(m_k - m_all);
      }
      const float own = q_m[sl] == NEG_INF ? 0.0 : exp2(q_m[sl] - m_all);
      alpha_o[sl] = own;
      q_m[sl] = m_all;
      q_l[sl] = l_all;
    }
    [[unroll]] for (uint r = 0u; r < RF; ++r) {
      const uint row = 16u * r + (lane >> 1u);
      float m_all = NEG_INF;
      [[unroll]] for (uint k = 0u; k < KEY_LANES; ++k) m_all = max(m_all, out_sh[(k * ROW_GROUPS + rg) * SCRATCH + row]);
      float l_all = 0.0;
      [[unroll]] for (uint k = 0u; k < KEY_LANES; ++k) {
        const float m_k = out_sh[(k * ROW_GROUPS + rg) * SCRATCH + row];
        l_all += m_k == NEG_INF ? 0.0 : out_sh[(k * ROW_GROUPS + rg) * SCRATCH + 32u + row] * exp2(m_k - m_all);
      }
      out_scale[r] = l_all > 0.0 ? 1.0 / l_all : 0.0;
    }
    [[unroll]] for (uint f = 0u; f < RF * DV16; ++f) {
      [[unroll]] for (uint e = 0u; e < ELEMS; ++e) o_frag[f][e] *= alpha_o[2u * (f / DV16) + (acc_hi(e) ? 1u : 0u)];
    }
    barrier();  // out_sh is read: the O rounds below reuse it
  } else {
    // O = O / l (0 for a row that saw nothing).
    [[unroll]] for (uint f = 0u; f < RF * DV16; ++f) {
      [[unroll]] for (uint e = 0u; e < ELEMS; ++e) {
        const float l = q_l[2u * (f / DV16) + (acc_hi(e) ? 1u : 0u)];
        o_frag[f][e] *= l > 0.0 ? 1.0 / l : 0.0;
      }
    }
    [[unroll]] for (uint r = 0u; r < RF; ++r) out_scale[r] = 1.0;
  }

  // O out, 16 x 16 at a time: each subgroup stores its fragment into its out_sh scratch; the
  // subgroups of key lane 0 sum the key lanes' scratch rows (lane l: 8 columns of row l / 2),
  // scale by out_scale and write row by row (write_row8: O, or the split's workspace row).
  const uint o_rows = SEQ_MODE == SEQ_VARLEN ? len_q : params.seq_q;
  [[unroll]] for (uint r = 0u; r < RF; ++r) {
    const uint row = 16u * r + (lane >> 1u);
    const uvec2 ih = row_query_head(w0 + row, tile, head_y, group);
    const uint c8 = 8u * (lane & 1u);
    [[unroll]] for (uint d = 0u; d < DV16; ++d) {
      store_acc_rows(o_frag[r * DV16 + d], out_sh, warp * SCRATCH, OROW);
      if (KEY_LANES > 1u) {
        barrier();
      } else {
        subgroupMemoryBarrierShared();
        subgroupBarrier();
      }
      if (kl == 0u && ih.x < o_rows && 16u * d + c8 < HEAD_DIM_V) {
        vec4 lo = vec4(0.0), hi = vec4(0.0);
        [[unroll]] for (uint k = 0u; k < KEY_LANES; ++k) {
          const uint src = (k * ROW_GROUPS + rg) * SCRATCH + (lane >> 1u) * OROW + c8;
          lo += vec4(out_sh[src], out_sh[src + 1u], out_sh[src + 2u], out_sh[src + 3u]);
          hi += vec4(out_sh[src + 4u], out_sh[src + 5u], out_sh[src + 6u], out_sh[src + 7u]);
        }
        write_row8(b, ih.y, start_q, ih.x, split, 16u * d + c8, lo * out_scale[r], hi * out_scale[r]);
      }
      if (KEY_LANES > 1u) {
        barrier();
      } else {
        subgroupBarrier();
      }
    }
  }
  // LSE = ln 2 (M + log2 L), -inf for a row that saw nothing: to the LSE output, or the split's
  // workspace entry.
  if (kl == 0u && (lane & 3u) == 0u && (WRITE_LSE != 0u || SPLITS > 1u)) {
    [[unroll]] for (uint sl = 0u; sl < SLOTS; ++sl) {
      if (qi[sl] < o_rows) {
        const float lse = q_l[sl] > 0.0 ? LN2 * (q_m[sl] + log2(q_l[sl])) : NEG_INF;
        if (SPLITS > 1u) {
          const uint work_row = b * params.work_stride_b + qh[sl] * params.work_stride_h + start_q + qi[sl];
          work[SPLITS * params.split_stride_o + split * params.split_stride_lse + work_row] = lse;
        } else {
          const uint idx = pc.lse_offset + b * pc.lse_stride_b + qh[sl] * pc.lse_stride_h + (start_q + qi[sl]) * pc.lse_stride_s;
          lse_values[idx] = lse;
        }
      }
    }
  }
}
