// attn_bwd_cm2_common.glsl — what the cooperative-matrix-2 backward kernels (attn_bwd_dq_cm2.comp,
// attn_bwd_dkdv_cm2.comp) share: fp16 views of their tensors, the padded head dims, the matrix
// shorthands, the workgroup's position (read by the per-element functions, which see only an
// element's row and column), and the score of one (query, key) pair. Included after the bindings
// (attn_bwd_bindings.glsl), attn_sequence.glsl, attn_workspace.glsl and attn_documents.glsl.
#ifndef VKATTN_ATTN_BWD_CM2_COMMON_GLSL
#define VKATTN_ATTN_BWD_CM2_COMMON_GLSL

// fp16 views of Q, K, V, dO and the two outputs (declared as 32-bit words by attn_bwd_bindings.inc),
// so that offsets and strides count halves as the push constants do.
layout(set = 0, binding = BINDING_Q) readonly buffer QHalves { float16_t q_halves[]; };
layout(set = 0, binding = BINDING_K) readonly buffer KHalves { float16_t k_halves[]; };
layout(set = 0, binding = BINDING_V) readonly buffer VHalves { float16_t v_halves[]; };
layout(set = 0, binding = BINDING_Do) readonly buffer DoHalves { float16_t do_halves[]; };
layout(set = 0, binding = BINDING_Out0) writeonly buffer Out0Halves { float16_t out0_halves[]; };
layout(set = 0, binding = BINDING_Out1) writeonly buffer Out1Halves { float16_t out1_halves[]; };

const uint DKP = (HEAD_DIM + CM2_DIM_PAD - 1u) / CM2_DIM_PAD * CM2_DIM_PAD;    // Dk as the matrices hold it
const uint DVP = (HEAD_DIM_V + CM2_DIM_PAD - 1u) / CM2_DIM_PAD * CM2_DIM_PAD;  // Dv

#define MAT(T, R, C, USE) coopmat<T, gl_ScopeWorkgroup, R, C, USE>
#define TILE MAT(float, BLOCK_ROWS, BLOCK_COLS, gl_MatrixUseAccumulator)
#define ROWS_LAYOUT tensorLayoutNV<2, gl_CooperativeMatrixClampModeConstantNV>

// The workgroup's batch and query head (attn_bwd_dkdv_cm2: the head of the current step), its
// sequence, the diagonal shift, and the first query and first key of the current block of pairs.
uint g_b, g_h, g_start_q, g_len_q, g_start_k, g_len_k, g_i0, g_j0;
int g_shift;

// Rows of `rows` elements of `width` columns from element `base` with row stride `stride` (strides
// of 8 halves with WIDE_ROWS; a one-row view's stride 0 is lifted to the row length, which a tensor
// layout needs): loads past `rows` or `width` read 0, stores there are dropped.
ROWS_LAYOUT rows_layout(uint rows, uint width, uint stride) {
  ROWS_LAYOUT t = createTensorLayoutNV(2, gl_CooperativeMatrixClampModeConstantNV);
  t = setTensorLayoutDimensionNV(t, rows, width);
  return setTensorLayoutStrideNV(t, max(stride & (WIDE_ROWS != 0u ? ~7u : ~0u), width), 1);
}

// lse2 (LSE in log2 units) and delta = rowsum(dO o O) of query i of the current head, from the
// workspace attn_bwd_pre.comp wrote: -inf and 0 past the sequence (such queries contribute nothing).
float lse2_of(uint i) { return i < g_len_q ? work[work_row(g_b, g_h, g_start_q, i)] : NEG_INF; }
float delta_of(uint i) { return i < g_len_q ? work[params.work_rows + work_row(g_b, g_h, g_start_q, i)] : 0.0; }

// Whether query i sees key j (mask and document ids), and the pair's modified score u (log2 units)
// from s = q_i . k_j with the softcap's derivative at it (attn_bwd_dq.comp states the math).
bool pair_visible(uint i, int j) {
  const int diag = int(i) + g_shift;
  if (i >= g_len_q || !mask_allows(diag, j, int(g_len_k), params.window_left, params.window_right)) return false;
  return DOCUMENTS == 0u || query_doc(g_b, g_start_q, i) == key_doc(g_b, g_start_k, uint(j));
}
float pair_score(uint i, int j, float s, out float dsoftcap) {
  const int diag = int(i) + g_shift;
  return modified_score(params.scale_log2 * s, j - diag, alibi_slope_log2(g_b, g_h), rel_table_row(g_h),
                        bias_row_index(g_b, g_h, i) + uint(j), dsoftcap);
}

#endif
