// attn_mask.glsl — which keys a query sees, and which tiles a block of rows must visit. Included
// by attn_fwd_bindings.glsl and attn_bwd_bindings.glsl (so by every kernel but attn_bwd_pre.comp),
// before `params` and (forward) `pc`: its helpers read only their arguments and the ALIGN_BR,
// CAUSAL and WINDOW specialization constants.
//
// Positions are within one sequence: query i in [0, len_q), key j in [0, len_k). Causal masks,
// windows, ALiBi and relative positions measure from the query's aligned diagonal
//   diag = i + shift,   shift = len_k - len_q (bottom-right, FlashAttention-2) or 0 (top-left),
//                       plus q_offset - k_offset for a slice of a longer sequence (mask.hpp),
// and the mask is the AND of its enabled parts:
//   padding  j < len_k
//   causal   j <= diag
//   window   diag - left <= j <= diag + right
// (document ids are compared by the kernel, which stages them per tile).
#ifndef VKATTN_ATTN_MASK_GLSL
#define VKATTN_ATTN_MASK_GLSL

const int INT_MAX = 0x7fffffff;
const int INT_MIN = -INT_MAX - 1;

// diag(i) = i + shift for a sequence of len_q queries and len_k keys: shift = len_k - len_q
// when ALIGN_BR (bottom-right), else 0 (top-left), plus `position_shift` = q_offset - k_offset
// (params.position_shift; 0 unless the problem is a slice of a longer one).
int diag_shift(uint len_q, uint len_k, int position_shift) {
  return (ALIGN_BR != 0u ? int(len_k) - int(len_q) : 0) + position_shift;
}

bool mask_allows(int diag, int j, int len_k, int left, int right) {
  return j < len_k && (CAUSAL == 0u || j <= diag) && (WINDOW == 0u || (j >= diag - left && j <= diag + right));
}

// Keys [x, y) that may be visible to some query whose diagonal is in [diag0, diag1]; tiles
// outside it are never loaded. An empty range is (0, 0), so it spans no tile.
ivec2 mask_key_range(int diag0, int diag1, int len_k, int left, int right) {
  int lo = 0;
  int hi = len_k;
  if (CAUSAL != 0u) hi = min(hi, diag1 + 1);
  if (WINDOW != 0u) {
    hi = min(hi, diag1 + right + 1);
    lo = max(lo, diag0 - left);
  }
  return hi > lo ? ivec2(lo, hi) : ivec2(0);
}

// Queries [x, y) that may see some key in [key0, key1] of a sequence with len_q queries and
// diagonal shift `shift` (diag(i) = i + shift): the inverse of mask_key_range, for kernels that
// walk query tiles for a key tile. Empty is (0, 0).
ivec2 mask_query_range(int key0, int key1, int len_q, int shift, int left, int right) {
  int lo = 0;
  int hi = len_q;
  if (CAUSAL != 0u) lo = max(lo, key0 - shift);              // j <= i + shift
  if (WINDOW != 0u) {
    lo = max(lo, key0 - right - shift);                      // j <= i + shift + right
    hi = min(hi, key1 + left - shift + 1);                   // j >= i + shift - left
  }
  return hi > lo ? ivec2(lo, hi) : ivec2(0);
}

// Tiles of `tile` keys [x, y) = mask_key_range of the live rows [i0, min(i0 + rows, len_q)) of a
// query block, rounded out to whole tiles; a block wholly past len_q visits none. Tiles outside
// are fully masked and skipped. The kernels pass uniform values, so the tile loop stays uniform.
uvec2 mask_key_tiles(uint i0, uint rows, uint len_q, uint len_k, int shift, int left, int right, uint tile) {
  ivec2 kv_range = ivec2(0);
  if (i0 < len_q) {
    const int last_row = int(min(i0 + rows, len_q)) - 1;
    kv_range = mask_key_range(int(i0) + shift, last_row + shift, int(len_k), left, right);
  }
  return uvec2(uint(kv_range.x) / tile, (uint(kv_range.y) + tile - 1u) / tile);
}

// Tiles of `tile` queries [x, y) = mask_query_range of the live keys [j0, min(j0 + rows, len_k))
// of a key block, rounded out to whole tiles; a block wholly past len_k visits none.
uvec2 mask_query_tiles(uint j0, uint rows, uint len_q, uint len_k, int shift, int left, int right, uint tile) {
  ivec2 q_range = ivec2(0);
  if (j0 < len_k) {
    const int last_key = int(min(j0 + rows, len_k)) - 1;
    q_range = mask_query_range(int(j0), last_key, int(len_q), shift, left, right);
  }
  return uvec2(uint(q_range.x) / tile, (uint(q_range.y) + tile - 1u) / tile);
}

#endif
