#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

// attn_fwd.comp — FlashAttention-2 forward, portable scalar path (fp32 FMA, no subgroup ops).
//
// One workgroup = BLOCK_Q query rows of one (batch b, head h) (see below for decode); invocation r
// owns query row i = tile * BLOCK_Q + r and keeps q_i, the output accumulator O_i and the online-softmax state
// (m_i running max, l_i running sum) in registers, as vec4s over the head dim. K/V tiles of
// BLOCK_K keys pass through shared memory. Per tile, with scores in log2 units
// (scale_log2 = scale * log2 e):
//   S_ij  = score_mod(scale_log2 * q_i . k_j)  (-inf where the mask hides key j; score_mod.glsl)
//   m_new = max(m_i, max_j S_ij)
//   P_ij  = 2^(S_ij - m_new)
//   alpha = 2^(m_i - m_new)                    (one rescale per tile)
//   l_i   = alpha * l_i + sum_j P_ij
//   O_i   = alpha * O_i + sum_j P_ij v_j
// At the end O_i /= l_i and LSE_i = ln 2 * (m_i + log2 l_i). With DROPOUT, O_i sums
// P_ij Z_ij / (1 - p) v_j instead (attn_dropout.glsl); l_i and LSE are the undropped ones. With SINKS, the sink logit starts
// the row (m_i = sink, l_i = 1) and has no value row. A row that saw nothing keeps m_i = -inf,
// l_i = 0 and writes O_i = 0, LSE_i = -inf. Memory is O(S): no S x S buffer.
//
// Tile skipping: the mask's key range for the whole Q tile (attn_mask.glsl) bounds the K/V tiles
// visited; with DOCUMENTS a tile whose document ids cannot meet the Q tile's is skipped before
// K and V are loaded. Partly masked tiles apply the predicate per element.
//
// Sequences: SEQ_MODE 1 (padding) and 2 (varlen) read per batch (start_q, len_q, start_k, len_k)
// from the parameter buffer. Varlen rows beyond len_q belong to other sequences and are not
// written; workgroups wholly past len_q exit at once.
//
// Decode and long rows (FlashDecoding): three constants reshape the same kernel for few query
// rows per KV head.
//   PACK_GQA   the Hq / Hkv query heads sharing a KV head fill one workgroup's rows together,
//              query-major (row rr = i * group + g, head h = kv_h * group + g): each K/V tile is
//              loaded once for the whole group.
//   ROW_LANES  invocations per row (ROWS = BLOCK_Q / ROW_LANES rows per workgroup): lane c takes
//              keys c, c + ROW_LANES, ... of every tile with its own (m, l, O); at the end the
//              lanes of a row merge exactly (rescale to the row max, then a tree sum in shared
//              memory), so a workgroup of 8 rows still keeps 64 invocations busy.
//   SPLITS     workgroups along the key tiles of each row block (gl_WorkGroupID.z = split). Split
//              s walks its share of the visible tiles and writes its partial O (normalized over
//              its keys) and LSE to the plan's workspace; attn_merge.comp combines the splits
//              (LSE-weighted, exact). A split whose keys are all hidden writes LSE = -inf. The sink
//              joins split 0, lane 0 only.
//
// Paged K/V (PAGED_SHIFT = log2 block size, vkattn/paged_kv.hpp): key j of sequence b is row
// j % block_size of pool block block_table[b, j / block_size]; with DEVICE_LENS the sequence's key
// count comes from cache_lens[b]. Only the addresses of the K/V loads change.
//
// Loop shape: llvmpipe (lavapipe) ends any shader after 65535 loop iterations per invocation,
// counted over all loops together. So loops over the head dim (fixed by specialization) are
// unrolled and keys go KEY_STEP at a time: per K/V tile that leaves
// 1 + LOADS_PER_INVOCATION + 2 * KEYS_PER_LANE / KEY_STEP iterations, and the lane merge adds
// ROW_LANES + log2(ROW_LANES). The planner splits rows longer than that budget allows on llvmpipe
// over more workgroups (engine/planning/fwd_tiles.cpp, fwd_loop_iterations).

