#version 450
#extension GL_KHR_memory_scope_semantics : require
#extension GL_NV_cooperative_matrix : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require

// coopmat_layout_probe.comp — which element of a 16 x 16 fp32 accumulator fragment each lane
// holds (VK_NV_cooperative_matrix leaves it to the driver). One 32-lane subgroup loads the matrix
// whose element (r, c) is 16 r + c and writes, per lane l, its elements' values to
// cells[8 l .. 8 l + 7] and its element count to counts[l]. engine/pipelines/coopmat_layout.cpp compares
// the result with the layout the coopmat kernels are written for.

// One workgroup of 32 invocations, which the host runs only where subgroups have 32 lanes: the
// workgroup is one subgroup, so the local invocation index is the lane.
layout(local_size_x = 32) in;

layout(set = 0, binding = 0) writeonly buffer Probe {
  float cells[256];
  float counts[32];
};

shared float matrix_sh[256];

void main() {
  const uint lane = gl_LocalInvocationID.x;
  for (uint e = lane; e < 256u; e += 32u) matrix_sh[e] = float(e);
  barrier();
  fcoopmatNV<32, gl_ScopeSubgroup, 16, 16> m;
  coopMatLoadNV(m, matrix_sh, 0u, 16u, false);
  const uint n = uint(m.length());
  counts[lane] = float(n);
  for (uint e = 0u; e < 8u; ++e) cells[8u * lane + e] = e < n ? m[e] : -1.0;
}
