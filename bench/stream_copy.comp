#version 450

// stream_copy.comp — dst[i] = src[i] over 16-byte words: the device's copy bandwidth as a compute
// shader moves it, the ceiling vkattn-bench compares memory-bound kernels (decode) with.
// Grid-stride: invocation g copies words g, g + N, g + 2N, ... (N invocations in the grid), so
// each warp's loads and stores are 512 contiguous bytes.

layout(local_size_x = 256) in;

layout(std430, set = 0, binding = 0) readonly buffer Src { uvec4 src[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Dst { uvec4 dst[]; };

layout(push_constant) uniform Push {
  uint words;  // 16-byte words to copy
} pc;

void main() {
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint i = gl_GlobalInvocationID.x; i < pc.words; i += stride) dst[i] = src[i];
}
