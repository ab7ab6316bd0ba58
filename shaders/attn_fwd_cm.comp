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
// One workgroup = BLOCK_Q query rows of one (b, h); subgroup w (of BLOCK_Q / 16, 32 lanes each)
// owns rows 16w .. 16w + 15. Per K/V tile of BLOCK_K keys, staged in shared memory as fp16
// (fetched into registers one tile ahead):
//   S_w   = Q_w K^T               16 x BLOCK_K, fp32 accumulators (coopMatMulAddNV over Dk / 16)
//   s = score_mod(scale_log2 * S), masked keys -inf; m_new = max(m, rowmax s);
//   P = 2^(s - m_new); alpha = 2^(m - m_new); l = alpha l + rowsum P
//   O_w   = diag(alpha) O_w + P_w V   (P as fp16; coopMatMulAddNV over BLOCK_K / 16)
// O_w stays in registers as Dv / 16 accumulator fragments. Which (row, column) element e of a
// fragment holds is the driver's business, so the kernel learns it once: it loads fragments whose
// element (r, c) holds r (row_of) and c (col_of).
//   - Quad layout (NVIDIA's: lane l holds rows l/4 and l/4 + 8 only): the softmax runs on the S
//     fragments in registers; row max and sum are reduced over the 4 lanes of a quad by shuffles;
//     P converts to fp16 in registers.
//   - Any other layout: S goes through shared memory, where lanes 2r and 2r + 1 own row r (half
//     the keys each), and P comes back as fp16 fragments; O rows scale by alpha[row_of[e]].
//     (This was the only path of the version that passed the whole suite on the H100; since the
//     quad path exists, NVIDIA never takes it, and no other driver with the extension was at hand.)
//
// The host picks this kernel only for fp16 storage with Dk, Dv multiples of 16, subgroups of 32
// and a shared-memory budget that fits (fwd_variant.cpp); anything else runs attn_fwd.comp and
// the variant name says _scalar.

#include "attn_fwd_bindings.glsl"

// K and V again, as 16-byte chunks (8 halves), for rows that start on a 16-byte boundary.
layout(set = 0, binding = 1) readonly buffer KChunks { uvec4 k_chunks[]; };
layout(set = 0, binding = 2) readonly buffer VChunks { uvec4 v_chunks[]; };

layout(local_size_x_id = 17) in;

const uint LANES = 32u;
const uint WARPS = BLOCK_Q / 16u;
const uint KROW = HEAD_DIM / 4u + 2u;     // uvec2 (4 halves) per staged K row, padded
const uint VROW = HEAD_DIM_V / 4u + 2u;   // uvec2 per staged V row, padded
const uint SROW = BLOCK_K + 4u;           // floats per row of a subgroup's S tile
const uint PROW = BLOCK_K / 4u + 2u;      // uvec2 per row of a subgroup's P tile
const uint DK16 = HEAD_DIM / 16u;
const uint DV16 = HEAD_DIM_V / 16u;
const uint BK16 = BLOCK_K / 16u;
const uint KEYS_PER_LANE = BLOCK_K / 2u;  // keys of one row one lane handles
const uint ELEMS = 8u;                    // accumulator elements per lane: 16 x 16 / 32 lanes
// No score_mod: the score is scale * q.k, and only the mask can change it.
const bool PLAIN_SCORES = SOFTCAP == 0u && ALIBI == 0u && REL_POS == 0u && BIAS == 0u;
// K/V staging: 16-byte chunks (8 halves) per invocation per tile, fetched into registers one tile
// ahead. Chunk e of a tile is row e / K_CH, halves 8 (e % K_CH) ..; invocation tid takes chunks
// tid, tid + WORKGROUP_SIZE, ...
const uint K_CH = HEAD_DIM / 8u;
const uint V_CH = HEAD_DIM_V / 8u;
const uint K_PER_INV = (BLOCK_K * K_CH + WORKGROUP_SIZE - 1u) / WORKGROUP_SIZE;
const uint V_PER_INV = (BLOCK_K * V_CH + WORKGROUP_SIZE - 1u) / WORKGROUP_SIZE;

