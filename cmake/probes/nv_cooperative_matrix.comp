#version 450
// Configure-time probe (cmake/VkattnToolchain.cmake): GL_NV_cooperative_matrix, the extension of
// the coopmat kernels (shaders/*_cm.comp).
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
layout(local_size_x = 32) in;
layout(set = 0, binding = 0) readonly buffer A { float16_t a[]; };
layout(set = 0, binding = 1) writeonly buffer C { float c[]; };
void main() {
  fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> ma;
  fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> mb;
  fcoopmatNV<32, gl_ScopeSubgroup, 16, 16> mc = fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>(0.0);
  coopMatLoadNV(ma, a, 0, 16, false);
  coopMatLoadNV(mb, a, 256, 16, true);
  mc = coopMatMulAddNV(ma, mb, mc);
  coopMatStoreNV(mc, c, 0, 16, false);
}
