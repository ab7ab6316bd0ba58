#version 450
#extension GL_KHR_memory_scope_semantics : require
#if CM_KHR
#extension GL_KHR_cooperative_matrix : require
#else
#extension GL_NV_cooperative_matrix : require
#endif
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require

// coopmat_layout_probe.comp — which element of a 16 x 16 fragment each lane holds (both
// cooperative-matrix extensions leave it to the driver). Compiled once per extension (CM_KHR, as
// attn_cm_ops.glsl). One 32-lane subgroup loads the matrix whose element (r, c) is 16 r + c and
// writes, per lane l:
//   acc_cells[8 l .. 8 l + 7], acc_counts[l]  its fp32 accumulator elements' values and count;
//   a_cells[8 l .. 8 l + 7], a_counts[l]      the same for an fp16 A operand (KHR only: the
//                                             NV types have no use, so A is the accumulator's
//                                             layout converted; 16 r + c < 256 is exact in fp16).
// engine/pipelines/coopmat_layout.cpp compares the accumulator with the layout the coopmat kernels
// index by, and derives attn_cm_ops.glsl's acc_to_a order from the two.

// One workgroup of 32 invocations, which the host runs only where subgroups have 32 lanes: the
// workgroup is one subgroup, so the local invocation index is the lane.
layout(local_size_x = 32) in;

layout(set = 0, binding = 0) writeonly buffer Probe {
  float acc_cells[256];
  float acc_counts[32];
  float a_cells[256];
  float a_counts[32];
};

shared float matrix_sh[256];
shared float16_t matrix_h_sh[256];

void main() {
  const uint lane = gl_LocalInvocationID.x;
  for (uint e = lane; e < 256u; e += 32u) {
    matrix_sh[e] = float(e);
    matrix_h_sh[e] = float16_t(e);
  }
  barrier();
#if CM_KHR
  coopmat<float, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator> m;
  coopMatLoad(m, matrix_sh, 0u, 16u, gl_CooperativeMatrixLayoutRowMajor);
  coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseA> a;
  coopMatLoad(a, matrix_h_sh, 0u, 16u, gl_CooperativeMatrixLayoutRowMajor);
  const uint na = uint(a.length());
  a_counts[lane] = float(na);
  for (uint e = 0u; e < 8u; ++e) a_cells[8u * lane + e] = e < na ? float(a[e]) : -1.0;
#else
  fcoopmatNV<32, gl_ScopeSubgroup, 16, 16> m;
  coopMatLoadNV(m, matrix_sh, 0u, 16u, false);
#endif
  const uint n = uint(m.length());
  acc_counts[lane] = float(n);
  for (uint e = 0u; e < 8u; ++e) acc_cells[8u * lane + e] = e < n ? m[e] : -1.0;
}
