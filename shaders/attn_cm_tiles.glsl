// attn_cm_tiles.glsl — fp16 tiles of the coopmat kernels (attn_fwd_cm.comp, attn_bwd_dq_cm.comp,
// attn_bwd_dkdv_cm.comp): fragment types, rows streamed global -> registers -> shared memory, and
// accumulator fragments written out through a small scratch.
//
// Include after the kernel's bindings (q_words, k_words, v_words at bindings 0-2, and do_words at
// binding 3 when CM_TILES_DO is defined) and, before this file, declare:
//   const uint STAGE_ROWS;    rows per streamed tile (the forward's BLOCK_K, the backward's BLOCK_COLS)
//   const uint HELD_DK_ROWS;  rows of Dk halves the kernel keeps in tile_dk_sh past the tile (the
//                             forward's Q when Q_SHARED; 0 otherwise). They share the array on
//                             purpose: with Q in a shared array of its own, sized by spec
//                             constants, every coopmat forward on the H100 (driver 580) came out
//                             shifted by 4 halves. That equals the array's size at the default
//                             constants, so the driver may place arrays by those; a guess, not
//                             confirmed (bench/RESULTS_H100.md, sixth session).
//   void write_out8(uint which, uint dst, vec4 lo, vec4 hi);   elements dst .. dst + 7 of output `which`
// and may define CM_ALL_ROWS_WIDE (a constant expression, e.g. of a spec constant): true when the
// host knows every row starts on 16 bytes, so the 4- and 2-byte load paths fold away.
// The kernel enables its cooperative-matrix extension (attn_cm_ops.glsl), the subgroup extensions
// and explicit fp16 types.
//
// A streamed tile is STAGE_ROWS rows of Dk halves (tile_dk_sh: K in the forward and dq, Q in dkdv)
// and of Dv halves (tile_dv_sh: V, or dO in dkdv), one uvec2 (4 halves) per word, rows padded by 2
// uvec2 against bank conflicts.
#ifndef VKATTN_ATTN_CM_TILES_GLSL
#define VKATTN_ATTN_CM_TILES_GLSL

#include "attn_cm_layout.glsl"
#include "attn_cm_ops.glsl"  // A_MAT, B_MAT, ACC_MAT and their loads, products and conversion


const uint ELEMS = ACC_ELEMS;
const uint SUBGROUPS = WORKGROUP_SIZE / 32u;
// Head dims are multiples of 8; the fragments are 16 wide, so a head dim of 8 mod 16 (24, 40,
// 72, ...) is padded to the next multiple of 16 in shared memory and in registers: the padding
// columns hold zeros (fetch_tile, the kernels' Q loads), which add nothing to Q K^T, dO V^T,
// P V, dS K or dS^T Q, and the padding columns of every product are never stored (store_acc's
// cols_valid).
const uint HEAD_DIM_P = (HEAD_DIM + 15u) / 16u * 16u;      // Dk padded to the fragment width
const uint HEAD_DIM_V_P = (HEAD_DIM_V + 15u) / 16u * 16u;  // Dv padded
const uint DK16 = HEAD_DIM_P / 16u;
const uint DV16 = HEAD_DIM_V_P / 16u;
const uint KROW = HEAD_DIM_P / 4u + 2u;    // uvec2 per staged row of Dk halves (padded)
const uint VROW = HEAD_DIM_V_P / 4u + 2u;  // uvec2 per staged row of Dv halves (padded)
const uint OROW = 20u;                   // floats per row of a subgroup's 16 x 16 output scratch

shared uvec2 tile_dk_sh[(STAGE_ROWS + HELD_DK_ROWS) * KROW];
shared uvec2 tile_dv_sh[STAGE_ROWS * VROW];
shared float out_sh[SUBGROUPS * 16u * OROW];

// The inputs again, as 16-byte chunks (8 halves), for rows on 16-byte boundaries.
layout(set = 0, binding = BINDING_Q) readonly buffer QChunks { uvec4 q_chunks[]; };
layout(set = 0, binding = BINDING_K) readonly buffer KChunks { uvec4 k_chunks[]; };
layout(set = 0, binding = BINDING_V) readonly buffer VChunks { uvec4 v_chunks[]; };
#ifdef CM_TILES_DO
layout(set = 0, binding = BINDING_Do) readonly buffer DoChunks { uvec4 do_chunks[]; };
#endif

const uint SRC_Q = 0u;
const uint SRC_K = 1u;
const uint SRC_V = 2u;
const uint SRC_DO = 3u;  // with CM_TILES_DO

// Rows of one input tensor: `seq` is the first element of row 0 (sequence start and head),
// `stride` the elements between rows. `even`: every row starts on a 32-bit word; `wide`: on a
// 16-byte boundary of the binding (then a chunk is one 16-byte load; the binding starts at a
// multiple of minStorageBufferOffsetAlignment, 16 on NVIDIA, and the values are right for any).
//
// Paged K/V (the forward defines CM_TILES_PAGED; PAGED_SHIFT = log2 block size): row j is row
// j % block_size of pool block block_table[pages_row + j / block_size], `seq` then holds the head's
// offset only and blocks are `stride_block` elements apart.
struct RowSource {
  uint which;  // SRC_*
  uint seq;
  uint stride;
  bool even;
  bool wide;
  bool paged;
  uint pages_row;
  uint stride_block;
};

