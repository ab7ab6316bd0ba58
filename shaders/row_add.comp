#version 450
#extension GL_GOOGLE_include_directive : require

// row_add.comp — dst[b, h, s, d] = (ACCUMULATE ? dst[b, h, s, d] : 0) + src[b, h, s, d] over the
// B x H x rows x D elements of two strided views (offsets and strides in elements, innermost
// stride 1). Ring attention's backward (engine/ring/row_add.hpp) sums each pair's dQ, dK and dV
// into fp32 accumulators with it, and writes the sums out in the tensors' dtype. Each invocation
// owns one pair of adjacent elements (D is even and rows start at even elements, so a pair is one
// word of fp16 or bf16) and strides over the grid.

#include "attn_enums.glsl"
#include "storage.glsl"

#define VKATTN_SPEC(id, NAME, field, def) layout(constant_id = id) const uint NAME = def;
#include "row_add_spec.inc"
#undef VKATTN_SPEC

layout(local_size_x = 256) in;

layout(push_constant) uniform RowAddPush {
#define VKATTN_PC(T, name) T name;
#include "row_add_push.inc"
#undef VKATTN_PC
} pc;

#include "attn_buffers.glsl"
#include "row_add_bindings.inc"
#undef VKATTN_BUFFER
#undef VKATTN_PARAMS

const uint PAIRS = HEAD_DIM / 2u;  // pairs per row

vec2 load_pair(uint dt, uint idx, bool from_dst) {
  return from_dst ? vec2(LOAD_AS(dt, dst_words, idx), LOAD_AS(dt, dst_words, idx + 1u))
                  : vec2(LOAD_AS(dt, src_words, idx), LOAD_AS(dt, src_words, idx + 1u));
}

void main() {
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint e = gl_GlobalInvocationID.x; e < pc.pairs; e += stride) {
    const uint c = 2u * (e % PAIRS);
    const uint row = e / PAIRS;  // (b H + h) rows + s
    const uint s = row % pc.rows;
    const uint h = (row / pc.rows) % pc.heads;
    const uint b = row / (pc.rows * pc.heads);
    const uint from = pc.src_offset + b * pc.src_stride_b + h * pc.src_stride_h + s * pc.src_stride_s + c;
    const uint to = pc.dst_offset + b * pc.dst_stride_b + h * pc.dst_stride_h + s * pc.dst_stride_s + c;
    vec2 v = load_pair(SRC_DTYPE, from, false);
    if (ACCUMULATE != 0u) v += load_pair(DST_DTYPE, to, true);
    if (DST_DTYPE == DTYPE_F16) {
      dst_words[to >> 1u] = packHalf2x16(v);
    } else if (DST_DTYPE == DTYPE_BF16) {
      dst_words[to >> 1u] = pack_bf16x2(v);
    } else {
      dst_words[to] = floatBitsToUint(v.x);
      dst_words[to + 1u] = floatBitsToUint(v.y);
    }
  }
}
