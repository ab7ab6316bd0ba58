#version 450
// bench/gemm/read_stream.comp — the device's streaming read bandwidth, the ceiling of a kernel
// that reads K and V once (decode): every invocation sums the 16-byte words i, i + N, i + 2N, ...
// of `src` (N invocations in the grid), and the workgroup writes one word (the sum, so that the
// reads are not optimized away). Words = push constant.
#extension GL_EXT_control_flow_attributes : require

layout(constant_id = 0) const uint WORKGROUP = 256;
layout(local_size_x_id = 0) in;
layout(set = 0, binding = 0) readonly buffer Src { uvec4 src[]; };
layout(set = 0, binding = 1) writeonly buffer Dst { uint dst[]; };
layout(push_constant) uniform Push { uint words; } pc;

shared uint partial[WORKGROUP];

void main() {
  const uint stride = gl_NumWorkGroups.x * WORKGROUP;
  uvec4 acc = uvec4(0u);
  uint i = gl_GlobalInvocationID.x;
  for (; i + 3u * stride < pc.words; i += 4u * stride) {  // four loads in flight
    const uvec4 a = src[i], b = src[i + stride], c = src[i + 2u * stride], d = src[i + 3u * stride];
    acc ^= a ^ b ^ c ^ d;
  }
  for (; i < pc.words; i += stride) acc ^= src[i];
  partial[gl_LocalInvocationID.x] = acc.x ^ acc.y ^ acc.z ^ acc.w;
  barrier();
  if (gl_LocalInvocationID.x == 0u) {
    uint x = 0u;
    for (uint t = 0u; t < WORKGROUP; ++t) x ^= partial[t];
    dst[gl_WorkGroupID.x] = x;
  }
}
