#version 450
// The host application's own compute pass in the examples: data[i] *= factor.
layout(local_size_x = 64) in;
layout(push_constant) uniform Push {
  float factor;
  uint count;
} pc;
layout(set = 0, binding = 0) buffer Data { float data[]; };

void main() {
  const uint i = gl_GlobalInvocationID.x;
  if (i < pc.count) data[i] *= pc.factor;
}
