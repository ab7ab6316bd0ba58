#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_cooperative_matrix : require
#extension GL_NV_cooperative_matrix2 : require

// attn_bwd_dq_cm2.comp — dQ of the FlashAttention-2 backward on GL_NV_cooperative_matrix2
// (workgroup-scope matrices, fp16 operands, fp32 accumulation). Same math as attn_bwd_dq.comp:
//   dQ_i = scale * sum_j dU_ij k_j,   dU_ij = P_ij (dP_ij Z_ij / (1 - p) - delta_i) softcap'(u_ij),
//   P_ij = 2^(u_ij - lse2_i),  u_ij = score_mod(scale_log2 q_i . k_j),  dP_ij = dO_i . v_j
// (Z the dropout mask, attn_dropout.glsl; masked pairs and rows that saw nothing have dU = 0).
// One workgroup = BLOCK_ROWS query rows of one (b, h); per key tile of BLOCK_COLS keys:
//   S  = Q K^T,  dP = dO V^T            K and V through transposing tensor views (head dims padded)
//   dU = du_at(S, dP, lse2, delta)      one per-element function (lse2 and delta are per-row
//                                       matrices read once from the workspace)
//   dQ += dU K                          dU converted in registers to an fp16 A operand
// and at the end dQ * scale, stored as fp16 (rows past the sequence and columns past Dk dropped).
// The host runs it (WIDE_ROWS = 1) only for calls whose tensors lie on 16 bytes; other calls run
// the plan's coopmat fallback (backward_plan.cpp).

layout(push_constant) uniform BwdPush {
#define VKATTN_PC(T, name) T name;
#include "attn_bwd_push.inc"
#undef VKATTN_PC
} pc;

#include "attn_bwd_bindings.glsl"
#include "attn_sequence.glsl"
#include "attn_workspace.glsl"
#include "attn_documents.glsl"
#include "attn_bwd_cm2_common.glsl"

layout(local_size_x_id = 36) in;

float lse2_at(const in uint r, const in uint c, const in float x) { return lse2_of(g_i0 + r); }
float delta_at(const in uint r, const in uint c, const in float x) { return delta_of(g_i0 + r); }

// dU of element (r, c): query g_i0 + r, key g_j0 + c, from its S, dP and the row's lse2 and delta;
// `plain` (uniform): every pair of the tile is visible and no score_mod or dropout is set.
float du_at(const in uint r, const in uint c, const in float s, const in float dp, const in float lse2,
            const in float delta, const in bool plain) {
  if (plain) return exp2(params.scale_log2 * s - lse2) * (dp - delta);
  const uint i = g_i0 + r;
  const int j = int(g_j0 + c);
  if (lse2 == NEG_INF || !pair_visible(i, j)) return 0.0;
  float dsoftcap;
  const float u = pair_score(i, j, s, dsoftcap);
  const float z = DROPOUT != 0u ? dropout_factor_at(g_b, g_h, i, uint(j)) : 1.0;
  return exp2(u - lse2) * (dp * z - delta) * dsoftcap;
}

