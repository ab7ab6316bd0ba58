#version 450
// C: as A, into a uvec2 array (two 8-byte stores per 16-byte chunk, as attn_cm_tiles.glsl does).
layout(local_size_x = 128) in;
layout(binding = 0) readonly buffer Src { uvec4 src[]; };
layout(binding = 1) writeonly buffer Dst { uvec4 dst[]; };
shared uvec2 sh[2048];
void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint base = gl_WorkGroupID.x * 8192u;
  uvec4 acc = uvec4(tid);
  for (uint t = 0u; t < 8u; ++t) {
    for (uint n = 0u; n < 8u; ++n) {
      const uvec4 w = src[base + t * 1024u + tid + n * 128u];
      sh[2u * (tid + n * 128u)] = w.xy;
      sh[2u * (tid + n * 128u) + 1u] = w.zw;
    }
    barrier();
    for (uint i = 0u; i < 32u; ++i) acc.xy = acc.xy * 3u + sh[(tid * 7u + i * 33u) & 2047u];
    barrier();
  }
  dst[gl_GlobalInvocationID.x] = acc;
}
