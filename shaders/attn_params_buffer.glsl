// attn_params_buffer.glsl — the plan's parameter buffer `params` (attn_params.inc: problem-level
// values, then one uvec4 per batch when SEQ_MODE != SEQ_DENSE), at the binding the kernel's list
// gave (BINDING_Params); ends the list that attn_buffers.glsl began.
#undef VKATTN_BUFFER
#undef VKATTN_PARAMS

layout(set = 0, binding = BINDING_Params) readonly buffer Params {
#define VKATTN_PARAM(T, name) T name;
#include "attn_params.inc"
#undef VKATTN_PARAM
  uvec4 seqs[];  // per batch: start_q, len_q, start_k, len_k (SEQ_MODE != SEQ_DENSE)
} params;
