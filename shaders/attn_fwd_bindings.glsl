// attn_fwd_bindings.glsl — what both forward kernels (attn_fwd.comp, attn_fwd_cm.comp) declare:
// specialization constants, push constants, bindings of set 0 (engine/attn_fwd_interface.hpp
// mirrors them) and the shared helpers. The kernel declares its workgroup size itself.
#ifndef VKATTN_ATTN_FWD_BINDINGS_GLSL
#define VKATTN_ATTN_FWD_BINDINGS_GLSL

#include "attn_enums.glsl"  // SEQ_*, ALIBI_*
#include "storage.glsl"

#define VKATTN_SPEC(id, NAME, field, def) layout(constant_id = id) const uint NAME = def;
#include "attn_feature_spec.inc"
#include "attn_fwd_spec.inc"
#undef VKATTN_SPEC

#include "attn_mask.glsl"

layout(push_constant) uniform FwdPush {
#define VKATTN_PC(T, name) T name;
#include "attn_fwd_push.inc"
#undef VKATTN_PC
} pc;

layout(set = 0, binding = 0) readonly buffer QBuf { uint q_words[]; };
layout(set = 0, binding = 1) readonly buffer KBuf { uint k_words[]; };
layout(set = 0, binding = 2) readonly buffer VBuf { uint v_words[]; };
layout(set = 0, binding = 3) writeonly buffer OBuf { uint o_words[]; };
layout(set = 0, binding = 4) writeonly buffer LseBuf { float lse_values[]; };
layout(set = 0, binding = 5) readonly buffer Params {
#define VKATTN_PARAM(T, name) T name;
#include "attn_params.inc"
#undef VKATTN_PARAM
  uvec4 seqs[];  // per batch: start_q, len_q, start_k, len_k (SEQ_MODE != SEQ_DENSE)
} params;
layout(set = 0, binding = 6) readonly buffer BiasBuf { uint bias_words[]; };
layout(set = 0, binding = 7) readonly buffer SlopeBuf { float slopes[]; };
layout(set = 0, binding = 8) readonly buffer TableBuf { float rel_table[]; };
layout(set = 0, binding = 9) readonly buffer SinkBuf { float sinks[]; };
layout(set = 0, binding = 10) readonly buffer DocQBuf { int docs_q[]; };
layout(set = 0, binding = 11) readonly buffer DocKBuf { int docs_k[]; };

#include "score_mod.glsl"

const float NEG_INF = -1.0 / 0.0;
const float LN2 = 0.69314718055994530942;

#endif