void main() {
  g_b = gl_WorkGroupID.y / params.q_heads;
  g_h = gl_WorkGroupID.y % params.q_heads;
  const uint kv_h = g_h / (params.q_heads / params.kv_heads);
  const uvec4 seq = sequence(g_b);
  g_start_q = seq.x;
  g_len_q = seq.y;
  g_start_k = seq.z;
  g_len_k = seq.w;
  g_i0 = gl_WorkGroupID.x * BLOCK_ROWS;
  g_shift = diag_shift(g_len_q, g_len_k, params.position_shift);
  const uint rows_written = SEQ_MODE == SEQ_VARLEN ? g_len_q : params.seq_q;  // padded rows get dQ = 0
  if (g_i0 >= rows_written) return;  // uniform

  const uint q_base = pc.q_offset + g_b * pc.q_stride_b + g_h * pc.q_stride_h + g_start_q * pc.q_stride_s;
  const uint do_base = pc.do_offset + g_b * pc.do_stride_b + g_h * pc.do_stride_h + g_start_q * pc.do_stride_s;
  const uint k_base = pc.k_offset + g_b * pc.k_stride_b + kv_h * pc.k_stride_h + g_start_k * pc.k_stride_s;
  const uint v_base = pc.v_offset + g_b * pc.v_stride_b + kv_h * pc.v_stride_h + g_start_k * pc.v_stride_s;
  const ROWS_LAYOUT q_rows = rows_layout(g_len_q, HEAD_DIM, pc.q_stride_s);  // padded rows read as 0
  const ROWS_LAYOUT do_rows = rows_layout(g_len_q, HEAD_DIM_V, pc.do_stride_s);
  const ROWS_LAYOUT k_rows = rows_layout(g_len_k, HEAD_DIM, pc.k_stride_s);
  const ROWS_LAYOUT v_rows = rows_layout(g_len_k, HEAD_DIM_V, pc.v_stride_s);
  tensorViewNV<2, false, 1, 0> transposed = createTensorViewNV(2, false, 1, 0);

  MAT(float16_t, BLOCK_ROWS, DKP, gl_MatrixUseA) q;
  coopMatLoadTensorNV(q, q_halves, q_base, sliceTensorLayoutNV(q_rows, g_i0, BLOCK_ROWS, 0, DKP));
  MAT(float16_t, BLOCK_ROWS, DVP, gl_MatrixUseA) d_o;
  coopMatLoadTensorNV(d_o, do_halves, do_base, sliceTensorLayoutNV(do_rows, g_i0, BLOCK_ROWS, 0, DVP));
  TILE lse2, delta;
  coopMatPerElementNV(lse2, TILE(0.0), lse2_at);
  coopMatPerElementNV(delta, TILE(0.0), delta_at);
  MAT(float, BLOCK_ROWS, DKP, gl_MatrixUseAccumulator) dq = MAT(float, BLOCK_ROWS, DKP, gl_MatrixUseAccumulator)(0.0);

  // The key tiles the block's live rows may see (attn_mask.glsl); the rest are never loaded.
  const uvec2 tiles = mask_key_tiles(g_i0, BLOCK_ROWS, g_len_q, g_len_k, g_shift, params.window_left,
                                     params.window_right, BLOCK_COLS);
  [[dont_unroll]] for (uint t = tiles.x; t < tiles.y; ++t) {
    g_j0 = t * BLOCK_COLS;
    MAT(float16_t, DKP, BLOCK_COLS, gl_MatrixUseB) kt;
    coopMatLoadTensorNV(kt, k_halves, k_base, sliceTensorLayoutNV(k_rows, g_j0, BLOCK_COLS, 0, DKP), transposed);
    MAT(float16_t, DVP, BLOCK_COLS, gl_MatrixUseB) vt;
    coopMatLoadTensorNV(vt, v_halves, v_base, sliceTensorLayoutNV(v_rows, g_j0, BLOCK_COLS, 0, DVP), transposed);
    const TILE s = coopMatMulAdd(q, kt, TILE(0.0));
    const TILE dp = coopMatMulAdd(d_o, vt, TILE(0.0));
    // The mask may hide a pair of this tile: keys past len_k or past the first row's causal
    // diagonal, rows past len_q (lse2 = -inf), windows, document ids.
    bool needs_mask = g_j0 + BLOCK_COLS > g_len_k || g_i0 + BLOCK_ROWS > g_len_q || WINDOW != 0u || DOCUMENTS != 0u;
    if (CAUSAL != 0u) needs_mask = needs_mask || int(g_j0 + BLOCK_COLS) - 1 > int(g_i0) + g_shift;
    TILE du;
    coopMatPerElementNV(du, s, du_at, dp, lse2, delta, !(needs_mask || !PLAIN_SCORES || DROPOUT != 0u));
    const MAT(float16_t, BLOCK_ROWS, BLOCK_COLS, gl_MatrixUseA) du16 = MAT(float16_t, BLOCK_ROWS, BLOCK_COLS, gl_MatrixUseA)(du);
    MAT(float16_t, BLOCK_COLS, DKP, gl_MatrixUseB) k;
    coopMatLoadTensorNV(k, k_halves, k_base, sliceTensorLayoutNV(k_rows, g_j0, BLOCK_COLS, 0, DKP));
    dq = coopMatMulAdd(du16, k, dq);
  }

  const float scale = params.scale_log2 / LOG2E;
  dq = dq * scale;
  const MAT(float16_t, BLOCK_ROWS, DKP, gl_MatrixUseAccumulator) dq16 = MAT(float16_t, BLOCK_ROWS, DKP, gl_MatrixUseAccumulator)(dq);
  const uint dq_base = pc.out0_offset + g_b * pc.out0_stride_b + g_h * pc.out0_stride_h + g_start_q * pc.out0_stride_s;
  coopMatStoreTensorNV(dq16, out0_halves, dq_base,
                       sliceTensorLayoutNV(rows_layout(rows_written, HEAD_DIM, pc.out0_stride_s), g_i0, BLOCK_ROWS, 0, DKP));
}
