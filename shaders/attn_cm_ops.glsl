// attn_cm_ops.glsl — the matrix instructions of the coopmat kernels, in one of two extensions.
// Each coopmat kernel is compiled twice from one source (shaders/CMakeLists.txt):
//   CM_KHR = 0: GL_NV_cooperative_matrix (KernelPath::kCoopmat). Fragments are untyped by use.
//   CM_KHR = 1: GL_KHR_cooperative_matrix (KernelPath::kCoopmatKhr). A, B and accumulator
//               fragments are distinct types, so the driver can keep each in the register layout
//               its instruction wants (the GEMM probe ran 1.46x the NV types at the same tiling:
//               bench/RESULTS_H100.md); a B operand read transposed (K^T, V^T, Q^T, dO^T) is a
//               column-major load.
// The kernel enables the extension itself (#extension must precede the code):
//   #if CM_KHR  GL_KHR_cooperative_matrix  #else  GL_NV_cooperative_matrix  #endif
//
// Every fragment is 16 x 16. Operands are fp16 in shared memory (tile_dk_sh, tile_dv_sh: uvec2
// words of 4 halves, so offsets and strides below count 4 halves), accumulators fp32.
//   A_MAT, B_MAT, ACC_MAT            operand A (rows x k), operand B (k x columns), accumulator
//   load_a(m, sh, at, stride)        A from row-major rows `stride` words apart
//   load_b(m, sh, at, stride)        B from row-major rows
//   load_bt(m, sh, at, stride)       B = X^T where X is 16 row-major rows (a column-major load)
//   mma(a, b, c)                     a b + c
//   store_acc(m, sh, at, stride)     accumulator to fp32 rows
//   acc_to_a(c)                      an accumulator as an fp16 A operand, in registers: P and dS
//                                    feed the next product without a trip through memory.
// KHR allows no conversion between uses; acc_to_a copies element by element. That needs the A
// fragment's elements in a lane to be the accumulator's elements of the same lane in some fixed
// order: element e of A is element CM_A_FROM_ACC[3e .. 3e + 2] (3-bit fields) of the accumulator.
// The context's probe (engine/pipelines/coopmat_layout.cpp) reads both layouts on the device and
// derives that order; a device where no such order exists does not get the KHR path.
#ifndef VKATTN_ATTN_CM_OPS_GLSL
#define VKATTN_ATTN_CM_OPS_GLSL

#if CM_KHR
#define A_MAT coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseA>
#define B_MAT coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseB>
#define ACC_MAT coopmat<float, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator>
#define load_a(m, sh, at, stride) coopMatLoad(m, sh, at, stride, gl_CooperativeMatrixLayoutRowMajor)
#define load_b(m, sh, at, stride) coopMatLoad(m, sh, at, stride, gl_CooperativeMatrixLayoutRowMajor)
#define load_bt(m, sh, at, stride) coopMatLoad(m, sh, at, stride, gl_CooperativeMatrixLayoutColumnMajor)
#define store_acc_rows(m, sh, at, stride) coopMatStore(m, sh, at, stride, gl_CooperativeMatrixLayoutRowMajor)
#define mma(a, b, c) coopMatMulAdd(a, b, c)

A_MAT acc_to_a(ACC_MAT c) {
  A_MAT a;
  [[unroll]] for (uint e = 0u; e < 8u; ++e) a[e] = float16_t(c[(CM_A_FROM_ACC >> (3u * e)) & 7u]);
  return a;
}
#else
#define A_MAT fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>
#define B_MAT fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>
#define ACC_MAT fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>
#define load_a(m, sh, at, stride) coopMatLoadNV(m, sh, at, stride, false)
#define load_b(m, sh, at, stride) coopMatLoadNV(m, sh, at, stride, false)
#define load_bt(m, sh, at, stride) coopMatLoadNV(m, sh, at, stride, true)
#define store_acc_rows(m, sh, at, stride) coopMatStoreNV(m, sh, at, stride, false)
#define mma(a, b, c) coopMatMulAddNV(a, b, c)

A_MAT acc_to_a(ACC_MAT c) { return A_MAT(c); }
#endif

#endif
