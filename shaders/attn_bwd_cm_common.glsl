// attn_bwd_cm_common.glsl — what attn_bwd_dq_cm.comp and attn_bwd_dkdv_cm.comp share: fragment
// types, the accumulator layout, fp16 staging and the fragment store. Include after
// attn_bwd_bindings.glsl; the kernel enables GL_NV_cooperative_matrix and the subgroup extensions.
//
// A workgroup is BLOCK_ROWS rows (queries for dq, keys for dkdv) split into WARPS 32-lane
// subgroups of 16 rows each; the other side is staged BLOCK_COLS rows at a time as fp16 in
// shared memory, one uvec2 (4 halves) per word, rows padded by 2 uvec2 against bank conflicts.
#ifndef VKATTN_ATTN_BWD_CM_COMMON_GLSL
#define VKATTN_ATTN_BWD_CM_COMMON_GLSL

#include "attn_cm_layout.glsl"

#define A_MAT fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>    // fp16 operand
#define ACC_MAT fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>  // fp32 accumulator

const uint LANES = 32u;
const uint WARPS = BLOCK_ROWS / 16u;
const uint ELEMS = ACC_ELEMS;
const uint DK16 = HEAD_DIM / 16u;
const uint DV16 = HEAD_DIM_V / 16u;
const uint BC16 = BLOCK_COLS / 16u;
const uint KROW = HEAD_DIM / 4u + 2u;    // uvec2 per staged row of Dk halves
const uint VROW = HEAD_DIM_V / 4u + 2u;  // uvec2 per staged row of Dv halves
const uint OROW = 20u;                   // floats per row of a subgroup's output scratch
const int INT_MAX = 0x7fffffff;
const int INT_MIN = -INT_MAX - 1;

shared float out_sh[WARPS * 16u * OROW];

// No score_mod: the score is scale * q.k, and only the mask can change it.
const bool PLAIN_SCORES = SOFTCAP == 0u && ALIBI == 0u && REL_POS == 0u && BIAS == 0u;

// The streamed tile: BLOCK_COLS rows of Dk halves (tile_qk_sh; dq: K, dkdv: Q) and of Dv halves
// (tile_vdo_sh; dq: V, dkdv: dO) as fp16, one uvec2 (4 halves) per word, rows padded. Before the
// loop they also stage the workgroup's own rows, BLOCK_COLS at a time.
shared uvec2 tile_qk_sh[BLOCK_COLS * KROW];
shared uvec2 tile_vdo_sh[BLOCK_COLS * VROW];

// Q, K, V and dO again, as 16-byte chunks (8 halves), for rows on 16-byte boundaries.
layout(set = 0, binding = 0) readonly buffer QChunks { uvec4 q_chunks[]; };
layout(set = 0, binding = 1) readonly buffer KChunks { uvec4 k_chunks[]; };
layout(set = 0, binding = 2) readonly buffer VChunks { uvec4 v_chunks[]; };
layout(set = 0, binding = 3) readonly buffer DoChunks { uvec4 do_chunks[]; };

const uint SRC_Q = 0u;
const uint SRC_K = 1u;
const uint SRC_V = 2u;
const uint SRC_DO = 3u;

// Rows of one input tensor: `seq` is the first element of row 0 (sequence start and head),
// `stride` the elements between rows. `even`: every row starts on a 32-bit word; `wide`: on a
// 16-byte boundary of the binding (then a chunk is one 16-byte load; the binding starts at a
// multiple of minStorageBufferOffsetAlignment, 16 on NVIDIA, and the values are right for any).
struct RowSource {
  uint which;  // SRC_*
  uint seq;
  uint stride;
  bool even;
  bool wide;
};

RowSource row_source(uint which, uint seq, uint stride) {
  return RowSource(which, seq, stride, ((seq | stride) & 1u) == 0u, ((seq | stride) & 7u) == 0u);
}

uvec2 pack4_f16(vec4 x) { return uvec2(packHalf2x16(x.xy), packHalf2x16(x.zw)); }

// fp16 elements [idx, idx + 4) of an fp16 word array as a uvec2: two whole words when the row
// start is even (`even`), element by element otherwise.
#define LOAD4_F16(words, even, idx) \
  ((even) ? uvec2(words[(idx) >> 1u], words[((idx) >> 1u) + 1u]) : pack4_f16(LOAD_VEC4(words, idx)))

uvec2 load4(RowSource src, uint idx) {
  if (src.which == SRC_Q) return LOAD4_F16(q_words, src.even, idx);
  if (src.which == SRC_K) return LOAD4_F16(k_words, src.even, idx);
  if (src.which == SRC_V) return LOAD4_F16(v_words, src.even, idx);
  return LOAD4_F16(do_words, src.even, idx);
}

// Halves [8c, 8c + 8) of row `row` of `src`.
uvec4 load_chunk(RowSource src, uint row, uint c) {
  const uint base = src.seq + row * src.stride;
  if (src.wide) {
    const uint w = (base >> 3u) + c;
    if (src.which == SRC_Q) return q_chunks[w];
    if (src.which == SRC_K) return k_chunks[w];
    if (src.which == SRC_V) return v_chunks[w];
    return do_chunks[w];
  }
  return uvec4(load4(src, base + 8u * c), load4(src, base + 8u * c + 4u));
}

