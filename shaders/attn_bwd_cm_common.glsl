// attn_bwd_cm_common.glsl — what attn_bwd_dq_cm.comp and attn_bwd_dkdv_cm.comp share beyond the
// coopmat tiles (attn_cm_tiles.glsl): the outputs and the subgroup's own rows as fragments.
// Include after attn_bwd_bindings.glsl; the kernel enables its cooperative-matrix extension
// (attn_cm_ops.glsl) and the subgroup extensions.
//
// A workgroup is BLOCK_ROWS rows (queries for dq, keys for dkdv) split into BLOCK_ROWS / 16
// 32-lane subgroups of 16 rows each; the other side streams through tile_dk_sh / tile_dv_sh
// BLOCK_COLS rows at a time.
#ifndef VKATTN_ATTN_BWD_CM_COMMON_GLSL
#define VKATTN_ATTN_BWD_CM_COMMON_GLSL

const uint STAGE_ROWS = BLOCK_COLS;
const uint HELD_DK_ROWS = 0u;
const uint BC16 = BLOCK_COLS / 16u;

// Output 0 (dQ or dK) or 1 (dV), elements dst .. dst + 7.
void write_out8(uint which, uint dst, vec4 lo, vec4 hi) {
  if (which == 0u) {
    STORE_VEC4(out0_words, dst, lo);
    STORE_VEC4(out0_words, dst + 4u, hi);
  } else {
    STORE_VEC4(out1_words, dst, lo);
    STORE_VEC4(out1_words, dst + 4u, hi);
  }
}

#define CM_TILES_DO
#define CM_ALL_ROWS_WIDE (WIDE_ROWS != 0u)
#include "attn_cm_tiles.glsl"

// Fragments of the output chunk one workgroup accumulates (attn_bwd_spec.inc's DQ_CHUNK16 and
// DKDV_CHUNK16; gl_WorkGroupID.z picks the chunk).
const uint DQ_OUT16 = DQ_CHUNK16 != 0u ? DQ_CHUNK16 : DK16;
const uint DKDV_OUT16 = DKDV_CHUNK16 != 0u ? DKDV_CHUNK16 : DK16 > DV16 ? DK16 : DV16;

// This subgroup's 16 of the workgroup's BLOCK_ROWS rows, which start at row r_first of `a` and
// `b`, as fp16 fragments (Dk / 16 of `a`, Dv / 16 of `b`), staged through the tile BLOCK_COLS
// rows at a time.
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
        load_a(a_frag[d], tile_dk_sh, (16u * w - r0) * KROW + 4u * d, KROW);
      }
      [[unroll]] for (uint d = 0u; d < DV16; ++d) {
        load_a(b_frag[d], tile_dv_sh, (16u * w - r0) * VROW + 4u * d, VROW);
      }
    }
  }
}

#endif
