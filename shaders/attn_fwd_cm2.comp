#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_cooperative_matrix : require
#extension GL_NV_cooperative_matrix2 : require

// attn_fwd_cm2.comp — FlashAttention-2 forward on GL_NV_cooperative_matrix2 (KernelPath::kCoopmat2):
// workgroup-scope matrices that the driver lays out over the workgroup's subgroups, fp16 operands,
// fp32 accumulation. Same math, bindings and specialization constants as attn_fwd.comp (its header
// states the recurrence); one workgroup = BLOCK_Q query rows of one (b, h). Per key tile of BLOCK_K
// keys j0 .. (all matrices BLOCK_Q x BLOCK_K unless said):
//   S     = Q K^T                       K loaded through a transposing tensor view (Dk padded)
//   s     = score_mod(scale_log2 S), -inf where masked     (a per-element operation, only where needed)
//   m'    = max(m, rowmax s)            row reduction; m' = -inf for a row with nothing visible yet
//   P     = 2^(s - m'), alpha = 2^(m - m')   (m' = -inf: P = 0, alpha = 0, nothing summed so far)
//   l     = alpha l + rowsum P          a row reduction in fp32 (a product of fp16 P with a ones matrix
//                                       is faster, but its rounding moved LSE by up to 2e-4 on the H100)
//   O     = diag(alpha) O + P V         P converted in registers to an fp16 A operand (dropout: P Z / (1 - p))
// and at the end O / l (0 where l = 0) and LSE = ln 2 (m + log2 l) (-inf where l = 0). m, l and alpha
// are BLOCK_Q x BLOCK_K matrices whose rows repeat one value (a row reduction writes every column);
// a "first of the row" reduction widens them to BLOCK_Q x Dv where they scale O.
//
// Loads and stores go through tensor layouts of the sequence's rows (dims len x D, row stride the
// view's): rows past the sequence and columns past the head dim read as 0 (Dk and Dv pad to 16) and
// are not written. Masks and score_mods run in one per-element function (score_at) with the same
// helpers as the other kernels (attn_mask.glsl, score_mod.glsl), on tiles that the mask may cut
// and on every tile when a score_mod is set.
// The host (engine/planning/kernel_path.cpp) takes this kernel only for fp16 storage, without
// split-K, GQA packing or a paged cache (those run attn_fwd_cm.comp), on a device with
// DeviceInfo::coopmat2, with a workgroup size and tiles that match one of its flexible-dimension
// shapes (planning/cm2_tiles.cpp; Dk and Dv pad to CM2_DIM_PAD). A tensor load or store must start
// on 16 bytes, so a plan runs it (built with WIDE_ROWS = 1) only for calls whose Q, K, V and O
// bindings, offsets and strides all lie on 16 bytes; other calls run the plan's coopmat fallback
// (forward_plan.cpp).

#include "attn_fwd_bindings.glsl"
#include "attn_sequence.glsl"
#include "attn_documents.glsl"

layout(local_size_x_id = 36) in;

// fp16 views of Q, K, V and O (the bindings attn_fwd_bindings.inc declares as 32-bit words), so that
// offsets and strides count halves as the push constants do.
layout(set = 0, binding = BINDING_Q) readonly buffer QHalves { float16_t q_halves[]; };
layout(set = 0, binding = BINDING_K) readonly buffer KHalves { float16_t k_halves[]; };
layout(set = 0, binding = BINDING_V) readonly buffer VHalves { float16_t v_halves[]; };
layout(set = 0, binding = BINDING_O) writeonly buffer OHalves { float16_t o_halves[]; };

const uint DKP = (HEAD_DIM + CM2_DIM_PAD - 1u) / CM2_DIM_PAD * CM2_DIM_PAD;    // Dk as the matrices hold it
const uint DVP = (HEAD_DIM_V + CM2_DIM_PAD - 1u) / CM2_DIM_PAD * CM2_DIM_PAD;  // Dv

