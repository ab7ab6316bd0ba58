#version 450
// bench/gemm/attn_cm2.comp — a bare FlashAttention-2 forward on GL_NV_cooperative_matrix2, to
// measure what the workgroup-scope path gives attention before the engine builds on it (issue 25):
// no score_mod, no mask or causal (CAUSAL: key j visible to query i iff j <= i; the tiles past
// the diagonal are skipped), fp16 Q, K, V, O of [BH, S, D] (row-major, S a multiple of BQ and BK),
// one workgroup per BQ query rows of one (b, h). Per key tile j of BK keys, all matrices of the
// workgroup (the driver lays them out over its subgroups):
//   S   = (Q K_j^T) * scale log2(e)                     BQ x BK fp32 (K_j loaded transposed)
//   m'  = max(m, rowmax S);  P = 2^(S - m');  alpha = 2^(m - m')
//   l   = alpha l + rowsum P                            (ROWSUM_MMA: P times a matrix of ones)
//   O   = diag(alpha) O + P V_j                         (P converted to an fp16 A operand in place)
// and at the end O / l. m, l and alpha are kept as BQ x BK matrices whose rows repeat one value
// (a row reduction writes every column), widened to BQ x D by a "smear" reduction where they
// scale O.
#extension GL_EXT_control_flow_attributes : require
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_cooperative_matrix : require
#extension GL_NV_cooperative_matrix2 : require

layout(constant_id = 0) const uint BQ = 64;
layout(constant_id = 1) const uint BK = 64;
layout(constant_id = 2) const uint D = 128;
layout(constant_id = 3) const uint WORKGROUP = 128;
layout(constant_id = 4) const uint ROWSUM_MMA = 1;
layout(constant_id = 5) const uint CAUSAL = 0;
layout(local_size_x_id = 3) in;

layout(set = 0, binding = 0) readonly buffer Q { float16_t q[]; };
layout(set = 0, binding = 1) readonly buffer K { float16_t k[]; };
layout(set = 0, binding = 2) readonly buffer V { float16_t v[]; };
layout(set = 0, binding = 3) writeonly buffer O { float16_t o[]; };
layout(push_constant) uniform Push { uint seq; float scale_log2; } pc;

#define TILE(T, R, C, USE) coopmat<T, gl_ScopeWorkgroup, R, C, USE>

float max_of(const in float a, const in float b) { return max(a, b); }
float sum_of(const in float a, const in float b) { return a + b; }
float first_of(const in float a, const in float b) { return a; }
float exp2_of(const in uint r, const in uint c, const in float x) { return exp2(x); }
float max_elem(const in uint r, const in uint c, const in float a, const in float b) { return max(a, b); }
// Causal: element (r, c) of the tile at query q0, key j0 is hidden (-inf) where j0 + c > q0 + r.
float causal_elem(const in uint r, const in uint c, const in float x, const in uint q0, const in uint j0) {
  return j0 + c > q0 + r ? -1.0 / 0.0 : x;
}

void main() {
  const uint q0 = gl_WorkGroupID.x * BQ;
  const uint base = gl_WorkGroupID.y * pc.seq * D;
  tensorLayoutNV<2> rows = createTensorLayoutNV(2);
  rows = setTensorLayoutDimensionNV(rows, pc.seq, D);
  tensorViewNV<2, false, 1, 0> transposed = createTensorViewNV(2, false, 1, 0);

  TILE(float16_t, BQ, D, gl_MatrixUseA) qm;
  coopMatLoadTensorNV(qm, q, base, sliceTensorLayoutNV(rows, q0, BQ, 0, D));
  TILE(float, BQ, D, gl_MatrixUseAccumulator) acc = TILE(float, BQ, D, gl_MatrixUseAccumulator)(0.0);
  TILE(float, BQ, BK, gl_MatrixUseAccumulator) m = TILE(float, BQ, BK, gl_MatrixUseAccumulator)(-1e30);
  TILE(float, BQ, BK, gl_MatrixUseAccumulator) l = TILE(float, BQ, BK, gl_MatrixUseAccumulator)(0.0);
  const TILE(float16_t, BK, BK, gl_MatrixUseB) ones = TILE(float16_t, BK, BK, gl_MatrixUseB)(1.0);

  const uint keys = CAUSAL != 0u ? min(pc.seq, q0 + BQ) : pc.seq;  // past the block's last query: hidden
  [[dont_unroll]] for (uint j = 0u; j < keys; j += BK) {
    TILE(float16_t, D, BK, gl_MatrixUseB) kt;
    coopMatLoadTensorNV(kt, k, base, sliceTensorLayoutNV(rows, j, BK, 0, D), transposed);
    TILE(float, BQ, BK, gl_MatrixUseAccumulator) s = TILE(float, BQ, BK, gl_MatrixUseAccumulator)(0.0);
    s = coopMatMulAdd(qm, kt, s);
    s = s * pc.scale_log2;
    if (CAUSAL != 0u && j + BK > q0 + 1u) coopMatPerElementNV(s, s, causal_elem, q0, j);  // tiles on the diagonal

    TILE(float, BQ, BK, gl_MatrixUseAccumulator) row_max, m_new, p, alpha, row_sum;
    coopMatReduceNV(row_max, s, gl_CooperativeMatrixReduceRowNV, max_of);
    coopMatPerElementNV(m_new, row_max, max_elem, m);
    coopMatPerElementNV(p, s - m_new, exp2_of);
    coopMatPerElementNV(alpha, m - m_new, exp2_of);
    m = m_new;

    TILE(float16_t, BQ, BK, gl_MatrixUseA) pa = TILE(float16_t, BQ, BK, gl_MatrixUseA)(p);
    if (ROWSUM_MMA != 0u) {
      row_sum = coopMatMulAdd(pa, ones, TILE(float, BQ, BK, gl_MatrixUseAccumulator)(0.0));
    } else {
      coopMatReduceNV(row_sum, p, gl_CooperativeMatrixReduceRowNV, sum_of);
    }
    l = alpha * l + row_sum;

    TILE(float, BQ, D, gl_MatrixUseAccumulator) alpha_rows;
    coopMatReduceNV(alpha_rows, alpha, gl_CooperativeMatrixReduceRowNV, first_of);
    TILE(float16_t, BK, D, gl_MatrixUseB) vm;
    coopMatLoadTensorNV(vm, v, base, sliceTensorLayoutNV(rows, j, BK, 0, D));
    acc = acc * alpha_rows;
    acc = coopMatMulAdd(pa, vm, acc);
  }
  TILE(float, BQ, D, gl_MatrixUseAccumulator) l_rows;
  coopMatReduceNV(l_rows, l, gl_CooperativeMatrixReduceRowNV, first_of);
  acc = acc / l_rows;
  TILE(float16_t, BQ, D, gl_MatrixUseAccumulator) out16 = TILE(float16_t, BQ, D, gl_MatrixUseAccumulator)(acc);
  coopMatStoreTensorNV(out16, o, base, sliceTensorLayoutNV(rows, q0, BQ, 0, D));
}