#include "attn_fwd_bindings.glsl"
#include "attn_sequence.glsl"
#include "attn_documents.glsl"

layout(local_size_x_id = 32) in;

const uint DK4 = HEAD_DIM / 4u;    // vec4s per Q/K row
const uint DV4 = HEAD_DIM_V / 4u;  // vec4s per V/O row
const uint ROWS = BLOCK_Q / ROW_LANES;           // query rows per workgroup
const uint KEYS_PER_LANE = BLOCK_K / ROW_LANES;  // keys of a tile each lane scores
const uint K_TILE_VEC4S = BLOCK_K * DK4;
const uint V_TILE_VEC4S = BLOCK_K * DV4;
const uint TILE_VEC4S = K_TILE_VEC4S > V_TILE_VEC4S ? K_TILE_VEC4S : V_TILE_VEC4S;
// Staging steps per tile: invocation r stages vec4s r, r + BLOCK_Q, ...
const uint LOADS_PER_INVOCATION = (TILE_VEC4S + BLOCK_Q - 1u) / BLOCK_Q;
// The lane merge's scratch: the O of half the lanes of every row (reuses the tiles' memory).
const uint MERGE_VEC4S = ROW_LANES > 1u ? (BLOCK_Q / 2u) * DV4 : 0u;
const uint KV_VEC4S = K_TILE_VEC4S + V_TILE_VEC4S;
const uint TILE_MEM_VEC4S = KV_VEC4S > MERGE_VEC4S ? KV_VEC4S : MERGE_VEC4S;

shared vec4 tile_mem[TILE_MEM_VEC4S];  // K tile at 0, V tile at K_TILE_VEC4S; then the lane merge
// (m, l) per invocation for the lane merge; two unused entries (16 bytes, the driver's alignment
// unit) without lanes, which the host's model (fwd_shared_bytes) counts.
shared vec2 lane_ml[ROW_LANES > 1u ? BLOCK_Q : 2u];
shared int doc_k_tile[BLOCK_K];
#include "attn_doc_range.glsl"  // doc_range (DOCUMENTS): document ids of the Q tile, then of the K tile

// Element offset of key j's row: base + j * stride_s, or in a paged cache (PAGED_SHIFT) row
// j % block_size of the pool block block_table[pages_row + j / block_size].
uint key_row(uint base, uint pages_row, uint j, uint stride_block, uint stride_s) {
  if (PAGED_SHIFT == 0u) return base + j * stride_s;
  const uint block = uint(block_table[pages_row + (j >> PAGED_SHIFT)]);
  return base + block * stride_block + (j & ((1u << PAGED_SHIFT) - 1u)) * stride_s;
}

#define K_TILE(e) tile_mem[(e)]
#define V_TILE(e) tile_mem[K_TILE_VEC4S + (e)]

