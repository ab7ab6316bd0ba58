// attn_doc_range.glsl — tile skipping by document range (DOCUMENTS). A pair is visible only if its
// document ids are equal, so a streamed tile whose ids' range [min, max] misses the range of the
// workgroup's own rows holds no visible pair and is skipped before it is loaded. Included by
// attn_fwd.comp, attn_fwd_cm.comp, attn_bwd_dq_cm.comp (own rows: queries, tiles: keys) and
// attn_bwd_dkdv_cm.comp (own rows: keys, tiles: queries) among their shared arrays, after
// attn_cm_tiles.glsl: glslang emits shared variables in the order the code first names them, and
// these helpers are defined here, so doc_range keeps its place in the kernel's shared memory. Needs
// INT_MAX and INT_MIN (attn_mask.glsl). Each range is gathered in uniform control flow, with the
// barriers in the kernel:
//   doc_range_reset(range); barrier();
//   doc_range_add(range, id) for the id of every row in it (any invocations); barrier();
// then, once both ranges are complete, `if (doc_ranges_disjoint()) continue;` stays uniform.
#ifndef VKATTN_ATTN_DOC_RANGE_GLSL
#define VKATTN_ATTN_DOC_RANGE_GLSL

const uint DOC_RANGE_BLOCK = 0u;  // the workgroup's own rows
const uint DOC_RANGE_TILE = 2u;   // the streamed tile

// [min, max] document id of the workgroup's own rows, then of the streamed tile; empty while min > max.
shared int doc_range[4];

// Empties a range (invocation 0 writes it; a barrier must follow before any doc_range_add).
void doc_range_reset(uint range) {
  if (gl_LocalInvocationID.x == 0u) {
    doc_range[range] = INT_MAX;
    doc_range[range + 1u] = INT_MIN;
  }
}

// Widens a range to hold document id `doc`.
void doc_range_add(uint range, int doc) {
  atomicMin(doc_range[range], doc);
  atomicMax(doc_range[range + 1u], doc);
}

// Whether the tile's range and the own rows' share no document id (then the tile is skipped). Read
// after the barrier that completes both ranges, so every invocation gets the same answer.
bool doc_ranges_disjoint() {
  return doc_range[3] < doc_range[0] || doc_range[2] > doc_range[1];
}

#endif
