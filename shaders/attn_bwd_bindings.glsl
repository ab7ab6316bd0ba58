// attn_bwd_bindings.glsl — specialization constants and buffers shared by attn_bwd_dq.comp,
// attn_bwd_dkdv.comp, their coopmat versions (attn_bwd_*_cm.comp) and attn_bwd_dparam.comp
// (the layout engine/attn_bwd_interface.hpp mirrors). Each kernel declares its push-constant
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

layout(set = 0, binding = 0) readonly buffer QBuf { uint q_words[]; };
layout(set = 0, binding = 1) readonly buffer KBuf { uint k_words[]; };
layout(set = 0, binding = 2) readonly buffer VBuf { uint v_words[]; };
layout(set = 0, binding = 3) readonly buffer DoBuf { uint do_words[]; };
layout(set = 0, binding = 4) writeonly buffer Out0Buf { uint out0_words[]; };
layout(set = 0, binding = 5) writeonly buffer Out1Buf { uint out1_words[]; };
layout(set = 0, binding = 6) readonly buffer Params {
#define VKATTN_PARAM(T, name) T name;
#include "attn_params.inc"
#undef VKATTN_PARAM
  uvec4 seqs[];  // per batch: start_q, len_q, start_k, len_k (SEQ_MODE != SEQ_DENSE)
} params;
// Written by attn_bwd_pre: [0, rows) LSE * log2 e, [rows, 2 rows) delta = rowsum(dO o O).
layout(set = 0, binding = 7) readonly buffer WorkBuf { float work[]; };
layout(set = 0, binding = 8) readonly buffer BiasBuf { uint bias_words[]; };
layout(set = 0, binding = 9) readonly buffer SlopeBuf { float slopes[]; };
layout(set = 0, binding = 10) readonly buffer TableBuf { float rel_table[]; };
layout(set = 0, binding = 11) readonly buffer DocQBuf { int docs_q[]; };
layout(set = 0, binding = 12) readonly buffer DocKBuf { int docs_k[]; };
layout(set = 0, binding = 13) readonly buffer SinkBuf { float sinks[]; };

#include "score_mod.glsl"

const float NEG_INF = -1.0 / 0.0;
const uint DK4 = HEAD_DIM / 4u;
const uint DV4 = HEAD_DIM_V / 4u;

#endif
