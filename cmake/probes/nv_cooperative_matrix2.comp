#version 450
// Configure-time probe (cmake/VkattnToolchain.cmake): GL_NV_cooperative_matrix2: workgroup-scope matrices, tensor layouts and views (transposed loads), row reductions.
#extension GL_KHR_cooperative_matrix : require
#extension GL_NV_cooperative_matrix2 : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
layout(local_size_x = 128) in;
layout(set = 0, binding = 0) readonly buffer A { float16_t a[]; };
layout(set = 0, binding = 1) writeonly buffer C { float c[]; };
float max_op(const in float x, const in float y) { return max(x, y); }
void main() {
  tensorLayoutNV<2> tl = createTensorLayoutNV(2);
  tl = setTensorLayoutDimensionNV(tl, 64, 64);
  coopmat<float16_t, gl_ScopeWorkgroup, 64, 64, gl_MatrixUseA> ma;
  coopmat<float16_t, gl_ScopeWorkgroup, 64, 64, gl_MatrixUseB> mb;
  coopmat<float, gl_ScopeWorkgroup, 64, 64, gl_MatrixUseAccumulator> mc =
      coopmat<float, gl_ScopeWorkgroup, 64, 64, gl_MatrixUseAccumulator>(0.0);
  coopMatLoadTensorNV(ma, a, 0, sliceTensorLayoutNV(tl, 0, 64, 0, 64));
  tensorViewNV<2, false, 1, 0> tv = createTensorViewNV(2, false, 1, 0);
  coopMatLoadTensorNV(mb, a, 0, sliceTensorLayoutNV(tl, 0, 64, 0, 64), tv);
  mc = coopMatMulAdd(ma, mb, mc);
  coopmat<float, gl_ScopeWorkgroup, 64, 64, gl_MatrixUseAccumulator> rowmax;
  coopMatReduceNV(rowmax, mc, gl_CooperativeMatrixReduceRowNV, max_op);
  coopMatStoreTensorNV(rowmax, c, 0, sliceTensorLayoutNV(tl, 0, 64, 0, 64));
}
