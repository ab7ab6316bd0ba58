#version 450
#extension GL_GOOGLE_include_directive : require

// attn_kv_append.comp — writes new K and V rows into a paged cache (vkattn/kv_append.hpp).
//
// New token t of sequence b goes to position p = cache_lens[b] + t: row p % block_size of pool
// block block_table[b, p / block_size], for every KV head. One invocation per (token, head,
// 4 elements); the grid is (tokens x vec4s per row / 64, B x Hkv).

#include "attn_enums.glsl"
#include "storage.glsl"

#define VKATTN_SPEC(id, NAME, field, def) layout(constant_id = id) const uint NAME = def;
#include "attn_kv_append_spec.inc"
#undef VKATTN_SPEC

layout(local_size_x = 64) in;

layout(push_constant) uniform AppendPush {
#define VKATTN_PC(T, name) T name;
#include "attn_kv_append_push.inc"
#undef VKATTN_PC
} pc;

#include "attn_buffers.glsl"
#include "attn_kv_append_bindings.inc"
#undef VKATTN_BUFFER
#undef VKATTN_PARAMS

const uint DK4 = HEAD_DIM / 4u;
const uint DV4 = HEAD_DIM_V / 4u;
const uint ROW4 = DK4 > DV4 ? DK4 : DV4;

void main() {
  const uint e = gl_GlobalInvocationID.x;  // (token, vec4) of the row
  const uint t = e / ROW4;
  const uint c = e % ROW4;
  if (t >= pc.new_tokens) return;
  const uint b = gl_WorkGroupID.y / pc.kv_heads;
  const uint h = gl_WorkGroupID.y % pc.kv_heads;
  const uint pos = uint(cache_lens[pc.lens_offset + b]) + t;
  const uint block = uint(block_table[pc.pages_offset + b * pc.pages_stride_b + (pos >> PAGED_SHIFT)]);
  const uint row = pos & ((1u << PAGED_SHIFT) - 1u);
  if (c < DK4) {
    const uint from = pc.k_new_offset + b * pc.k_new_stride_b + h * pc.k_new_stride_h + t * pc.k_new_stride_s + 4u * c;
    const uint to = pc.k_offset + block * pc.k_stride_b + h * pc.k_stride_h + row * pc.k_stride_s + 4u * c;
    STORE_VEC4(k_words, to, LOAD_VEC4(k_new_words, from));
  }
  if (c < DV4) {
    const uint from = pc.v_new_offset + b * pc.v_new_stride_b + h * pc.v_new_stride_h + t * pc.v_new_stride_s + 4u * c;
    const uint to = pc.v_offset + block * pc.v_stride_b + h * pc.v_stride_h + row * pc.v_stride_s + 4u * c;
    STORE_VEC4(v_words, to, LOAD_VEC4(v_new_words, from));
  }
}
