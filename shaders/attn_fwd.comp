#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

// attn_fwd.comp — FlashAttention-2 forward, portable scalar path (fp32 FMA, no subgroup ops).
//
// One workgroup = BLOCK_Q query rows of one (batch b, head h); invocation r owns query row
// i = tile * BLOCK_Q + r and keeps q_i, the output accumulator O_i and the online-softmax state
// (m_i running max, l_i running sum) in registers, as vec4s over the head dim. K/V tiles of
// BLOCK_K keys pass through shared memory. Per tile, with scores in log2 units
// (scale_log2 = scale * log2 e):
//   S_ij  = scale_log2 * q_i . k_j            (-inf where the mask hides key j)
//   m_new = max(m_i, max_j S_ij)
//   P_ij  = 2^(S_ij - m_new)
//   alpha = 2^(m_i - m_new)                   (one rescale per tile)
//   l_i   = alpha * l_i + sum_j P_ij
//   O_i   = alpha * O_i + sum_j P_ij v_j
// At the end O_i /= l_i and LSE_i = ln 2 * (m_i + log2 l_i). A row that saw no key keeps
// m_i = -inf, l_i = 0 and writes O_i = 0, LSE_i = -inf. Memory is O(S): no S x S buffer.
//
// Loop shape: llvmpipe (lavapipe) ends any shader after 65535 loop iterations per invocation,
// counted over all loops together. So loops over the head dim (fixed by specialization) are
// unrolled and keys go KEY_STEP at a time: per K/V tile that leaves
// 1 + LOADS_PER_INVOCATION + 2 * BLOCK_K / KEY_STEP iterations. The host refuses rows longer
// than that budget allows on llvmpipe (fwd_variant.cpp, fwd_loop_iterations), and unrolling
// more would cost seconds of LLVM compile time per variant there.

#include "storage.glsl"

#define VKATTN_SPEC(id, NAME, field, def) layout(constant_id = id) const uint NAME = def;
#include "attn_fwd_spec.inc"
#undef VKATTN_SPEC

layout(local_size_x_id = 0) in;

layout(push_constant) uniform FwdPush {
#define VKATTN_PC(T, name) T name;
#include "attn_fwd_push.inc"
#undef VKATTN_PC
} pc;

layout(set = 0, binding = 0) readonly buffer QBuf { uint q_words[]; };
layout(set = 0, binding = 1) readonly buffer KBuf { uint k_words[]; };
layout(set = 0, binding = 2) readonly buffer VBuf { uint v_words[]; };
layout(set = 0, binding = 3) writeonly buffer OBuf { uint o_words[]; };
layout(set = 0, binding = 4) writeonly buffer LseBuf { float lse_values[]; };

const float NEG_INF = -1.0 / 0.0;
const float LN2 = 0.69314718055994530942;
const uint D4 = HEAD_DIM / 4u;  // vec4s per row
const uint TILE_VEC4S = BLOCK_K * D4;  // vec4s in one K (or V) tile
// Staging steps per tile: invocation r stages vec4s r, r + BLOCK_Q, ...
const uint LOADS_PER_INVOCATION = (TILE_VEC4S + BLOCK_Q - 1u) / BLOCK_Q;

shared vec4 k_tile[TILE_VEC4S];
shared vec4 v_tile[TILE_VEC4S];

#define LOAD_VEC4(words, idx) \
  vec4(LOAD_ELEM(words, (idx)), LOAD_ELEM(words, (idx) + 1u), LOAD_ELEM(words, (idx) + 2u), LOAD_ELEM(words, (idx) + 3u))

// Key j is visible to query i iff j <= i + causal_shift() (when causal).
int causal_shift() {
  return CAUSAL == 2u ? int(pc.seq_k) - int(pc.seq_q) : 0;
}

bool key_visible(uint i, uint j) {
  return j < pc.seq_k && (CAUSAL == 0u || int(j) <= int(i) + causal_shift());
}

