#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_cooperative_matrix : require
#extension GL_NV_cooperative_matrix2 : require

// attn_bwd_dkdv_cm2.comp — dK and dV of the FlashAttention-2 backward on GL_NV_cooperative_matrix2
// (workgroup-scope matrices, fp16 operands, fp32 accumulation). Same math as attn_bwd_dkdv.comp:
//   dV_j = sum_{h in group} sum_i P_ij Z_ij / (1 - p) dO_i
//   dK_j = scale * sum_{h in group} sum_i dU_ij q_i,   dU_ij = P_ij (dP_ij Z_ij / (1 - p) - delta_i) softcap'(u_ij)
// One workgroup = BLOCK_ROWS key rows of one (b, KV head), in transposed form (rows = keys, columns
// = queries). For every query head of the GQA group, per query tile of BLOCK_COLS queries:
//   S^T = K Q^T,  dP^T = V dO^T          Q and dO through transposing tensor views
//   P^T = p_at(S^T), dU^T = du_at(P^T, dP^T, S^T)   per-element functions (lse2 and delta of each
//                                        column's query from the workspace; masked pairs 0)
//   dV += (P^T o Z / (1 - p)) dO,  dK += dU^T Q      converted in registers to fp16 A operands
// and at the end dK * scale, both stored as fp16 (rows past the sequence and columns past the head
// dims dropped). Each dK/dV row is summed in a fixed order: deterministic. The host runs it
// (WIDE_ROWS = 1) only for calls whose tensors lie on 16 bytes; other calls run the plan's coopmat
// fallback (backward_plan.cpp).

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

// P^T element (r, c): key g_j0 + r, query g_i0 + c, from its S^T; `plain` (uniform): every pair of
// the tile is visible and no score_mod is set.
float p_at(const in uint r, const in uint c, const in float s, const in bool plain) {
  const uint i = g_i0 + c;
  const int j = int(g_j0 + r);
  const float lse2 = lse2_of(i);
  if (plain) return exp2(params.scale_log2 * s - lse2);
  if (lse2 == NEG_INF || !pair_visible(i, j)) return 0.0;
  float dsoftcap;
  return exp2(pair_score(i, j, s, dsoftcap) - lse2);
}

// dU^T element (r, c) from its P^T, dP^T and S^T (the softcap's derivative), 0 where P is.
float du_at(const in uint r, const in uint c, const in float p, const in float dp, const in float s) {
  if (p == 0.0) return 0.0;
  const uint i = g_i0 + c;
  const int j = int(g_j0 + r);
  float dsoftcap = 1.0;
  if (SOFTCAP != 0u) pair_score(i, j, s, dsoftcap);
  const float z = DROPOUT != 0u ? dropout_factor_at(g_b, g_h, i, uint(j)) : 1.0;
  return p * (dp * z - delta_of(i)) * dsoftcap;
}

// P^T element (r, c) times its dropout factor: 0 or 1 / (1 - p') (attn_dropout.glsl).
float dropped(const in uint r, const in uint c, const in float p) {
  return p != 0.0 ? p * dropout_factor_at(g_b, g_h, g_i0 + c, g_j0 + r) : 0.0;
}

