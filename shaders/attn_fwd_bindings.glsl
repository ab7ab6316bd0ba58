// attn_fwd_bindings.glsl — what both forward kernels (attn_fwd.comp, attn_fwd_cm.comp) declare:
// specialization constants, push constants, bindings of set 0 (engine/kernels/attn_fwd_interface.hpp
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

#include "attn_buffers.glsl"
#include "attn_fwd_bindings.inc"
#include "attn_params_buffer.glsl"

#include "score_mod.glsl"
#include "attn_dropout.glsl"

const float NEG_INF = -1.0 / 0.0;
const float LN2 = 0.69314718055994530942;

#endif
