// attn_bwd_bindings.glsl — specialization constants and buffers shared by attn_bwd_dq.comp,
// attn_bwd_dkdv.comp, their coopmat versions (attn_bwd_*_cm.comp) and attn_bwd_dparam.comp
// (the layout engine/kernels/attn_bwd_interface.hpp mirrors). Each kernel declares its push-constant
// block `pc` before including this, and its workgroup size (BLOCK_ROWS on the scalar path,
// WORKGROUP_SIZE on the coopmat path). The kernel includes the shared helpers after it:
// attn_sequence.glsl, attn_workspace.glsl, attn_documents.glsl (the ALiBi slope is in score_mod.glsl).
#ifndef VKATTN_ATTN_BWD_BINDINGS_GLSL
#define VKATTN_ATTN_BWD_BINDINGS_GLSL

#include "attn_enums.glsl"  // SEQ_*, ALIBI_*
#include "storage.glsl"

#define VKATTN_SPEC(id, NAME, field, def) layout(constant_id = id) const uint NAME = def;
#include "attn_feature_spec.inc"
#include "attn_bwd_spec.inc"
#undef VKATTN_SPEC

#include "attn_mask.glsl"

#include "attn_buffers.glsl"
#include "attn_bwd_bindings.inc"
#include "attn_params_buffer.glsl"

#include "score_mod.glsl"
#include "attn_dropout.glsl"

const float NEG_INF = -1.0 / 0.0;
const uint DK4 = HEAD_DIM / 4u;
const uint DV4 = HEAD_DIM_V / 4u;

#endif
