#version 450
// bench/gemm/gemm_scalar.comp — C = A B on the plain FMA units, the GEMM probe's baseline that runs
// on every device (lavapipe included): A [M, K] and B [K, N] fp16 (read as packed pairs), C [M, N]
// fp32, row-major. A 16 x 16 workgroup computes a 16 x 16 tile of C, staging 16 x 16 tiles of A and
// B in shared memory per step of 16 along K. M, N and K are multiples of 16.
layout(local_size_x = 16, local_size_y = 16) in;
layout(set = 0, binding = 0) readonly buffer A { uint a_words[]; };
layout(set = 0, binding = 1) readonly buffer B { uint b_words[]; };
layout(set = 0, binding = 2) writeonly buffer C { float c[]; };
layout(push_constant) uniform Sizes { uint M, N, K; } pc;

shared float a_tile[16][17];
shared float b_tile[16][17];

float half_at(uint idx, bool from_a) {
  const uint w = from_a ? a_words[idx >> 1u] : b_words[idx >> 1u];
  return unpackHalf2x16(w)[idx & 1u];
}

void main() {
  const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
  const uint row = gl_WorkGroupID.y * 16u + ty, col = gl_WorkGroupID.x * 16u + tx;
  float acc = 0.0;
  for (uint k0 = 0u; k0 < pc.K; k0 += 16u) {
    a_tile[ty][tx] = half_at(row * pc.K + k0 + tx, true);
    b_tile[ty][tx] = half_at((k0 + ty) * pc.N + col, false);
    barrier();
    for (uint k = 0u; k < 16u; ++k) acc = fma(a_tile[ty][k], b_tile[k][tx], acc);
    barrier();
  }
  c[row * pc.N + col] = acc;
}
