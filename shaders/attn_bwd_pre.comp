#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

// attn_bwd_pre.comp — the FlashAttention-2 backward's preprocessing, one invocation per query row:
//   delta_i = sum_d dO_id * O_id          (rowsum(dO o O))
//   lse2_i  = LSE_i * log2 e              (the kernels work in log2 units)
// into the plan's workspace. Rows past a padded sequence's length get delta = 0, lse2 = -inf
// (they attend to nothing); varlen rows past a sequence's end do not exist.

#include "storage.glsl"

#define VKATTN_SPEC(id, NAME, field, def) layout(constant_id = id) const uint NAME = def;
#include "attn_feature_spec.inc"
#include "attn_bwd_spec.inc"
#undef VKATTN_SPEC

layout(local_size_x_id = 32) in;

layout(push_constant) uniform PrePush {
#define VKATTN_PC(T, name) T name;
#include "attn_bwd_pre_push.inc"
#undef VKATTN_PC
} pc;

#include "attn_buffers.glsl"
#include "attn_bwd_pre_bindings.inc"
#include "attn_params_buffer.glsl"

#include "attn_sequence.glsl"
#include "attn_workspace.glsl"

const float LOG2E = 1.44269504088896340736;
const uint DV4 = HEAD_DIM_V / 4u;

void main() {
  const uint b = gl_WorkGroupID.y / params.q_heads;
  const uint h = gl_WorkGroupID.y % params.q_heads;
  const uint i = gl_WorkGroupID.x * BLOCK_ROWS + gl_LocalInvocationID.x;
  const uvec4 seq = sequence(b);
  const uint rows = SEQ_MODE == SEQ_VARLEN ? seq.y : params.seq_q;
  if (i >= rows) return;
  const uint row = work_row(b, h, seq.x, i);
  float delta = 0.0;
  float lse2 = -1.0 / 0.0;
  if (i < seq.y) {
    const uint token = seq.x + i;
    const uint o_base = pc.o_offset + b * pc.o_stride_b + h * pc.o_stride_h + token * pc.o_stride_s;
    const uint do_base = pc.do_offset + b * pc.do_stride_b + h * pc.do_stride_h + token * pc.do_stride_s;
    vec4 acc = vec4(0.0);
    [[unroll]] for (uint d4 = 0u; d4 < DV4; ++d4) {
      acc = fma(LOAD_VEC4(do_words, do_base + 4u * d4), LOAD_VEC4(o_words, o_base + 4u * d4), acc);
    }
    delta = (acc.x + acc.y) + (acc.z + acc.w);
    lse2 = LOG2E * lse_values[pc.lse_offset + b * pc.lse_stride_b + h * pc.lse_stride_h + token * pc.lse_stride_s];
  }
  work[row] = lse2;
  work[params.work_rows + row] = delta;
}