#define MAT(T, R, C, USE) coopmat<T, gl_ScopeWorkgroup, R, C, USE>
#define TILE MAT(float, BLOCK_Q, BLOCK_K, gl_MatrixUseAccumulator)
#define OUT MAT(float, BLOCK_Q, DVP, gl_MatrixUseAccumulator)

// The workgroup's (b, h), sequence, first query and the current tile's first key: read by the
// per-element functions below (which see only an element's row r and column c in its matrix).
uint g_b, g_h, g_start_q, g_len_q, g_start_k, g_len_k, g_q0, g_j0;
int g_shift;

float max_of(const in float a, const in float b) { return max(a, b); }
float sum_of(const in float a, const in float b) { return a + b; }
float first_of(const in float a, const in float b) { return a; }

// Score element (r, c) of the tile, from S = q.k: the modified score in log2 units, or -inf where
// the mask hides key j0 + c from query q0 + r (rows past the sequence included).
float score_at(const in uint r, const in uint c, const in float s) {
  const uint i = g_q0 + r;
  const int j = int(g_j0 + c);
  const int diag = int(i) + g_shift;
  if (i >= g_len_q || !mask_allows(diag, j, int(g_len_k), params.window_left, params.window_right)) return NEG_INF;
  if (DOCUMENTS != 0u && query_doc(g_b, g_start_q, i) != key_doc(g_b, g_start_k, uint(j))) return NEG_INF;
  float unused_dsoftcap;
  return modified_score(params.scale_log2 * s, j - diag, alibi_slope_log2(g_b, g_h), rel_table_row(g_h),
                        bias_row_index(g_b, g_h, i) + uint(j), unused_dsoftcap);
}

// P element (r, c) times its dropout factor (attn_dropout.glsl): 0 or 1 / (1 - p').
float dropped(const in uint r, const in uint c, const in float p) {
  return p != 0.0 ? p * dropout_factor_at(g_b, g_h, g_q0 + r, g_j0 + c) : 0.0;
}

// The running max and sum a row starts from: the sink's logit and 1 with sinks (a row past the
// sequence: -inf and 0), else -inf and 0.
float start_m(const in uint r, const in uint c, const in float x) {
  return SINKS != 0u && g_q0 + r < g_len_q ? LOG2E * sinks[pc.sinks_offset + g_h] : NEG_INF;
}
float start_l(const in uint r, const in uint c, const in float x) { return SINKS != 0u && g_q0 + r < g_len_q ? 1.0 : 0.0; }

// Writes LSE element (r, 0) of the block to the LSE output where row q0 + r is one of `rows`.
float store_lse(const in uint r, const in uint c, const in float lse, const in uint rows) {
  const uint i = g_q0 + r;
  if (c == 0u && i < rows) {
    lse_values[pc.lse_offset + g_b * pc.lse_stride_b + g_h * pc.lse_stride_h + (g_start_q + i) * pc.lse_stride_s] = lse;
  }
  return lse;
}