#ifndef CM_ALL_ROWS_WIDE
#define CM_ALL_ROWS_WIDE false
#endif

RowSource row_source(uint which, uint seq, uint stride) {
  return RowSource(which, seq, stride, CM_ALL_ROWS_WIDE || ((seq | stride) & 1u) == 0u,
                   CM_ALL_ROWS_WIDE || ((seq | stride) & 7u) == 0u, false, 0u, 0u);
}

#ifdef CM_TILES_PAGED
RowSource paged_row_source(uint which, uint head, uint stride, uint stride_block, uint pages_row) {
  const uint bits = head | stride | stride_block;
  return RowSource(which, head, stride, CM_ALL_ROWS_WIDE || (bits & 1u) == 0u, CM_ALL_ROWS_WIDE || (bits & 7u) == 0u,
                   true, pages_row, stride_block);
}
#endif

// The first element of row `row` of `src`.
uint row_start(RowSource src, uint row) {
#ifdef CM_TILES_PAGED
  if (PAGED_SHIFT != 0u && src.paged) {
    const uint block = uint(block_table[src.pages_row + (row >> PAGED_SHIFT)]);
    return src.seq + block * src.stride_block + (row & ((1u << PAGED_SHIFT) - 1u)) * src.stride;
  }
#endif
  return src.seq + row * src.stride;
}

// Four values as fp16 (saturating at +-65504: only bf16 inputs reach it).
uvec2 pack4_f16(vec4 x) {
  x = clamp(x, vec4(-65504.0), vec4(65504.0));
  return uvec2(packHalf2x16(x.xy), packHalf2x16(x.zw));
}

// bf16 storage (DTYPE_BF16) runs on fp16 operands: each word of two bf16 becomes two fp16 as it is
// loaded. Exact for |x| in [2^-14, 65504] (bf16's 8 significant bits fit fp16's 11); smaller
// values land on fp16's subnormals (absolute error <= 2^-24), larger ones saturate at +-65504.
// The variant name says _f16ops (planning/feature_spec.cpp).
uint bf16x2_as_f16x2(uint w) {
  const vec2 v = vec2(uintBitsToFloat(w << 16u), uintBitsToFloat(w & 0xffff0000u));
  return packHalf2x16(clamp(v, vec2(-65504.0), vec2(65504.0)));
}
uvec2 as_f16(uvec2 w) { return DTYPE == DTYPE_BF16 ? uvec2(bf16x2_as_f16x2(w.x), bf16x2_as_f16x2(w.y)) : w; }
uvec4 as_f16(uvec4 w) { return DTYPE == DTYPE_BF16 ? uvec4(as_f16(w.xy), as_f16(w.zw)) : w; }

// Elements [idx, idx + 4) of an fp16 or bf16 word array as four fp16 in a uvec2: two whole words
// when the row start is even (`even`), element by element otherwise (LOAD_VEC4 widens either
// dtype exactly; pack4_f16 then rounds as bf16x2_as_f16x2 does, saturation aside).
#define LOAD4_F16(words, even, idx) \
  ((even) ? as_f16(uvec2(words[(idx) >> 1u], words[((idx) >> 1u) + 1u])) : pack4_f16(LOAD_VEC4(words, idx)))

uvec2 load4(RowSource src, uint idx) {
  if (src.which == SRC_Q) return LOAD4_F16(q_words, src.even, idx);
  if (src.which == SRC_K) return LOAD4_F16(k_words, src.even, idx);
#ifdef CM_TILES_DO
  if (src.which == SRC_DO) return LOAD4_F16(do_words, src.even, idx);
#endif
  return LOAD4_F16(v_words, src.even, idx);
}

// Halves [8c, 8c + 8) of row `row` of `src`.
uvec4 load_chunk(RowSource src, uint row, uint c) {
  const uint base = row_start(src, row);
  if (src.wide) {
    const uint w = (base >> 3u) + c;
    if (src.which == SRC_Q) return as_f16(q_chunks[w]);
    if (src.which == SRC_K) return as_f16(k_chunks[w]);
#ifdef CM_TILES_DO
    if (src.which == SRC_DO) return as_f16(do_chunks[w]);
#endif
    return as_f16(v_chunks[w]);
  }
  return uvec4(load4(src, base + 8u * c), load4(src, base + 8u * c + 4u));
}

