#version 450
// bench/gemm/gemm_coopmat.comp — C = A B on the matrix units at subgroup scope, with
// GL_NV_cooperative_matrix types (-DKHR=0) or GL_KHR_cooperative_matrix types (-DKHR=1): one
// source, only the extension differs, so the two paths' ceilings compare directly. A [M, K] and
// B [K, N] fp16, C [M, N] fp32, row-major. Four 32-lane subgroups in a 2 x 2 grid; each owns
// FRAG_M x FRAG_N fragments of 16 x 16 and loads its A and B fragments straight from memory per
// step of 16 along K (no shared memory: the ceiling of the instructions and the caches). The
// workgroup tile is (32 FRAG_M) x (32 FRAG_N); M and N are multiples of it, K of 16.
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_control_flow_attributes : require
#if KHR
#extension GL_KHR_cooperative_matrix : require
#define MAT_A coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseA>
#define MAT_B coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseB>
#define MAT_C coopmat<float, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator>
#define LOAD_ROW_MAJOR(m, buf, at, stride) coopMatLoad(m, buf, at, stride, gl_CooperativeMatrixLayoutRowMajor)
#define STORE_ROW_MAJOR(m, buf, at, stride) coopMatStore(m, buf, at, stride, gl_CooperativeMatrixLayoutRowMajor)
#define MUL_ADD(a, b, c) coopMatMulAdd(a, b, c)
#else
#extension GL_NV_cooperative_matrix : require
#define MAT_A fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>
#define MAT_B fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>
#define MAT_C fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>
#define LOAD_ROW_MAJOR(m, buf, at, stride) coopMatLoadNV(m, buf, at, stride, false)
#define STORE_ROW_MAJOR(m, buf, at, stride) coopMatStoreNV(m, buf, at, stride, false)
#define MUL_ADD(a, b, c) coopMatMulAddNV(a, b, c)
#endif

layout(constant_id = 0) const uint FRAG_M = 2;  // 16-row fragments per subgroup
layout(constant_id = 1) const uint FRAG_N = 2;  // 16-column fragments per subgroup
layout(local_size_x = 128) in;
layout(set = 0, binding = 0) readonly buffer A { float16_t a[]; };
layout(set = 0, binding = 1) readonly buffer B { float16_t b[]; };
layout(set = 0, binding = 2) writeonly buffer C { float c[]; };
layout(push_constant) uniform Sizes { uint M, N, K; } pc;

void main() {
  const uint sg = gl_SubgroupID;  // 0..3 in a 2 x 2 grid
  const uint row0 = gl_WorkGroupID.y * 32u * FRAG_M + (sg / 2u) * 16u * FRAG_M;
  const uint col0 = gl_WorkGroupID.x * 32u * FRAG_N + (sg % 2u) * 16u * FRAG_N;
  MAT_C acc[FRAG_M][FRAG_N];
  [[unroll]] for (uint i = 0u; i < FRAG_M; ++i) {
    [[unroll]] for (uint j = 0u; j < FRAG_N; ++j) acc[i][j] = MAT_C(0.0);
  }
  for (uint k = 0u; k < pc.K; k += 16u) {
    MAT_A fa[FRAG_M];
    MAT_B fb[FRAG_N];
    [[unroll]] for (uint i = 0u; i < FRAG_M; ++i) LOAD_ROW_MAJOR(fa[i], a, (row0 + 16u * i) * pc.K + k, pc.K);
    [[unroll]] for (uint j = 0u; j < FRAG_N; ++j) LOAD_ROW_MAJOR(fb[j], b, k * pc.N + col0 + 16u * j, pc.N);
    [[unroll]] for (uint i = 0u; i < FRAG_M; ++i) {
      [[unroll]] for (uint j = 0u; j < FRAG_N; ++j) acc[i][j] = MUL_ADD(fa[i], fb[j], acc[i][j]);
    }
  }
  [[unroll]] for (uint i = 0u; i < FRAG_M; ++i) {
    [[unroll]] for (uint j = 0u; j < FRAG_N; ++j) {
      STORE_ROW_MAJOR(acc[i][j], c, (row0 + 16u * i) * pc.N + col0 + 16u * j, pc.N);
    }
  }
}