void main() {
  // Query tiles run last to first: under a causal mask the last tiles see the most keys.
  const uint tile = gl_NumWorkGroups.x - 1u - gl_WorkGroupID.x;
  g_b = gl_WorkGroupID.y / params.q_heads;
  g_h = gl_WorkGroupID.y % params.q_heads;
  const uint kv_h = g_h / params.pack_group;
  const uvec4 seq = sequence(g_b);
  g_start_q = seq.x;
  g_len_q = seq.y;
  g_start_k = seq.z;
  g_len_k = seq.w;
  g_q0 = tile * BLOCK_Q;
  g_shift = diag_shift(g_len_q, g_len_k, params.position_shift);
  // Rows of O and LSE: the sequence's (varlen), else all Sq (padded rows past len_q get O = 0 and
  // LSE = -inf).
  const uint o_rows = SEQ_MODE == SEQ_VARLEN ? g_len_q : params.seq_q;
  if (g_q0 >= o_rows) return;  // uniform: a tile past a shorter varlen sequence

  // Row strides (WIDE_ROWS: multiples of 8 halves, which lets the compiler take 16-byte accesses).
  // A tensor layout's row stride must be at least its row length: a view of one row has stride 0
  // (tensor_checks.cpp), which max() lifts (only row 0 is inside the dimension then).
  const uint wide = WIDE_ROWS != 0u ? ~7u : ~0u;
  tensorLayoutNV<2, gl_CooperativeMatrixClampModeConstantNV> q_rows =
      createTensorLayoutNV(2, gl_CooperativeMatrixClampModeConstantNV);
  q_rows = setTensorLayoutDimensionNV(q_rows, g_len_q, HEAD_DIM);  // padded rows read as 0
  q_rows = setTensorLayoutStrideNV(q_rows, max(pc.q_stride_s & wide, HEAD_DIM), 1);
  tensorLayoutNV<2, gl_CooperativeMatrixClampModeConstantNV> k_rows =
      createTensorLayoutNV(2, gl_CooperativeMatrixClampModeConstantNV);
  k_rows = setTensorLayoutDimensionNV(k_rows, g_len_k, HEAD_DIM);
  k_rows = setTensorLayoutStrideNV(k_rows, max(pc.k_stride_s & wide, HEAD_DIM), 1);
  tensorLayoutNV<2, gl_CooperativeMatrixClampModeConstantNV> v_rows =
      createTensorLayoutNV(2, gl_CooperativeMatrixClampModeConstantNV);
  v_rows = setTensorLayoutDimensionNV(v_rows, g_len_k, HEAD_DIM_V);
  v_rows = setTensorLayoutStrideNV(v_rows, max(pc.v_stride_s & wide, HEAD_DIM_V), 1);
  tensorViewNV<2, false, 1, 0> transposed = createTensorViewNV(2, false, 1, 0);

  const uint q_base = pc.q_offset + g_b * pc.q_stride_b + g_h * pc.q_stride_h + g_start_q * pc.q_stride_s;
  const uint k_base = pc.k_offset + g_b * pc.k_stride_b + kv_h * pc.k_stride_h + g_start_k * pc.k_stride_s;
  const uint v_base = pc.v_offset + g_b * pc.v_stride_b + kv_h * pc.v_stride_h + g_start_k * pc.v_stride_s;

  MAT(float16_t, BLOCK_Q, DKP, gl_MatrixUseA) q;
  coopMatLoadTensorNV(q, q_halves, q_base, sliceTensorLayoutNV(q_rows, g_q0, BLOCK_Q, 0, DKP));
  OUT o = OUT(0.0);
  TILE m, l;
  coopMatPerElementNV(m, TILE(0.0), start_m);
  coopMatPerElementNV(l, TILE(0.0), start_l);

  // The key tiles the block's live rows may see (attn_mask.glsl); the rest are never loaded.
  const uvec2 tiles = mask_key_tiles(g_q0, BLOCK_Q, g_len_q, g_len_k, g_shift, params.window_left,
                                     params.window_right, BLOCK_K);
  [[dont_unroll]] for (uint t = tiles.x; t < tiles.y; ++t) {
    g_j0 = t * BLOCK_K;
    MAT(float16_t, DKP, BLOCK_K, gl_MatrixUseB) kt;
    coopMatLoadTensorNV(kt, k_halves, k_base, sliceTensorLayoutNV(k_rows, g_j0, BLOCK_K, 0, DKP), transposed);
    TILE s = coopMatMulAdd(q, kt, TILE(0.0));

    // The mask may hide an element of this tile: keys past len_k, rows past len_q, keys past the
    // first row's causal diagonal, any window or document ids.
    bool needs_mask = g_j0 + BLOCK_K > g_len_k || g_q0 + BLOCK_Q > g_len_q || WINDOW != 0u || DOCUMENTS != 0u;
    if (CAUSAL != 0u) needs_mask = needs_mask || int(g_j0 + BLOCK_K) - 1 > int(g_q0) + g_shift;
    if (needs_mask || !PLAIN_SCORES) {
      coopMatPerElementNV(s, s, score_at);
    } else {
      s = s * params.scale_log2;
    }

    TILE row_max, p, alpha;
    coopMatReduceNV(row_max, s, gl_CooperativeMatrixReduceRowNV, max_of);
    // m, l, s, row_max, p and alpha share one type, so element e of each is the same (row, column).
    [[unroll]] for (uint e = 0u; e < s.length(); ++e) {
      const float m_new = max(m[e], row_max[e]);
      const float m_sub = m_new != NEG_INF ? m_new : 0.0;  // a row with nothing visible: P = 0
      alpha[e] = exp2(m[e] - m_sub);
      p[e] = exp2(s[e] - m_sub);
      m[e] = m_new;
    }
    TILE row_sum;
    coopMatReduceNV(row_sum, p, gl_CooperativeMatrixReduceRowNV, sum_of);
    [[unroll]] for (uint e = 0u; e < l.length(); ++e) l[e] = alpha[e] * l[e] + row_sum[e];
    MAT(float16_t, BLOCK_Q, BLOCK_K, gl_MatrixUseA) pa = MAT(float16_t, BLOCK_Q, BLOCK_K, gl_MatrixUseA)(p);
    // Dropout: P V takes P_ij Z_ij / (1 - p); l above stays undropped.
    if (DROPOUT != 0u) {
      coopMatPerElementNV(p, p, dropped);
      pa = MAT(float16_t, BLOCK_Q, BLOCK_K, gl_MatrixUseA)(p);
    }

    OUT alpha_rows;
    coopMatReduceNV(alpha_rows, alpha, gl_CooperativeMatrixReduceRowNV, first_of);
    MAT(float16_t, BLOCK_K, DVP, gl_MatrixUseB) v;
    coopMatLoadTensorNV(v, v_halves, v_base, sliceTensorLayoutNV(v_rows, g_j0, BLOCK_K, 0, DVP));
    [[unroll]] for (uint e = 0u; e < o.length(); ++e) o[e] *= alpha_rows[e];
    o = coopMatMulAdd(pa, v, o);
  }

  // O / l, 0 for a row that saw nothing; fp16 out through O's rows (rows past o_rows and columns
  // past Dv are not written).
  OUT l_rows;
  coopMatReduceNV(l_rows, l, gl_CooperativeMatrixReduceRowNV, first_of);
  [[unroll]] for (uint e = 0u; e < o.length(); ++e) o[e] *= l_rows[e] > 0.0 ? 1.0 / l_rows[e] : 0.0;
  tensorLayoutNV<2, gl_CooperativeMatrixClampModeConstantNV> o_layout =
      createTensorLayoutNV(2, gl_CooperativeMatrixClampModeConstantNV);
  o_layout = setTensorLayoutDimensionNV(o_layout, o_rows, HEAD_DIM_V);
  o_layout = setTensorLayoutStrideNV(o_layout, max(pc.o_stride_s & wide, HEAD_DIM_V), 1);
  const uint o_base = pc.o_offset + g_b * pc.o_stride_b + g_h * pc.o_stride_h + g_start_q * pc.o_stride_s;
  const MAT(float16_t, BLOCK_Q, DVP, gl_MatrixUseAccumulator) o16 = MAT(float16_t, BLOCK_Q, DVP, gl_MatrixUseAccumulator)(o);
  coopMatStoreTensorNV(o16, o_halves, o_base, sliceTensorLayoutNV(o_layout, g_q0, BLOCK_Q, 0, DVP));

  // LSE = ln 2 (m + log2 l), -inf for a row that saw nothing.
  if (WRITE_LSE != 0u) {
    TILE lse;
    [[unroll]] for (uint e = 0u; e < l.length(); ++e) lse[e] = l[e] > 0.0 ? LN2 * (m[e] + log2(l[e])) : NEG_INF;
    coopMatPerElementNV(lse, lse, store_lse, o_rows);
  }
}
