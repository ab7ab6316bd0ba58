// attn_workspace.glsl — the backward workspace's row of a query (attn_bwd_pre.comp writes lse2 and
// delta there, the other backward kernels read them). Included after the bindings
// (attn_bwd_bindings.glsl; attn_bwd_pre.comp declares its own) by attn_bwd_pre.comp,
// attn_bwd_dq.comp, attn_bwd_dkdv.comp, attn_bwd_dparam.comp, attn_bwd_dq_cm.comp and
// attn_bwd_dkdv_cm.comp. Needs `params` (work_stride_b, work_stride_h).
#ifndef VKATTN_ATTN_WORKSPACE_GLSL
#define VKATTN_ATTN_WORKSPACE_GLSL

// Workspace row of query i of (b, h), whose sequence starts at token start_q (attn_sequence.glsl):
// lse2 at work[row], delta at work[params.work_rows + row].
uint work_row(uint b, uint h, uint start_q, uint i) {
  return b * params.work_stride_b + h * params.work_stride_h + start_q + i;
}

#endif
