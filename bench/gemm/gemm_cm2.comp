#version 450
// bench/gemm/gemm_cm2.comp — C = A B with GL_NV_cooperative_matrix2: one workgroup-scope
// accumulator of BM x BN per workgroup, A and B tiles of BM x BK and BK x BN loaded through tensor
// layouts (the driver picks the staging), K in steps of BK. A [M, K] and B [K, N] fp16, C [M, N]
// fp32, row-major; M, N, K multiples of the tiles.
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_cooperative_matrix : require
#extension GL_NV_cooperative_matrix2 : require

layout(constant_id = 0) const uint BM = 128;
layout(constant_id = 1) const uint BN = 128;
layout(constant_id = 2) const uint BK = 32;
layout(constant_id = 3) const uint WORKGROUP = 256;
layout(local_size_x_id = 3) in;
layout(set = 0, binding = 0) readonly buffer A { float16_t a[]; };
layout(set = 0, binding = 1) readonly buffer B { float16_t b[]; };
layout(set = 0, binding = 2) writeonly buffer C { float c[]; };
layout(push_constant) uniform Sizes { uint M, N, K; } pc;

void main() {
  tensorLayoutNV<2> la = createTensorLayoutNV(2);
  tensorLayoutNV<2> lb = createTensorLayoutNV(2);
  tensorLayoutNV<2> lc = createTensorLayoutNV(2);
  la = setTensorLayoutDimensionNV(la, pc.M, pc.K);
  lb = setTensorLayoutDimensionNV(lb, pc.K, pc.N);
  lc = setTensorLayoutDimensionNV(lc, pc.M, pc.N);
  const uint m0 = gl_WorkGroupID.y * BM, n0 = gl_WorkGroupID.x * BN;
  coopmat<float, gl_ScopeWorkgroup, BM, BN, gl_MatrixUseAccumulator> acc =
      coopmat<float, gl_ScopeWorkgroup, BM, BN, gl_MatrixUseAccumulator>(0.0);
  for (uint k = 0u; k < pc.K; k += BK) {
    coopmat<float16_t, gl_ScopeWorkgroup, BM, BK, gl_MatrixUseA> ta;
    coopmat<float16_t, gl_ScopeWorkgroup, BK, BN, gl_MatrixUseB> tb;
    coopMatLoadTensorNV(ta, a, 0, sliceTensorLayoutNV(la, m0, BM, k, BK));
    coopMatLoadTensorNV(tb, b, 0, sliceTensorLayoutNV(lb, k, BK, n0, BN));
    acc = coopMatMulAdd(ta, tb, acc);
  }
  coopMatStoreTensorNV(acc, c, 0, sliceTensorLayoutNV(lc, m0, BM, n0, BN));
}
