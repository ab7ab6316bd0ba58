// attn_cm_layout.glsl — where the elements of a 16 x 16 fp32 accumulator fragment lie, for the
// coopmat kernels. VK_NV_cooperative_matrix leaves this to the driver; the kernels index by the
// order NVIDIA's driver uses (read back on an H100), which engine/pipelines/coopmat_layout.cpp checks on
// every device before any coopmat kernel is chosen (a device that differs runs the scalar kernels):
//   lane 4g + t (g = 0..7, t = 0..3) holds 8 elements; element e lies at
//   row    g + 8 * ((e >> 2) & 1)        (acc_row; acc_hi(e): the second row, g + 8)
//   column 2t + (e & 1) + 8 * ((e >> 1) & 1)   (acc_col)
// So the four lanes of a quad (same g) hold rows g and g + 8 between them: row reductions are
// two shuffles.
#ifndef VKATTN_ATTN_CM_LAYOUT_GLSL
#define VKATTN_ATTN_CM_LAYOUT_GLSL

const uint ACC_ELEMS = 8u;  // accumulator elements per lane: 16 x 16 over 32 lanes

bool acc_hi(uint e) { return ((e >> 2u) & 1u) != 0u; }
uint acc_row(uint lane, uint e) { return (lane >> 2u) + (acc_hi(e) ? 8u : 0u); }
uint acc_col(uint lane, uint e) { return 2u * (lane & 3u) + (e & 1u) + 8u * ((e >> 1u) & 1u); }

#endif