// Chunk e of a tile is row e / *_CH, halves 8 (e % *_CH) ..; invocation tid takes chunks tid,
// tid + WORKGROUP_SIZE, ... into registers (fetch_tile), then into shared memory (stage_tile), so
// the next tile's loads can be in flight while this one computes. Chunks past the head dim are
// the padding's zeros.
const uint DK_CH = HEAD_DIM_P / 8u;
const uint DV_CH = HEAD_DIM_V_P / 8u;
const uint DK_PER_INV = (STAGE_ROWS * DK_CH + WORKGROUP_SIZE - 1u) / WORKGROUP_SIZE;
const uint DV_PER_INV = (STAGE_ROWS * DV_CH + WORKGROUP_SIZE - 1u) / WORKGROUP_SIZE;
uvec4 tile_dk_reg[DK_PER_INV];
uvec4 tile_dv_reg[DV_PER_INV];

// Rows [r0, r0 + STAGE_ROWS) of `src` (CH chunks of 8 halves each, DIM halves of data) into
// `regs`, PER_INV chunks per invocation; rows past `len` and chunks past DIM are zeros. A macro,
// as STAGE_CHUNKS below: the two register arrays differ in length.
#define FETCH_CHUNKS(regs, PER_INV, CH, DIM, src)                                                  \
  [[unroll]] for (uint n = 0u; n < PER_INV; ++n) {                                                \
    const uint e = tid + n * WORKGROUP_SIZE;                                                       \
    const uint r = r0 + e / CH;                                                                    \
    const uint c = e % CH;                                                                         \
    regs[n] = e < STAGE_ROWS * CH && r < len && 8u * c < DIM ? load_chunk(src, r, c) : uvec4(0u); \
  }

// Rows [r0, r0 + STAGE_ROWS) of `a` (Dk halves each) into tile_dk_reg, of `b` (Dv) into tile_dv_reg.
void fetch_dk_rows(RowSource a, uint r0, uint len) {
  const uint tid = gl_LocalInvocationID.x;
  FETCH_CHUNKS(tile_dk_reg, DK_PER_INV, DK_CH, HEAD_DIM, a)
}
void fetch_dv_rows(RowSource b, uint r0, uint len) {
  const uint tid = gl_LocalInvocationID.x;
  FETCH_CHUNKS(tile_dv_reg, DV_PER_INV, DV_CH, HEAD_DIM_V, b)
}

// Both: rows [r0, r0 + STAGE_ROWS) of `a` and `b` into registers.
void fetch_tile(RowSource a, RowSource b, uint r0, uint len) {
  fetch_dk_rows(a, r0, len);
  fetch_dv_rows(b, r0, len);
}

// Chunks of `regs` (PER_INV per invocation `tid`, CH per row) into `sh`, rows ROW uvec2 apart.
// A macro: GLSL cannot pass a shared array to a function.
#define STAGE_CHUNKS(sh, regs, PER_INV, CH, ROW)                       \
  [[unroll]] for (uint n = 0u; n < PER_INV; ++n) {                     \
    const uint e = tid + n * WORKGROUP_SIZE;                           \
    if (e < STAGE_ROWS * CH) {                                         \
      const uint at = (e / CH) * ROW + 2u * (e % CH);                  \
      sh[at] = regs[n].xy;                                             \
      sh[at + 1u] = regs[n].zw;                                        \
    }                                                                  \
  }

// The fetched rows into tile_dk_sh and tile_dv_sh, one or both (the caller's barriers fence them).
void stage_dk_rows() {
  const uint tid = gl_LocalInvocationID.x;
  STAGE_CHUNKS(tile_dk_sh, tile_dk_reg, DK_PER_INV, DK_CH, KROW)
}
void stage_dv_rows() {
  const uint tid = gl_LocalInvocationID.x;
  STAGE_CHUNKS(tile_dv_sh, tile_dv_reg, DV_PER_INV, DV_CH, VROW)
}
void stage_tile() {
  stage_dk_rows();
  stage_dv_rows();
}

// Stores f (16 rows of 16 columns) at element `base` of row 0 of output `which` (write_out8),
// rows `stride` apart; rows >= `rows_valid` and columns >= `cols_valid` (8 or >= 16: a padded
// head dim's last fragment) are not written. Goes through the subgroup's out_sh rows: lane l
// writes 8 columns of row l / 2.
void store_acc(ACC_MAT f, uint which, uint base, uint stride, uint rows_valid, uint cols_valid) {
  const uint lane = gl_SubgroupInvocationID;
  const uint o_base = gl_SubgroupID * 16u * OROW;
  store_acc_rows(f, out_sh, o_base, OROW);
  subgroupMemoryBarrierShared();
  subgroupBarrier();
  const uint row = lane >> 1u;
  const uint c0 = 8u * (lane & 1u);
  if (row < rows_valid && c0 < cols_valid) {
    const uint src = o_base + row * OROW + c0;
    const vec4 lo = vec4(out_sh[src], out_sh[src + 1u], out_sh[src + 2u], out_sh[src + 3u]);
    const vec4 hi = vec4(out_sh[src + 4u], out_sh[src + 5u], out_sh[src + 6u], out_sh[src + 7u]);
    write_out8(which, base + row * stride + c0, lo, hi);
  }
  subgroupBarrier();
}

#endif
