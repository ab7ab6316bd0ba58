#version 450
// A: tile copied global -> shared, barrier, then used.
layout(local_size_x = 128) in;
layout(binding = 0) readonly buffer Src { uvec4 src[]; };
layout(binding = 1) writeonly buffer Dst { uvec4 dst[]; };
shared uvec4 sh[1024];
void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint base = gl_WorkGroupID.x * 8192u;
  uvec4 acc = uvec4(tid);
  for (uint t = 0u; t < 8u; ++t) {
    for (uint n = 0u; n < 8u; ++n) sh[tid + n * 128u] = src[base + t * 1024u + tid + n * 128u];
    barrier();
    for (uint i = 0u; i < 32u; ++i) acc = acc * 3u + sh[(tid * 7u + i * 33u) & 1023u];
    barrier();
  }
  dst[gl_GlobalInvocationID.x] = acc;
}
