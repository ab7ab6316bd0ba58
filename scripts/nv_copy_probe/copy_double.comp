#version 450
// B: tile t + 1 copied into the other buffer before tile t is used; one barrier per tile.
layout(local_size_x = 128) in;
layout(binding = 0) readonly restrict buffer Src { uvec4 src[]; };
layout(binding = 1) writeonly restrict buffer Dst { uvec4 dst[]; };
shared uvec4 sh[2 * 1024];
void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint base = gl_WorkGroupID.x * 8192u;
  uvec4 acc = uvec4(tid);
  for (uint n = 0u; n < 8u; ++n) sh[tid + n * 128u] = src[base + tid + n * 128u];
  barrier();
  for (uint t = 0u; t < 7u; ++t) {
    const uint nb = ((t + 1u) & 1u) * 1024u, cb = (t & 1u) * 1024u;
    for (uint n = 0u; n < 8u; ++n) sh[nb + tid + n * 128u] = src[base + (t + 1u) * 1024u + tid + n * 128u];
    for (uint i = 0u; i < 32u; ++i) acc = acc * 3u + sh[cb + ((tid * 7u + i * 33u) & 1023u)];
    barrier();
  }
  dst[gl_GlobalInvocationID.x] = acc;
}