void main() {
  const uint r = gl_LocalInvocationID.x;
  const uint tile = gl_WorkGroupID.x;
  const uint b = gl_WorkGroupID.y / pc.q_heads;
  const uint h = gl_WorkGroupID.y % pc.q_heads;
  const uint kv_h = h / (pc.q_heads / pc.kv_heads);  // GQA: a group of query heads shares one KV head
  const uint i = tile * BLOCK_Q + r;
  const bool row_valid = i < pc.seq_q;

  // Keys [0, kv_end) can be visible to some row of this tile; later K/V tiles are never loaded.
  int kv_end = int(pc.seq_k);
  if (CAUSAL != 0u) {
    const int last_row = int(min((tile + 1u) * BLOCK_Q, pc.seq_q)) - 1;
    kv_end = clamp(last_row + causal_shift() + 1, 0, int(pc.seq_k));
  }
  const uint num_tiles = (uint(kv_end) + BLOCK_K - 1u) / BLOCK_K;

  vec4 q[D4];
  vec4 o[D4];
  float s[BLOCK_K];
  float m_i = NEG_INF;
  float l_i = 0.0;

  const uint q_base = pc.q_offset + b * pc.q_stride_b + h * pc.q_stride_h + i * pc.q_stride_s;
  [[unroll]] for (uint d4 = 0u; d4 < D4; ++d4) {
    q[d4] = row_valid ? LOAD_VEC4(q_words, q_base + 4u * d4) * pc.scale_log2 : vec4(0.0);
    o[d4] = vec4(0.0);
  }

  const uint k_head = pc.k_offset + b * pc.k_stride_b + kv_h * pc.k_stride_h;
  const uint v_head = pc.v_offset + b * pc.v_stride_b + kv_h * pc.v_stride_h;

  [[dont_unroll]] for (uint t = 0u; t < num_tiles; ++t) {
    const uint kv0 = t * BLOCK_K;
    // Stage K_j and V_j for j in [kv0, kv0 + BLOCK_K) (zeros past Sk).
    barrier();
    [[dont_unroll]] for (uint n = 0u; n < LOADS_PER_INVOCATION; ++n) {
      const uint e = n * BLOCK_Q + r;  // vec4 index within the tile
      if (e < TILE_VEC4S) {
        const uint j = kv0 + e / D4;
        const uint d = 4u * (e % D4);
        const bool in_range = j < pc.seq_k;
        k_tile[e] = in_range ? LOAD_VEC4(k_words, k_head + j * pc.k_stride_s + d) : vec4(0.0);
        v_tile[e] = in_range ? LOAD_VEC4(v_words, v_head + j * pc.v_stride_s + d) : vec4(0.0);
      }
    }
    barrier();

    if (row_valid) {
      // S_ij = scale_log2 * q_i . k_j, and the tile's row max.
      float m_new = m_i;
      [[dont_unroll]] for (uint j0 = 0u; j0 < BLOCK_K; j0 += KEY_STEP) {
        [[unroll]] for (uint u = 0u; u < KEY_STEP; ++u) {
          const uint jj = j0 + u;
          vec4 acc = vec4(0.0);
          [[unroll]] for (uint d4 = 0u; d4 < D4; ++d4) {
            acc = fma(q[d4], k_tile[jj * D4 + d4], acc);
          }
          const float score = key_visible(i, kv0 + jj) ? (acc.x + acc.y) + (acc.z + acc.w) : NEG_INF;
          s[jj] = score;
          m_new = max(m_new, score);
        }
      }
      // A row with no visible key so far keeps m_i = -inf and skips the update (no NaN).
      if (m_new != NEG_INF) {
        const float alpha = exp2(m_i - m_new);  // m_i = -inf gives alpha = 0
        l_i *= alpha;
        [[unroll]] for (uint d4 = 0u; d4 < D4; ++d4) {
          o[d4] *= alpha;
        }
        [[dont_unroll]] for (uint j0 = 0u; j0 < BLOCK_K; j0 += KEY_STEP) {
          [[unroll]] for (uint u = 0u; u < KEY_STEP; ++u) {
            const uint jj = j0 + u;
            const float p = exp2(s[jj] - m_new);  // P_ij; masked keys give 0
            l_i += p;
            [[unroll]] for (uint d4 = 0u; d4 < D4; ++d4) {
              o[d4] = fma(vec4(p), v_tile[jj * D4 + d4], o[d4]);
            }
          }
        }
        m_i = m_new;
      }
    }
  }

  if (!row_valid) {
    return;
  }
  // O_i = O_i / l_i (0 for a fully masked row).
  const float inv_l = l_i > 0.0 ? 1.0 / l_i : 0.0;
  const uint o_base = pc.o_offset + b * pc.o_stride_b + h * pc.o_stride_h + i * pc.o_stride_s;
  [[unroll]] for (uint d4 = 0u; d4 < D4; ++d4) {
    const vec4 out4 = o[d4] * inv_l;
    const uint idx = o_base + 4u * d4;
    if (DTYPE == DTYPE_F16) {
      // o_base is even (checked on the host): each word holds two elements of this row only.
      o_words[idx >> 1u] = packHalf2x16(out4.xy);
      o_words[(idx >> 1u) + 1u] = packHalf2x16(out4.zw);
    } else {
      o_words[idx] = floatBitsToUint(out4.x);
      o_words[idx + 1u] = floatBitsToUint(out4.y);
      o_words[idx + 2u] = floatBitsToUint(out4.z);
      o_words[idx + 3u] = floatBitsToUint(out4.w);
    }
  }
  if (WRITE_LSE != 0u) {
    const uint lse_idx = pc.lse_offset + b * pc.lse_stride_b + h * pc.lse_stride_h + i * pc.lse_stride_s;
    lse_values[lse_idx] = l_i > 0.0 ? LN2 * (m_i + log2(l_i)) : NEG_INF;
  }
}