#define A_MAT fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>
#define ACC_MAT fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>

shared uvec2 k_sh[BLOCK_K * KROW];  // also stages Q, BLOCK_K rows at a time, before the loop
shared uvec2 v_sh[BLOCK_K * VROW];
shared float s_sh[WARPS * 16u * SROW];
shared uvec2 p_sh[WARPS * 16u * PROW];
shared float row_sh[WARPS * 16u];  // per row: alpha during the loop, 1 / l at the end
shared int doc_k_tile[BLOCK_K];
shared int doc_range[4];

// Elements [e, e + 4) of a fp16 row starting at element `base` of `words`, packed in a uvec2.
// `even` (base even): two whole words; otherwise element by element.
uvec2 load4_f16(bool even, uint base, uint e, uint which) {
  if (even) {
    const uint w = (base + e) >> 1u;
    if (which == 0u) return uvec2(q_words[w], q_words[w + 1u]);
    if (which == 1u) return uvec2(k_words[w], k_words[w + 1u]);
    return uvec2(v_words[w], v_words[w + 1u]);
  }
  vec4 x;
  if (which == 0u) x = LOAD_VEC4(q_words, base + e);
  else if (which == 1u) x = LOAD_VEC4(k_words, base + e);
  else x = LOAD_VEC4(v_words, base + e);
  return uvec2(packHalf2x16(x.xy), packHalf2x16(x.zw));
}

uvec4 k_reg[K_PER_INV];
uvec4 v_reg[V_PER_INV];

// Where a K or V row lives: `seq` its first element (sequence start, head), `stride` between rows;
// `wide` when every row starts on a 16-byte boundary of the binding (then each chunk is one
// 16-byte load from `*_chunks`; otherwise two load4_f16).
struct RowSource {
  uint seq;
  uint stride;
  bool even;
  bool wide;
};

RowSource row_source(uint seq, uint stride) {
  return RowSource(seq, stride, ((seq | stride) & 1u) == 0u, ((seq | stride) & 7u) == 0u);
}

// Chunk `c` (halves 8c .. 8c + 7) of row j of K (which 1) or V (which 2).
uvec4 load_chunk(RowSource src, uint j, uint c, uint which) {
  const uint base = src.seq + j * src.stride;
  if (src.wide) {
    const uint w = (base >> 3u) + c;
    return which == 1u ? k_chunks[w] : v_chunks[w];
  }
  return uvec4(load4_f16(src.even, base, 8u * c, which), load4_f16(src.even, base, 8u * c + 4u, which));
}

// Global -> registers: K_j, V_j for j in [kv0, kv0 + BLOCK_K) as fp16 (zeros past len_k). The
// loads stay in flight while the current tile computes; stage_kv() waits for them.
void fetch_kv(uint kv0, uint len_k, RowSource ks, RowSource vs) {
  const uint tid = gl_LocalInvocationID.x;
  [[unroll]] for (uint n = 0u; n < K_PER_INV; ++n) {
    const uint e = tid + n * WORKGROUP_SIZE;
    const uint j = kv0 + e / K_CH;
    k_reg[n] = e < BLOCK_K * K_CH && j < len_k ? load_chunk(ks, j, e % K_CH, 1u) : uvec4(0u);
  }
  [[unroll]] for (uint n = 0u; n < V_PER_INV; ++n) {
    const uint e = tid + n * WORKGROUP_SIZE;
    const uint j = kv0 + e / V_CH;
    v_reg[n] = e < BLOCK_K * V_CH && j < len_k ? load_chunk(vs, j, e % V_CH, 2u) : uvec4(0u);
  }
}