void main() {
  g_b = gl_WorkGroupID.y / params.kv_heads;
  const uint kv_h = gl_WorkGroupID.y % params.kv_heads;
  const uint group = params.q_heads / params.kv_heads;
  const uvec4 seq = sequence(g_b);
  g_start_q = seq.x;
  g_len_q = seq.y;
  g_start_k = seq.z;
  g_len_k = seq.w;
  g_j0 = gl_WorkGroupID.x * BLOCK_ROWS;
  g_shift = diag_shift(g_len_q, g_len_k, params.position_shift);
  const uint rows_written = SEQ_MODE == SEQ_VARLEN ? g_len_k : params.seq_k;  // padded rows get dK = dV = 0
  if (g_j0 >= rows_written) return;  // uniform

  const uint k_base = pc.k_offset + g_b * pc.k_stride_b + kv_h * pc.k_stride_h + g_start_k * pc.k_stride_s;
  const uint v_base = pc.v_offset + g_b * pc.v_stride_b + kv_h * pc.v_stride_h + g_start_k * pc.v_stride_s;
  MAT(float16_t, BLOCK_ROWS, DKP, gl_MatrixUseA) k;
  coopMatLoadTensorNV(k, k_halves, k_base,
                      sliceTensorLayoutNV(rows_layout(g_len_k, HEAD_DIM, pc.k_stride_s), g_j0, BLOCK_ROWS, 0, DKP));
  MAT(float16_t, BLOCK_ROWS, DVP, gl_MatrixUseA) v;
  coopMatLoadTensorNV(v, v_halves, v_base,
                      sliceTensorLayoutNV(rows_layout(g_len_k, HEAD_DIM_V, pc.v_stride_s), g_j0, BLOCK_ROWS, 0, DVP));
  MAT(float, BLOCK_ROWS, DKP, gl_MatrixUseAccumulator) dk = MAT(float, BLOCK_ROWS, DKP, gl_MatrixUseAccumulator)(0.0);
  MAT(float, BLOCK_ROWS, DVP, gl_MatrixUseAccumulator) dv = MAT(float, BLOCK_ROWS, DVP, gl_MatrixUseAccumulator)(0.0);
  // Only the sequence's queries are read (rows past it, padding included, read as 0: a non-finite
  // value there must not reach dK and dV through 0 * NaN).
  const ROWS_LAYOUT q_rows = rows_layout(g_len_q, HEAD_DIM, pc.q_stride_s);
  const ROWS_LAYOUT do_rows = rows_layout(g_len_q, HEAD_DIM_V, pc.do_stride_s);
  tensorViewNV<2, false, 1, 0> transposed = createTensorViewNV(2, false, 1, 0);

  // The query tiles that may see some key of this block (attn_mask.glsl); the rest are skipped.
  const uvec2 tiles = mask_query_tiles(g_j0, BLOCK_ROWS, g_len_q, g_len_k, g_shift, params.window_left,
                                       params.window_right, BLOCK_COLS);
  [[dont_unroll]] for (uint g = 0u; g < group; ++g) {
    g_h = kv_h * group + g;
    const uint q_base = pc.q_offset + g_b * pc.q_stride_b + g_h * pc.q_stride_h + g_start_q * pc.q_stride_s;
    const uint do_base = pc.do_offset + g_b * pc.do_stride_b + g_h * pc.do_stride_h + g_start_q * pc.do_stride_s;
    [[dont_unroll]] for (uint t = tiles.x; t < tiles.y; ++t) {
      g_i0 = t * BLOCK_COLS;
      MAT(float16_t, DKP, BLOCK_COLS, gl_MatrixUseB) qt;
      coopMatLoadTensorNV(qt, q_halves, q_base, sliceTensorLayoutNV(q_rows, g_i0, BLOCK_COLS, 0, DKP), transposed);
      MAT(float16_t, DVP, BLOCK_COLS, gl_MatrixUseB) dot;
      coopMatLoadTensorNV(dot, do_halves, do_base, sliceTensorLayoutNV(do_rows, g_i0, BLOCK_COLS, 0, DVP), transposed);
      const TILE st = coopMatMulAdd(k, qt, TILE(0.0));
      const TILE dpt = coopMatMulAdd(v, dot, TILE(0.0));
      // The mask may hide a pair of this block: keys past len_k or past the first query's causal
      // diagonal, queries past len_q (lse2 = -inf), windows, document ids.
      bool needs_mask = g_j0 + BLOCK_ROWS > g_len_k || g_i0 + BLOCK_COLS > g_len_q || WINDOW != 0u || DOCUMENTS != 0u;
      if (CAUSAL != 0u) needs_mask = needs_mask || int(g_j0 + BLOCK_ROWS) - 1 > int(g_i0) + g_shift;
      TILE pt, dut;
      coopMatPerElementNV(pt, st, p_at, !(needs_mask || !PLAIN_SCORES));
      coopMatPerElementNV(dut, pt, du_at, dpt, st);
      if (DROPOUT != 0u) coopMatPerElementNV(pt, pt, dropped);
      const MAT(float16_t, BLOCK_ROWS, BLOCK_COLS, gl_MatrixUseA) p16 = MAT(float16_t, BLOCK_ROWS, BLOCK_COLS, gl_MatrixUseA)(pt);
      const MAT(float16_t, BLOCK_ROWS, BLOCK_COLS, gl_MatrixUseA) du16 = MAT(float16_t, BLOCK_ROWS, BLOCK_COLS, gl_MatrixUseA)(dut);
      MAT(float16_t, BLOCK_COLS, DVP, gl_MatrixUseB) d_o;
      coopMatLoadTensorNV(d_o, do_halves, do_base, sliceTensorLayoutNV(do_rows, g_i0, BLOCK_COLS, 0, DVP));
      dv = coopMatMulAdd(p16, d_o, dv);
      MAT(float16_t, BLOCK_COLS, DKP, gl_MatrixUseB) q;
      coopMatLoadTensorNV(q, q_halves, q_base, sliceTensorLayoutNV(q_rows, g_i0, BLOCK_COLS, 0, DKP));
      dk = coopMatMulAdd(du16, q, dk);
    }
  }

  const float scale = params.scale_log2 / LOG2E;
  dk = dk * scale;
  const MAT(float16_t, BLOCK_ROWS, DKP, gl_MatrixUseAccumulator) dk16 = MAT(float16_t, BLOCK_ROWS, DKP, gl_MatrixUseAccumulator)(dk);
  const MAT(float16_t, BLOCK_ROWS, DVP, gl_MatrixUseAccumulator) dv16 = MAT(float16_t, BLOCK_ROWS, DVP, gl_MatrixUseAccumulator)(dv);
  const uint dk_base = pc.out0_offset + g_b * pc.out0_stride_b + kv_h * pc.out0_stride_h + g_start_k * pc.out0_stride_s;
  const uint dv_base = pc.out1_offset + g_b * pc.out1_stride_b + kv_h * pc.out1_stride_h + g_start_k * pc.out1_stride_s;
  coopMatStoreTensorNV(dk16, out0_halves, dk_base,
                       sliceTensorLayoutNV(rows_layout(rows_written, HEAD_DIM, pc.out0_stride_s), g_j0, BLOCK_ROWS, 0, DKP));
  coopMatStoreTensorNV(dv16, out1_halves, dv_base,
                       sliceTensorLayoutNV(rows_layout(rows_written, HEAD_DIM_V, pc.out1_stride_s), g_j0, BLOCK_ROWS, 0, DVP));
}