void main() {
  const uint r = gl_LocalInvocationID.x;
  const uint row = r % ROWS;   // the row this invocation works on
  const uint lane = r / ROWS;  // which ROW_LANES-th of each tile's keys it scores
  // Query tiles run last to first: under a causal mask the last tiles see the most keys, so the
  // heaviest workgroups start first and the light ones fill the end of the grid.
  const uint tile = gl_NumWorkGroups.x - 1u - gl_WorkGroupID.x;
  const uint split = gl_WorkGroupID.z;
  // Rows: query i of head h, or with PACK_GQA the pair (query i, head g of the KV head's group).
  const uint group = PACK_GQA != 0u ? params.pack_group : 1u;
  const uint heads_y = PACK_GQA != 0u ? params.kv_heads : params.q_heads;
  const uint b = gl_WorkGroupID.y / heads_y;
  const uint head_y = gl_WorkGroupID.y % heads_y;
  const uint rr = tile * ROWS + row;
  const uint i = rr / group;
  const uint h = PACK_GQA != 0u ? head_y * group + rr % group : head_y;
  const uint kv_h = PACK_GQA != 0u ? head_y : h / params.pack_group;  // GQA: a group of query heads shares one KV head
  const uint i0 = (tile * ROWS) / group;                  // the block's first query
  const uint block_queries = (tile * ROWS + ROWS - 1u) / group - i0 + 1u;

  // Sequence b: queries [0, len_q) stored from token start_q, keys [0, len_k) from start_k.
  const uvec4 seq = sequence(b);
  const uint start_q = seq.x, len_q = seq.y, start_k = seq.z;
  // A paged cache with device tables: the sequence's keys are cache_lens[b] (trusted).
  const uint len_k = PAGED_SHIFT != 0u && DEVICE_LENS != 0u ? uint(cache_lens[pc.lens_offset + b]) : seq.w;
  if (SEQ_MODE == SEQ_VARLEN && i0 >= len_q) return;  // uniform: the whole tile is another sequence's
  const bool row_written = i < (SEQ_MODE == SEQ_VARLEN ? len_q : params.seq_q);
  const bool row_live = i < len_q;  // padded rows attend to nothing
  const int shift = diag_shift(len_q, len_k, params.position_shift);
  const int diag = int(i) + shift;
  const int win_left = params.window_left;
  const int win_right = params.window_right;

  // Key tiles the block's live rows may see; split `split` takes its share of them. Other tiles
  // are skipped.
  const uvec2 kv_tiles = mask_key_tiles(i0, block_queries, len_q, len_k, shift, win_left, win_right, BLOCK_K);
  const uint per_split = (kv_tiles.y - kv_tiles.x + SPLITS - 1u) / SPLITS;
  const uint tile_begin = min(kv_tiles.x + split * per_split, kv_tiles.y);
  const uint tile_end = min(tile_begin + per_split, kv_tiles.y);

  int doc_i = 0;
  if (DOCUMENTS != 0u) {
    doc_range_reset(DOC_RANGE_BLOCK);
    barrier();
    if (row_live) {
      doc_i = query_doc(b, start_q, i);
      doc_range_add(DOC_RANGE_BLOCK, doc_i);
    }
    barrier();
  }

  // Per-row score_mod terms.
  const float slope_log2 = alibi_slope_log2(b, h);
  const uint table_row = rel_table_row(h);
  const uint bias_row = bias_row_index(b, h, i);

  vec4 q[DK4];
  vec4 o[DV4];
  float s[KEYS_PER_LANE];
  float m_i = NEG_INF;
  float l_i = 0.0;
  if (SINKS != 0u && row_live && lane == 0u && split == 0u) {
    m_i = LOG2E * sinks[pc.sinks_offset + h];  // the sink's P is 2^(sink - m_i), no value row
    l_i = 1.0;
  }

  const uint q_base = pc.q_offset + b * pc.q_stride_b + h * pc.q_stride_h + (start_q + i) * pc.q_stride_s;
  [[unroll]] for (uint d4 = 0u; d4 < DK4; ++d4) {
    q[d4] = row_live ? LOAD_VEC4(q_words, q_base + 4u * d4) * params.scale_log2 : vec4(0.0);
  }
  [[unroll]] for (uint d4 = 0u; d4 < DV4; ++d4) {
    o[d4] = vec4(0.0);
  }

  // Where key j's row starts: contiguous at k_seq + j * stride_s, or in a paged cache at row
  // j % block_size of pool block block_table[b, j / block_size] (k_seq then holds the head only).
  const uint k_seq = pc.k_offset + kv_h * pc.k_stride_h +
                     (PAGED_SHIFT != 0u ? 0u : b * pc.k_stride_b + start_k * pc.k_stride_s);
  const uint v_seq = pc.v_offset + kv_h * pc.v_stride_h +
                     (PAGED_SHIFT != 0u ? 0u : b * pc.v_stride_b + start_k * pc.v_stride_s);
  const uint pages_row = pc.pages_offset + b * pc.pages_stride_b;

  [[dont_unroll]] for (uint t = tile_begin; t < tile_end; ++t) {
    const uint kv0 = t * BLOCK_K;
    barrier();  // the previous tile is no longer read
    if (DOCUMENTS != 0u) {
      // Stage the tile's document ids; skip the tile if their range misses the Q tile's.
      doc_range_reset(DOC_RANGE_TILE);
      barrier();
      if (r < BLOCK_K) {
        const uint j = kv0 + r;
        const int doc_j = j < len_k ? key_doc(b, start_k, j) : INT_MIN;
        doc_k_tile[r] = doc_j;
        if (j < len_k) doc_range_add(DOC_RANGE_TILE, doc_j);
      }
      barrier();
      if (doc_ranges_disjoint()) continue;  // uniform
    }
    // Stage K_j and V_j for j in [kv0, kv0 + BLOCK_K) (zeros past len_k).
    [[dont_unroll]] for (uint n = 0u; n < LOADS_PER_INVOCATION; ++n) {
      const uint e = n * BLOCK_Q + r;  // vec4 index within the tile
      if (e < K_TILE_VEC4S) {
        const uint j = kv0 + e / DK4;
        K_TILE(e) = j < len_k ? LOAD_VEC4(k_words, key_row(k_seq, pages_row, j, pc.k_stride_b, pc.k_stride_s) +
                                                       4u * (e % DK4))
                              : vec4(0.0);
      }
      if (e < V_TILE_VEC4S) {
        const uint j = kv0 + e / DV4;
        V_TILE(e) = j < len_k ? LOAD_VEC4(v_words, key_row(v_seq, pages_row, j, pc.v_stride_b, pc.v_stride_s) +
                                                       4u * (e % DV4))
                              : vec4(0.0);
      }
    }
    barrier();

    if (row_live) {
      // S_ij = score_mod(scale_log2 * q_i . k_j) where visible, for this lane's keys
      // jj = u * ROW_LANES + lane of the tile, and their max.
      float m_new = m_i;
      [[dont_unroll]] for (uint u0 = 0u; u0 < KEYS_PER_LANE; u0 += KEY_STEP) {
        [[unroll]] for (uint u = 0u; u < KEY_STEP; ++u) {
          const uint jj = (u0 + u) * ROW_LANES + lane;
          const int j = int(kv0 + jj);
          vec4 acc = vec4(0.0);
          [[unroll]] for (uint d4 = 0u; d4 < DK4; ++d4) {
            acc = fma(q[d4], K_TILE(jj * DK4 + d4), acc);
          }
          float score = NEG_INF;
          if (mask_allows(diag, j, int(len_k), win_left, win_right) &&
              (DOCUMENTS == 0u || doc_k_tile[jj] == doc_i)) {
            float unused_dsoftcap;
            score = modified_score((acc.x + acc.y) + (acc.z + acc.w), j - diag, slope_log2, table_row,
                                   bias_row + uint(j), unused_dsoftcap);
          }
          s[u0 + u] = score;
          m_new = max(m_new, score);
        }
      }
      // A row with no finite score so far keeps m_i = -inf and skips the update (no NaN).
      if (m_new != NEG_INF) {
        const float alpha = exp2(m_i - m_new);  // m_i = -inf gives alpha = 0
        l_i *= alpha;
        [[unroll]] for (uint d4 = 0u; d4 < DV4; ++d4) {
          o[d4] *= alpha;
        }
        // One generator call per group of the row's keys: one per (j / 2) % 4 (attn_dropout.glsl).
        DropoutWords z[4] = DropoutWords[4](no_dropout_words(), no_dropout_words(), no_dropout_words(), no_dropout_words());
        [[dont_unroll]] for (uint u0 = 0u; u0 < KEYS_PER_LANE; u0 += KEY_STEP) {
          [[unroll]] for (uint u = 0u; u < KEY_STEP; ++u) {
            const uint jj = (u0 + u) * ROW_LANES + lane;
            const float p = exp2(s[u0 + u] - m_new);  // P_ij; masked keys give 0
            l_i += p;
            // Dropout: O sums P_ij Z_ij / (1 - p) v_j; l (and LSE) stay undropped.
            const float pv = DROPOUT != 0u && p != 0.0 ? p * dropout_factor_kept(z[((kv0 + jj) >> 1u) & 3u], b, h, i, kv0 + jj) : p;
            [[unroll]] for (uint d4 = 0u; d4 < DV4; ++d4) {
              o[d4] = fma(vec4(pv), V_TILE(jj * DV4 + d4), o[d4]);
            }
          }
        }
        m_i = m_new;
      }
    }
  }

  if (ROW_LANES > 1u) {
    // Merge the lanes of each row: M = max over lanes of m; each lane rescales (l, O) by
    // 2^(m - M); then lanes [k, 2k) add theirs into lanes [0, k), k = ROW_LANES / 2 ... 1.
    barrier();  // the last tile is no longer read: tile_mem becomes the merge scratch
    lane_ml[r] = vec2(m_i, l_i);
    barrier();
    float m_row = NEG_INF;
    [[dont_unroll]] for (uint c = 0u; c < ROW_LANES; ++c) {
      m_row = max(m_row, lane_ml[c * ROWS + row].x);
    }
    const float rescale = m_i == NEG_INF ? 0.0 : exp2(m_i - m_row);
    l_i *= rescale;
    [[unroll]] for (uint d4 = 0u; d4 < DV4; ++d4) {
      o[d4] *= rescale;
    }
    m_i = m_row;
    [[dont_unroll]] for (uint k = ROW_LANES / 2u; k > 0u; k /= 2u) {
      barrier();  // the previous round's scratch has been read
      if (lane >= k && lane < 2u * k) {
        const uint slot = ((lane - k) * ROWS + row) * DV4;
        [[unroll]] for (uint d4 = 0u; d4 < DV4; ++d4) {
          tile_mem[slot + d4] = o[d4];
        }
        lane_ml[r].y = l_i;
      }
      barrier();
      if (lane < k) {
        const uint slot = (lane * ROWS + row) * DV4;
        [[unroll]] for (uint d4 = 0u; d4 < DV4; ++d4) {
          o[d4] += tile_mem[slot + d4];
        }
        l_i += lane_ml[(lane + k) * ROWS + row].y;
      }
    }
  }

  if (!row_written || lane != 0u) return;
  // O_i = O_i / l_i (0 for a row that saw nothing), LSE_i = ln 2 * (m_i + log2 l_i).
  const float inv_l = l_i > 0.0 ? 1.0 / l_i : 0.0;
  const float lse = l_i > 0.0 ? LN2 * (m_i + log2(l_i)) : NEG_INF;
  if (SPLITS > 1u) {
    // Partial O and LSE of this split, in the workspace row of (b, h, token start_q + i).
    const uint work_row = b * params.work_stride_b + h * params.work_stride_h + start_q + i;
    const uint o_at = split * params.split_stride_o + work_row * HEAD_DIM_V;
    [[unroll]] for (uint d4 = 0u; d4 < DV4; ++d4) {
      const vec4 v = o[d4] * inv_l;
      work[o_at + 4u * d4] = v.x;
      work[o_at + 4u * d4 + 1u] = v.y;
      work[o_at + 4u * d4 + 2u] = v.z;
      work[o_at + 4u * d4 + 3u] = v.w;
    }
    work[SPLITS * params.split_stride_o + split * params.split_stride_lse + work_row] = lse;
    return;
  }
  const uint o_base = pc.o_offset + b * pc.o_stride_b + h * pc.o_stride_h + (start_q + i) * pc.o_stride_s;
  [[unroll]] for (uint d4 = 0u; d4 < DV4; ++d4) {
    STORE_VEC4(o_words, o_base + 4u * d4, o[d4] * inv_l);
  }
  if (WRITE_LSE != 0u) {
    const uint lse_idx = pc.lse_offset + b * pc.lse_stride_b + h * pc.lse_stride_h + (start_q + i) * pc.lse_stride_s;
    lse_values[lse_idx] = lse;
  }
}