// Registers -> shared memory (padded rows; a chunk is two uvec2 words).
void stage_kv() {
  const uint tid = gl_LocalInvocationID.x;
  [[unroll]] for (uint n = 0u; n < K_PER_INV; ++n) {
    const uint e = tid + n * WORKGROUP_SIZE;
    if (e < BLOCK_K * K_CH) {
      const uint at = (e / K_CH) * KROW + 2u * (e % K_CH);
      k_sh[at] = k_reg[n].xy;
      k_sh[at + 1u] = k_reg[n].zw;
    }
  }
  [[unroll]] for (uint n = 0u; n < V_PER_INV; ++n) {
    const uint e = tid + n * WORKGROUP_SIZE;
    if (e < BLOCK_K * V_CH) {
      const uint at = (e / V_CH) * VROW + 2u * (e % V_CH);
      v_sh[at] = v_reg[n].xy;
      v_sh[at + 1u] = v_reg[n].zw;
    }
  }
}

void main() {
  const uint warp = gl_SubgroupID;
  const uint lane = gl_SubgroupInvocationID;
  const uint tid = gl_LocalInvocationID.x;
  const uint tile = gl_WorkGroupID.x;
  const uint b = gl_WorkGroupID.y / params.q_heads;
  const uint h = gl_WorkGroupID.y % params.q_heads;
  const uint kv_h = h / (params.q_heads / params.kv_heads);

  uint start_q = 0u, len_q = params.seq_q, start_k = 0u, len_k = params.seq_k;
  if (SEQ_MODE != 0u) {
    const uvec4 seq = params.seqs[b];
    start_q = seq.x;
    len_q = seq.y;
    start_k = seq.z;
    len_k = seq.w;
  }
  const uint i0 = tile * BLOCK_Q;
  if (SEQ_MODE == SEQ_VARLEN && i0 >= len_q) return;  // uniform
  // This lane's row of the softmax phase, and the half of the keys it takes.
  const uint row = lane >> 1u;
  const uint half_k = lane & 1u;
  const uint i = i0 + 16u * warp + row;
  const bool row_live = i < len_q;
  const int shift = ALIGN_BR != 0u ? int(len_k) - int(len_q) : 0;
  const int diag = int(i) + shift;
  const int win_left = params.window_left;
  const int win_right = params.window_right;

  ivec2 kv_range = ivec2(0, 0);
  if (i0 < len_q) {
    const int last_row = int(min(i0 + BLOCK_Q, len_q)) - 1;
    kv_range = mask_key_range(int(i0) + shift, last_row + shift, int(len_k), win_left, win_right);
  }
  const uint tile_begin = uint(kv_range.x) / BLOCK_K;
  const uint tile_end = (uint(kv_range.y) + BLOCK_K - 1u) / BLOCK_K;

  int doc_i = 0;
  if (DOCUMENTS != 0u) {
    if (tid == 0u) {
      doc_range[0] = INT_MAX;
      doc_range[1] = INT_MIN;
    }
    barrier();
    if (row_live) {
      doc_i = docs_q[pc.docs_q_offset + b * params.docs_q_stride_b + start_q + i];
      atomicMin(doc_range[0], doc_i);
      atomicMax(doc_range[1], doc_i);
    }
    barrier();
  }

  float slope_log2 = 0.0;
  if (ALIBI != 0u) slope_log2 = LOG2E * slopes[pc.slopes_offset + (ALIBI == 2u ? b * params.q_heads : 0u) + h];
  const uint table_row = pc.table_offset + h * params.rel_buckets;
  const uint bias_row = pc.bias_offset + b * pc.bias_stride_b + h * pc.bias_stride_h + i * pc.bias_stride_q;

  float m_i = NEG_INF;
  float l_i = 0.0;
  if (SINKS != 0u && row_live) {
    m_i = LOG2E * sinks[pc.sinks_offset + h];
    l_i = 1.0;
  }

  // row_of: element e of an accumulator fragment lies in row row_of[e] (driver-defined layout).
  const uint s_base = warp * 16u * SROW;
  for (uint e = lane; e < 256u; e += LANES) s_sh[s_base + (e >> 4u) * SROW + (e & 15u)] = float(e >> 4u);
  subgroupMemoryBarrierShared();
  subgroupBarrier();
  ACC_MAT row_of;
  coopMatLoadNV(row_of, s_sh, s_base, SROW, false);
  subgroupBarrier();
  for (uint e = lane; e < 256u; e += LANES) s_sh[s_base + (e >> 4u) * SROW + (e & 15u)] = float(e & 15u);
  subgroupMemoryBarrierShared();
  subgroupBarrier();
  ACC_MAT col_of;  // element e lies in column col_of[e]
  coopMatLoadNV(col_of, s_sh, s_base, SROW, false);

  // Register softmax ("quad" layout, NVIDIA's mma layout): when every lane's elements lie in rows
  // g = lane / 4 and g + 8 only, the four lanes of a quad share those two rows, so the softmax
  // runs on the S fragments in registers with quad shuffles for the row max and sum. Otherwise
  // the portable path below goes through shared memory. Slot s of a lane is row g + 8 s.
  bool quad_ok = row_of.length() == int(ELEMS);
  bool slot_hi[ELEMS];  // slot 1 (row g + 8); selects, not indexing, keep the per-slot state in registers
  [[unroll]] for (uint e = 0u; e < ELEMS; ++e) {
    const uint r = e < uint(row_of.length()) ? uint(row_of[e]) : 0u;
    quad_ok = quad_ok && (r == (lane >> 2u) || r == (lane >> 2u) + 8u);
    slot_hi[e] = r >= 8u;
  }
  const bool quad = subgroupAll(quad_ok);
  uint qi[2];
  bool q_live[2];
  int q_diag[2];
  uint q_bias_row[2];
  int q_doc[2];
  float q_m[2];
  float q_l[2];
  [[unroll]] for (uint s = 0u; s < 2u; ++s) {
    qi[s] = i0 + 16u * warp + (lane >> 2u) + 8u * s;
    q_live[s] = qi[s] < len_q;
    q_diag[s] = int(qi[s]) + shift;
    q_bias_row[s] = pc.bias_offset + b * pc.bias_stride_b + h * pc.bias_stride_h + qi[s] * pc.bias_stride_q;
    q_doc[s] = DOCUMENTS != 0u && q_live[s] ? docs_q[pc.docs_q_offset + b * params.docs_q_stride_b + start_q + qi[s]] : 0;
    q_m[s] = SINKS != 0u && q_live[s] ? LOG2E * sinks[pc.sinks_offset + h] : NEG_INF;
    q_l[s] = SINKS != 0u && q_live[s] ? 1.0 : 0.0;
  }

  // Q_w as Dk / 16 fragments, staged through k_sh BLOCK_K rows at a time (zeros past len_q).
  const uint q_seq = pc.q_offset + b * pc.q_stride_b + h * pc.q_stride_h + start_q * pc.q_stride_s;
  const bool q_even = ((q_seq | pc.q_stride_s) & 1u) == 0u;
  A_MAT q_frag[DK16];
  for (uint r0 = 0u; r0 < BLOCK_Q; r0 += BLOCK_K) {
    barrier();
    for (uint e = tid; e < BLOCK_K * (HEAD_DIM / 4u); e += WORKGROUP_SIZE) {
      const uint r = e / (HEAD_DIM / 4u);
      const uint c = e % (HEAD_DIM / 4u);
      const uint qi = i0 + r0 + r;
      k_sh[r * KROW + c] = qi < len_q ? load4_f16(q_even, q_seq + qi * pc.q_stride_s, 4u * c, 0u) : uvec2(0u);
    }
    barrier();
    if (16u * warp >= r0 && 16u * warp < r0 + BLOCK_K) {
      [[unroll]] for (uint d = 0u; d < DK16; ++d) {
        coopMatLoadNV(q_frag[d], k_sh, (16u * warp - r0) * KROW + 4u * d, KROW, false);
      }
    }
  }

  ACC_MAT o_frag[DV16];
  [[unroll]] for (uint d = 0u; d < DV16; ++d) o_frag[d] = ACC_MAT(0.0);

  const uint k_seq = pc.k_offset + b * pc.k_stride_b + kv_h * pc.k_stride_h + start_k * pc.k_stride_s;
  const uint v_seq = pc.v_offset + b * pc.v_stride_b + kv_h * pc.v_stride_h + start_k * pc.v_stride_s;
  const RowSource ks = row_source(k_seq, pc.k_stride_s);
  const RowSource vs = row_source(v_seq, pc.v_stride_s);
  const uint p_base = warp * 16u * PROW;

  // Without document ids every tile in [tile_begin, tile_end) is visited, so the next one is
  // fetched while this one computes; with them a tile may be skipped, so each is fetched in turn.
  const bool prefetch = DOCUMENTS == 0u;
  if (prefetch && tile_begin < tile_end) fetch_kv(tile_begin * BLOCK_K, len_k, ks, vs);
  [[dont_unroll]] for (uint t = tile_begin; t < tile_end; ++t) {
    const uint kv0 = t * BLOCK_K;
    barrier();  // the previous tile is no longer read
    if (DOCUMENTS != 0u) {
      if (tid == 0u) {
        doc_range[2] = INT_MAX;
        doc_range[3] = INT_MIN;
      }
      barrier();
      if (tid < BLOCK_K) {
        const uint j = kv0 + tid;
        const int doc_j = j < len_k ? docs_k[pc.docs_k_offset + b * params.docs_k_stride_b + start_k + j] : INT_MIN;
        doc_k_tile[tid] = doc_j;
        if (j < len_k) {
          atomicMin(doc_range[2], doc_j);
          atomicMax(doc_range[3], doc_j);
        }
      }
      barrier();
      if (doc_range[3] < doc_range[0] || doc_range[2] > doc_range[1]) continue;  // uniform
    }
    if (!prefetch) fetch_kv(kv0, len_k, ks, vs);
    stage_kv();
    barrier();
    if (prefetch && t + 1u < tile_end) fetch_kv(kv0 + BLOCK_K, len_k, ks, vs);

    // S_w = Q_w K^T, one 16 x 16 block of keys at a time.
    ACC_MAT s_frag[BK16];
    [[unroll]] for (uint n = 0u; n < BK16; ++n) {
      s_frag[n] = ACC_MAT(0.0);
      [[unroll]] for (uint d = 0u; d < DK16; ++d) {
        A_MAT k_frag;  // K^T block (dims 16d.., keys 16n..): K rows read column-major
        coopMatLoadNV(k_frag, k_sh, (16u * n) * KROW + 4u * d, KROW, true);
        s_frag[n] = coopMatMulAddNV(q_frag[d], k_frag, s_frag[n]);
      }
    }

    // Whether the mask can hide an element of this subgroup's 16 x BLOCK_K block: keys past
    // len_k, rows past len_q, keys past the first row's causal diagonal, windows, documents.
    bool edge = kv0 + BLOCK_K > len_k || i0 + 16u * warp + 16u > len_q || WINDOW != 0u || DOCUMENTS != 0u;
    if (CAUSAL != 0u) edge = edge || int(kv0 + BLOCK_K) - 1 > int(i0 + 16u * warp) + shift;
    if (quad) {
      // Softmax in registers: element e of s_frag[n] is (row g + 8 slot_hi[e], key 16n + col_of[e]).
      // Per-element work is kept to scale, max, exp2 and sum: the mask runs only on tiles some
      // element of which it can hide (`edge`), and the two rows' max and sum are first taken per
      // element position e (across the tile's fragments), then split by row with selects.
      if (edge || !PLAIN_SCORES) {
        [[unroll]] for (uint n = 0u; n < BK16; ++n) {
          [[unroll]] for (uint e = 0u; e < ELEMS; ++e) {
            const bool hi = slot_hi[e];
            const uint jj = 16u * n + uint(col_of[e]);
            const int j = int(kv0 + jj);
            const int dg = hi ? q_diag[1] : q_diag[0];
            float score = NEG_INF;
            if ((hi ? q_live[1] : q_live[0]) && mask_allows(dg, j, int(len_k), win_left, win_right) &&
                (DOCUMENTS == 0u || doc_k_tile[jj] == (hi ? q_doc[1] : q_doc[0]))) {
              float unused_dsoftcap;
              score = modified_score(params.scale_log2 * s_frag[n][e], j - dg, slope_log2, table_row,
                                     (hi ? q_bias_row[1] : q_bias_row[0]) + uint(j), unused_dsoftcap);
            }
            s_frag[n][e] = score;
          }
        }
      } else {
        [[unroll]] for (uint n = 0u; n < BK16; ++n) {
          [[unroll]] for (uint e = 0u; e < ELEMS; ++e) s_frag[n][e] *= params.scale_log2;
        }
      }
      float at_e[ELEMS];  // per element position: the max, later the sum, over the tile's fragments
      [[unroll]] for (uint e = 0u; e < ELEMS; ++e) {
        at_e[e] = s_frag[0][e];
        [[unroll]] for (uint n = 1u; n < BK16; ++n) at_e[e] = max(at_e[e], s_frag[n][e]);
      }
      float m_tile[2] = {NEG_INF, NEG_INF};
      [[unroll]] for (uint e = 0u; e < ELEMS; ++e) {
        m_tile[0] = slot_hi[e] ? m_tile[0] : max(m_tile[0], at_e[e]);
        m_tile[1] = slot_hi[e] ? max(m_tile[1], at_e[e]) : m_tile[1];
      }
      float alpha_q[2];
      float m_sub[2];  // subtracted before exp2: the new max, or 0 for a row with none (its P is 0)
      [[unroll]] for (uint sl = 0u; sl < 2u; ++sl) {
        m_tile[sl] = max(m_tile[sl], subgroupShuffleXor(m_tile[sl], 1u));
        m_tile[sl] = max(m_tile[sl], subgroupShuffleXor(m_tile[sl], 2u));
        const float m_new = max(q_m[sl], m_tile[sl]);
        // A row with no finite score so far keeps m = -inf: P = 0, alpha = 1.
        alpha_q[sl] = m_new != NEG_INF ? exp2(q_m[sl] - m_new) : 1.0;
        m_sub[sl] = m_new != NEG_INF ? m_new : 0.0;
        q_m[sl] = m_new;
      }
      [[unroll]] for (uint e = 0u; e < ELEMS; ++e) {
        const float m = slot_hi[e] ? m_sub[1] : m_sub[0];
        at_e[e] = 0.0;
        [[unroll]] for (uint n = 0u; n < BK16; ++n) {
          const float p = exp2(s_frag[n][e] - m);
          s_frag[n][e] = p;
          at_e[e] += p;
        }
      }
      float sum_q[2] = {0.0, 0.0};
      [[unroll]] for (uint e = 0u; e < ELEMS; ++e) {
        sum_q[0] += slot_hi[e] ? 0.0 : at_e[e];
        sum_q[1] += slot_hi[e] ? at_e[e] : 0.0;
      }
      [[unroll]] for (uint sl = 0u; sl < 2u; ++sl) {
        sum_q[sl] += subgroupShuffleXor(sum_q[sl], 1u);
        sum_q[sl] += subgroupShuffleXor(sum_q[sl], 2u);
        q_l[sl] = alpha_q[sl] * q_l[sl] + sum_q[sl];
      }
      if (!subgroupAll(alpha_q[0] == 1.0 && alpha_q[1] == 1.0)) {
        [[unroll]] for (uint d = 0u; d < DV16; ++d) {
          [[unroll]] for (uint e = 0u; e < ELEMS; ++e) o_frag[d][e] *= slot_hi[e] ? alpha_q[1] : alpha_q[0];
        }
      }
      // O_w += P_w V, with P converted to fp16 in registers.
      [[unroll]] for (uint kk = 0u; kk < BK16; ++kk) {
        const A_MAT p_frag = A_MAT(s_frag[kk]);
        [[unroll]] for (uint d = 0u; d < DV16; ++d) {
          A_MAT v_frag;
          coopMatLoadNV(v_frag, v_sh, (16u * kk) * VROW + 4u * d, VROW, false);
          o_frag[d] = coopMatMulAddNV(p_frag, v_frag, o_frag[d]);
        }
      }
      continue;
    }

    // Portable path: S through this subgroup's s_sh rows.
    [[unroll]] for (uint n = 0u; n < BK16; ++n) coopMatStoreNV(s_frag[n], s_sh, s_base + 16u * n, SROW, false);
    subgroupMemoryBarrierShared();
    subgroupBarrier();

    // Softmax on this lane's half row: mask, score_mod, running max and sum; P as fp16.
    float s_loc[KEYS_PER_LANE];
    float m_tile = NEG_INF;
    [[unroll]] for (uint u = 0u; u < KEYS_PER_LANE; ++u) {
      const uint jj = half_k * KEYS_PER_LANE + u;
      const int j = int(kv0 + jj);
      float score = NEG_INF;
      if (row_live && mask_allows(diag, j, int(len_k), win_left, win_right) &&
          (DOCUMENTS == 0u || doc_k_tile[jj] == doc_i)) {
        float unused_dsoftcap;
        score = modified_score(params.scale_log2 * s_sh[s_base + row * SROW + jj], j - diag, slope_log2, table_row,
                               bias_row + uint(j), unused_dsoftcap);
      }
      s_loc[u] = score;
      m_tile = max(m_tile, score);
    }
    const float m_new = max(m_i, max(m_tile, subgroupShuffleXor(m_tile, 1u)));
    // A row with no finite score so far keeps m = -inf: P = 0 and alpha = 1 (O and l stay 0).
    const bool any = m_new != NEG_INF;
    float sum = 0.0;
    [[unroll]] for (uint u = 0u; u < KEYS_PER_LANE; u += 4u) {
      vec4 p4;
      [[unroll]] for (uint x = 0u; x < 4u; ++x) {
        const float p = any ? exp2(s_loc[u + x] - m_new) : 0.0;
        p4[x] = p;
        sum += p;
      }
      p_sh[p_base + row * PROW + (half_k * KEYS_PER_LANE + u) / 4u] = uvec2(packHalf2x16(p4.xy), packHalf2x16(p4.zw));
    }
    sum += subgroupShuffleXor(sum, 1u);
    const float alpha = any ? exp2(m_i - m_new) : 1.0;
    l_i = alpha * l_i + sum;
    m_i = m_new;
    if (half_k == 0u) row_sh[warp * 16u + row] = alpha;
    subgroupMemoryBarrierShared();
    subgroupBarrier();

    // O_w = diag(alpha) O_w + P_w V; the rescale is skipped when no row's max moved.
    if (!subgroupAll(alpha == 1.0)) {
      float alpha_e[ELEMS];
      [[unroll]] for (uint e = 0u; e < ELEMS; ++e) {
        alpha_e[e] = e < row_of.length() ? row_sh[warp * 16u + uint(row_of[e])] : 1.0;
      }
      [[unroll]] for (uint d = 0u; d < DV16; ++d) {
        for (uint e = 0u; e < o_frag[d].length(); ++e) {
          o_frag[d][e] *= e < ELEMS ? alpha_e[e] : row_sh[warp * 16u + uint(row_of[e])];
        }
      }
    }
    [[unroll]] for (uint kk = 0u; kk < BK16; ++kk) {
      A_MAT p_frag;
      coopMatLoadNV(p_frag, p_sh, p_base + 4u * kk, PROW, false);
      [[unroll]] for (uint d = 0u; d < DV16; ++d) {
        A_MAT v_frag;
        coopMatLoadNV(v_frag, v_sh, (16u * kk) * VROW + 4u * d, VROW, false);
        o_frag[d] = coopMatMulAddNV(p_frag, v_frag, o_frag[d]);
      }
    }
  }

  // O = O / l (0 for a row that saw nothing), stored through s_sh 16 columns at a time.
  if (quad) {
    const float inv_l[2] = {q_l[0] > 0.0 ? 1.0 / q_l[0] : 0.0, q_l[1] > 0.0 ? 1.0 / q_l[1] : 0.0};
    [[unroll]] for (uint d = 0u; d < DV16; ++d) {
      [[unroll]] for (uint e = 0u; e < ELEMS; ++e) o_frag[d][e] *= slot_hi[e] ? inv_l[1] : inv_l[0];
    }
  } else {
    subgroupBarrier();
    if (half_k == 0u) row_sh[warp * 16u + row] = l_i > 0.0 ? 1.0 / l_i : 0.0;
    subgroupMemoryBarrierShared();
    subgroupBarrier();
    [[unroll]] for (uint d = 0u; d < DV16; ++d) {
      for (uint e = 0u; e < o_frag[d].length(); ++e) o_frag[d][e] *= row_sh[warp * 16u + uint(row_of[e])];
    }
  }
  subgroupBarrier();
  const uint o_rows = SEQ_MODE == SEQ_VARLEN ? len_q : params.seq_q;
  const uint o_base = pc.o_offset + b * pc.o_stride_b + h * pc.o_stride_h + (start_q + i) * pc.o_stride_s;
  [[unroll]] for (uint d = 0u; d < DV16; ++d) {
    coopMatStoreNV(o_frag[d], s_sh, s_base, SROW, false);
    subgroupMemoryBarrierShared();
    subgroupBarrier();
    if (i < o_rows) {
      const uint c0 = 8u * half_k;  // this lane's 8 columns of the block
      const uint src = s_base + row * SROW + c0;
      STORE_VEC4(o_words, o_base + 16u * d + c0,
                 vec4(s_sh[src], s_sh[src + 1u], s_sh[src + 2u], s_sh[src + 3u]));
      STORE_VEC4(o_words, o_base + 16u * d + c0 + 4u,
                 vec4(s_sh[src + 4u], s_sh[src + 5u], s_sh[src + 6u], s_sh[src + 7u]));
    }
    subgroupBarrier();
  }
  if (WRITE_LSE != 0u && quad && (lane & 3u) == 0u) {
    [[unroll]] for (uint sl = 0u; sl < 2u; ++sl) {
      if (qi[sl] < o_rows) {
        const uint idx = pc.lse_offset + b * pc.lse_stride_b + h * pc.lse_stride_h + (start_q + qi[sl]) * pc.lse_stride_s;
        lse_values[idx] = q_l[sl] > 0.0 ? LN2 * (q_m[sl] + log2(q_l[sl])) : NEG_INF;
      }
    }
  }
  if (WRITE_LSE != 0u && !quad && i < o_rows && half_k == 0u) {
    const uint lse_idx = pc.lse_offset + b * pc.lse_stride_b + h * pc.lse_stride_h + (start_q + i) * pc.lse_stride_s;
    lse_values[lse_idx] = l_i > 0.0 ? LN2 * (m_i + log2(l_i)) : NEG_INF;
  }
}
