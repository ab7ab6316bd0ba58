// attn_bwd_cm_common.glsl — what attn_bwd_dq_cm.comp and attn_bwd_dkdv_cm.comp share: fragment
// types, the accumulator layout, fp16 staging and the fragment store. Include after
// attn_bwd_bindings.glsl; the kernel enables GL_NV_cooperative_matrix and the subgroup extensions.
//
// A workgroup is BLOCK_ROWS rows (queries for dq, keys for dkdv) split into WARPS 32-lane
// subgroups of 16 rows each; the other side is staged BLOCK_COLS rows at a time as fp16 in
// shared memory, one uvec2 (4 halves) per word, rows padded by 2 uvec2 against bank conflicts.
#ifndef VKATTN_ATTN_BWD_CM_COMMON_GLSL
#define VKATTN_ATTN_BWD_CM_COMMON_GLSL

#define A_MAT fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>    // fp16 operand
#define ACC_MAT fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>  // fp32 accumulator

const uint LANES = 32u;
const uint WARPS = BLOCK_ROWS / 16u;
const uint ELEMS = 8u;  // accumulator elements per lane: 16 x 16 over 32 lanes (the host requires 32)
const uint DK16 = HEAD_DIM / 16u;
const uint DV16 = HEAD_DIM_V / 16u;
const uint BC16 = BLOCK_COLS / 16u;
const uint KROW = HEAD_DIM / 4u + 2u;    // uvec2 per staged row of Dk halves
const uint VROW = HEAD_DIM_V / 4u + 2u;  // uvec2 per staged row of Dv halves
const uint OROW = 20u;                   // floats per row of a subgroup's output scratch
const int INT_MAX = 0x7fffffff;
const int INT_MIN = -INT_MAX - 1;

shared float cm_layout_sh[256];
shared float out_sh[WARPS * 16u * OROW];

// Element e of the returned fragment lies at (row, column) = (x / 16, x % 16), x = uint(frag[e]).
// The accumulator layout is the driver's business; loading a matrix whose element (r, c) holds
// 16 r + c reveals it. Call from uniform control flow (it has a workgroup barrier).
// The kernels assume each lane holds ELEMS elements (length() == 8, as 16 x 16 over 32 lanes
// evenly gives); layout_guard() turns a driver that differs into NaN gradients, which the tests
// catch, instead of silently wrong ones.
ACC_MAT learn_acc_layout() {
  for (uint e = gl_LocalInvocationID.x; e < 256u; e += WORKGROUP_SIZE) cm_layout_sh[e] = float(e);
  barrier();
  ACC_MAT rc;
  coopMatLoadNV(rc, cm_layout_sh, 0u, 16u, false);
  return rc;
}

// 1, or NaN when the accumulator does not hold ELEMS elements per lane (see learn_acc_layout).
float layout_guard(ACC_MAT rc) { return rc.length() == int(ELEMS) ? 1.0 : uintBitsToFloat(0x7fc00000u); }

uvec2 pack4_f16(vec4 x) { return uvec2(packHalf2x16(x.xy), packHalf2x16(x.zw)); }

// fp16 elements [idx, idx + 4) of an fp16 word array as a uvec2: two whole words when the row
// start is even (`even`), element by element otherwise.
#define LOAD4_F16(words, even, idx) \
  ((even) ? uvec2(words[(idx) >> 1u], words[((idx) >> 1u) + 1u]) : pack4_f16(LOAD_VEC4(words, idx)))

// Rows [r0, r0 + rows) of a (len x width) fp16 tensor slice starting at element `seq` with row
// stride `stride` go to `dst` (shared uvec2, `row_words` per row); rows past `len` are zero.
#define STAGE_ROWS_F16(dst, row_words, words, even, seq, stride, r0, rows, len, width)   \
  for (uint e_ = gl_LocalInvocationID.x; e_ < (rows) * ((width) / 4u); e_ += WORKGROUP_SIZE) { \
    const uint r_ = e_ / ((width) / 4u);                                                    \
    const uint c_ = e_ % ((width) / 4u);                                                    \
    const uint i_ = (r0) + r_;                                                              \
    dst[r_ * (row_words) + c_] =                                                            \
        i_ < (len) ? LOAD4_F16(words, even, (seq) + i_ * (stride) + 4u * c_) : uvec2(0u);   \
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
