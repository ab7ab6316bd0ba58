// attn_sequence.glsl — where sequence b lies: sequence(b) = (start_q, len_q, start_k, len_k).
// Included after the bindings (attn_*_bindings.glsl; attn_bwd_pre.comp declares its own) by every
// attention kernel: attn_fwd.comp, attn_fwd_cm.comp, attn_bwd_pre.comp, attn_bwd_dq.comp,
// attn_bwd_dkdv.comp, attn_bwd_dparam.comp, attn_bwd_dq_cm.comp and attn_bwd_dkdv_cm.comp.
// Needs SEQ_MODE and `params` (seq_q, seq_k, seqs[]).
#ifndef VKATTN_ATTN_SEQUENCE_GLSL
#define VKATTN_ATTN_SEQUENCE_GLSL

#include "attn_enums.glsl"  // SEQ_*

// Sequence b: queries [0, len_q) stored from token start_q, keys [0, len_k) from start_k. SEQ_MODE
// SEQ_PADDED and SEQ_VARLEN read them per batch from the parameter buffer; dense sequences are the
// whole Sq x Sk problem.
uvec4 sequence(uint b) {
  return SEQ_MODE != SEQ_DENSE ? params.seqs[b] : uvec4(0u, params.seq_q, 0u, params.seq_k);
}

#endif
