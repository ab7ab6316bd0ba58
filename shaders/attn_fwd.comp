#version 450
#extension GL_GOOGLE_include_directive : require

// attn_fwd.comp — FlashAttention-2 forward, portable scalar path (fp32 FMA, no subgroup ops).
//
// One workgroup = BLOCK_Q query rows of one (batch b, head h); invocation r owns query row
// i = tile * BLOCK_Q + r and keeps q_i, the output accumulator O_i and the online-softmax state
// (m_i running max, l_i running sum) in registers. K/V tiles of BLOCK_K keys pass through shared
// memory. Per tile, with scores in log2 units (scale_log2 = scale * log2 e):
//   S_ij  = scale_log2 * q_i . k_j            (-inf where the mask hides key j)
//   m_new = max(m_i, max_j S_ij)
//   P_ij  = 2^(S_ij - m_new)
//   alpha = 2^(m_i - m_new)                   (one rescale per tile)
//   l_i   = alpha * l_i + sum_j P_ij
//   O_i   = alpha * O_i + sum_j P_ij v_j
// At the end O_i /= l_i and LSE_i = ln 2 * (m_i + log2 l_i). A row that saw no key keeps
// m_i = -inf, l_i = 0 and writes O_i = 0, LSE_i = -inf. Memory is O(S): no S x S buffer.

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

shared float k_tile[BLOCK_K * HEAD_DIM];
shared float v_tile[BLOCK_K * HEAD_DIM];

// Offset (keys past the diagonal) of the causal boundary: key j is visible to query i iff
// j <= i + causal_shift().
int causal_shift() {
  return CAUSAL == 2u ? int(pc.seq_k) - int(pc.seq_q) : 0;
}

bool key_visible(uint i, uint j) {
  return CAUSAL == 0u || int(j) <= int(i) + causal_shift();
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

  float q[HEAD_DIM];
  float o[HEAD_DIM];
  float s[BLOCK_K];
  float m_i = NEG_INF;
  float l_i = 0.0;

  const uint q_base = pc.q_offset + b * pc.q_stride_b + h * pc.q_stride_h + i * pc.q_stride_s;
  for (uint d = 0u; d < HEAD_DIM; ++d) {
    q[d] = row_valid ? LOAD_ELEM(q_words, q_base + d) * pc.scale_log2 : 0.0;
    o[d] = 0.0;
  }

  const uint k_head = pc.k_offset + b * pc.k_stride_b + kv_h * pc.k_stride_h;
  const uint v_head = pc.v_offset + b * pc.v_stride_b + kv_h * pc.v_stride_h;

  for (uint kv0 = 0u; int(kv0) < kv_end; kv0 += BLOCK_K) {
    // Stage K_j and V_j for j in [kv0, kv0 + BLOCK_K) (zeros past Sk).
    barrier();
    for (uint e = r; e < BLOCK_K * HEAD_DIM; e += BLOCK_Q) {
      const uint jj = e / HEAD_DIM;
      const uint d = e % HEAD_DIM;
      const uint j = kv0 + jj;
      const bool in_range = j < pc.seq_k;
      k_tile[e] = in_range ? LOAD_ELEM(k_words, k_head + j * pc.k_stride_s + d) : 0.0;
      v_tile[e] = in_range ? LOAD_ELEM(v_words, v_head + j * pc.v_stride_s + d) : 0.0;
    }
    barrier();

    if (row_valid) {
      // S_ij = scale_log2 * q_i . k_j, then the tile's row max.
      float m_new = m_i;
      for (uint jj = 0u; jj < BLOCK_K; ++jj) {
        const uint j = kv0 + jj;
        float acc = 0.0;
        for (uint d = 0u; d < HEAD_DIM; ++d) {
          acc = fma(q[d], k_tile[jj * HEAD_DIM + d], acc);
        }
        s[jj] = (j < pc.seq_k && key_visible(i, j)) ? acc : NEG_INF;
        m_new = max(m_new, s[jj]);
      }
      // A row with no visible key so far keeps m_i = -inf and skips the update (no NaN).
      if (m_new != NEG_INF) {
        const float alpha = exp2(m_i - m_new);  // m_i = -inf gives alpha = 0
        l_i *= alpha;
        for (uint d = 0u; d < HEAD_DIM; ++d) {
          o[d] *= alpha;
        }
        for (uint jj = 0u; jj < BLOCK_K; ++jj) {
          const float p = exp2(s[jj] - m_new);  // P_ij; masked keys give 0
          l_i += p;
          for (uint d = 0u; d < HEAD_DIM; ++d) {
            o[d] = fma(p, v_tile[jj * HEAD_DIM + d], o[d]);
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
  if (DTYPE == DTYPE_F16) {
    // o_base is even (checked on the host), so each word holds two elements of this row only.
    for (uint d = 0u; d < HEAD_DIM; d += 2u) {
      o_words[(o_base + d) >> 1u] = packHalf2x16(vec2(o[d] * inv_l, o[d + 1u] * inv_l));
    }
  } else {
    for (uint d = 0u; d < HEAD_DIM; ++d) {
      o_words[o_base + d] = floatBitsToUint(o[d] * inv_l);
    }
  }
  if (WRITE_LSE != 0u) {
    const uint lse_idx = pc.lse_offset + b * pc.lse_stride_b + h * pc.lse_stride_h + i * pc.lse_stride_s;
    lse_values[lse_idx] = l_i > 0.0 ? LN2 * (m_i + log2(l_i)) : NEG_INF;
  }
}
