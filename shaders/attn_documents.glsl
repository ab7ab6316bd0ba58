// attn_documents.glsl — document ids (DOCUMENTS: query i sees key j only if their ids are equal).
// Included, after the bindings, by attn_fwd.comp, attn_fwd_cm.comp, attn_bwd_dq.comp,
// attn_bwd_dkdv.comp, attn_bwd_dparam.comp, attn_bwd_dq_cm.comp and attn_bwd_dkdv_cm.comp. Needs
// `params` (docs_q_stride_b, docs_k_stride_b), pc.docs_q_offset, pc.docs_k_offset, docs_q[] and
// docs_k[]. The ids are dense [B, Sq] and [B, Sk], or [Tq] and [Tk] by packed token (varlen: the
// batch strides are 0). The callers check i < len_q, j < len_k and pick what a row past the
// sequence gets (0, or INT_MIN where it must not widen a document range).
#ifndef VKATTN_ATTN_DOCUMENTS_GLSL
#define VKATTN_ATTN_DOCUMENTS_GLSL

// Document id of query i of batch b, whose sequence starts at token start_q (attn_sequence.glsl).
int query_doc(uint b, uint start_q, uint i) {
  return docs_q[pc.docs_q_offset + b * params.docs_q_stride_b + start_q + i];
}

// Document id of key j of batch b, whose sequence starts at token start_k.
int key_doc(uint b, uint start_k, uint j) {
  return docs_k[pc.docs_k_offset + b * params.docs_k_stride_b + start_k + j];
}

#endif