// Chunk e of a tile is row e / *_CH, halves 8 (e % *_CH) ..; invocation tid takes chunks tid,
// tid + WORKGROUP_SIZE, ... into registers (fetch_tile), then into shared memory (stage_tile), so
// the next tile's loads can be in flight while this one computes.
const uint DK_CH = HEAD_DIM / 8u;
const uint DV_CH = HEAD_DIM_V / 8u;
const uint DK_PER_INV = (BLOCK_COLS * DK_CH + WORKGROUP_SIZE - 1u) / WORKGROUP_SIZE;
const uint DV_PER_INV = (BLOCK_COLS * DV_CH + WORKGROUP_SIZE - 1u) / WORKGROUP_SIZE;
uvec4 tile_qk_reg[DK_PER_INV];
uvec4 tile_vdo_reg[DV_PER_INV];

// Rows [r0, r0 + BLOCK_COLS) of `a` (Dk halves each) and `b` (Dv halves) into registers; rows
// past `len` are zeros.
void fetch_tile(RowSource a, RowSource b, uint r0, uint len) {
  const uint tid = gl_LocalInvocationID.x;
  [[unroll]] for (uint n = 0u; n < DK_PER_INV; ++n) {
    const uint e = tid + n * WORKGROUP_SIZE;
    const uint r = r0 + e / DK_CH;
    tile_qk_reg[n] = e < BLOCK_COLS * DK_CH && r < len ? load_chunk(a, r, e % DK_CH) : uvec4(0u);
  }
  [[unroll]] for (uint n = 0u; n < DV_PER_INV; ++n) {
    const uint e = tid + n * WORKGROUP_SIZE;
    const uint r = r0 + e / DV_CH;
    tile_vdo_reg[n] = e < BLOCK_COLS * DV_CH && r < len ? load_chunk(b, r, e % DV_CH) : uvec4(0u);
  }
}

// The fetched tile into tile_qk_sh / tile_vdo_sh (the caller's barriers fence it).
void stage_tile() {
  const uint tid = gl_LocalInvocationID.x;
  [[unroll]] for (uint n = 0u; n < DK_PER_INV; ++n) {
    const uint e = tid + n * WORKGROUP_SIZE;
    if (e < BLOCK_COLS * DK_CH) {
      const uint at = (e / DK_CH) * KROW + 2u * (e % DK_CH);
      tile_qk_sh[at] = tile_qk_reg[n].xy;
      tile_qk_sh[at + 1u] = tile_qk_reg[n].zw;
    }
  }
  [[unroll]] for (uint n = 0u; n < DV_PER_INV; ++n) {
    const uint e = tid + n * WORKGROUP_SIZE;
    if (e < BLOCK_COLS * DV_CH) {
      const uint at = (e / DV_CH) * VROW + 2u * (e % DV_CH);
      tile_vdo_sh[at] = tile_vdo_reg[n].xy;
      tile_vdo_sh[at + 1u] = tile_vdo_reg[n].zw;
    }
  }
}

// This subgroup's 16 of the workgroup's BLOCK_ROWS rows, which start at row r_first of `a` and
// `b`, as fp16 fragments (Dk / 16 of `a`, Dv / 16 of `b`), staged BLOCK_COLS rows at a time.
// Call from uniform control flow (workgroup barriers).
void load_own_rows(RowSource a, RowSource b, uint r_first, uint len, out A_MAT a_frag[DK16], out A_MAT b_frag[DV16]) {
  const uint w = gl_SubgroupID;
  for (uint r0 = 0u; r0 < BLOCK_ROWS; r0 += BLOCK_COLS) {
    barrier();
    fetch_tile(a, b, r_first + r0, len);
    stage_tile();
    barrier();
    if (16u * w >= r0 && 16u * w < r0 + BLOCK_COLS) {
      [[unroll]] for (uint d = 0u; d < DK16; ++d) {
        coopMatLoadNV(a_frag[d], tile_qk_sh, (16u * w - r0) * KROW + 4u * d, KROW, false);
      }
      [[unroll]] for (uint d = 0u; d < DV16; ++d) {
        coopMatLoadNV(b_frag[d], tile_vdo_sh, (16u * w - r0) * VROW + 4u * d, VROW, false);
      }
    }
  }
}

// Stores f (this subgroup's 16 rows, 16 columns) at element `base` of row 0 of out0_words
// (`which` 0) or out1_words (1), rows `stride` apart; rows >= `rows_valid` are not written.
// Goes through the subgroup's out_sh rows: lane l writes 8 columns of row l / 2.
void store_acc(ACC_MAT f, uint which, uint base, uint stride, uint rows_valid) {
  const uint lane = gl_SubgroupInvocationID;
  const uint o_base = gl_SubgroupID * 16u * OROW;
  coopMatStoreNV(f, out_sh, o_base, OROW, false);
  subgroupMemoryBarrierShared();
  subgroupBarrier();
  const uint row = lane >> 1u;
  const uint c0 = 8u * (lane & 1u);
  if (row < rows_valid) {
    const uint src = o_base + row * OROW + c0;
    const vec4 lo = vec4(out_sh[src], out_sh[src + 1u], out_sh[src + 2u], out_sh[src + 3u]);
    const vec4 hi = vec4(out_sh[src + 4u], out_sh[src + 5u], out_sh[src + 6u], out_sh[src + 7u]);
    const uint dst = base + row * stride + c0;
    if (which == 0u) {
      STORE_VEC4(out0_words, dst, lo);
      STORE_VEC4(out0_words, dst + 4u, hi);
    } else {
      STORE_VEC4(out1_words, dst, lo);
      STORE_VEC4(out1_words, dst + 4u, hi);
    }
  }
  subgroupBarrier();
}

#endif
