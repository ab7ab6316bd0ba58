// attn_dropout.glsl — dropout on P (DROPOUT): the keep decision of each (sequence b, query head h,
// query i, key j), from a counter-based generator, so the mask does not depend on tiles, path,
// split or device and the backward regenerates it exactly.
//
// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11; the
// Random123 constants): ten rounds of
//   (hi0, lo0) = 0xD2511F53 * c0,  (hi1, lo1) = 0xCD9E8D57 * c2      (32 x 32 -> 64-bit products)
//   c = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
// with the key k bumped by (0x9E3779B9, 0xBB67AE85) between rounds.
// Element (b, h, i, j): key = the call's 64-bit seed, counter = (j / 4, i, b * Hq + h, offset),
// word j % 4 of the result; kept iff that word >= threshold = floor(p * 2^32) (so with
// probability 1 - p up to 2^-32), and a kept element is scaled by 1 / (1 - p). The values live in
// the plan's parameter buffer (attn_params.inc): threshold and scale from the desc, seed and
// offset written into it by each recording (vkCmdUpdateBuffer). The fp64 reference
// (tests/support/philox_ref.cpp) implements the same generator; include/vkattn/dropout.hpp
// documents it for users.
// Needs `params` (attn_params_buffer.glsl).
#ifndef VKATTN_ATTN_DROPOUT_GLSL
#define VKATTN_ATTN_DROPOUT_GLSL

uvec4 philox4x32_10(uvec4 c, uvec2 k) {
  [[unroll]] for (uint round = 0u; round < 10u; ++round) {
    if (round > 0u) k += uvec2(0x9E3779B9u, 0xBB67AE85u);
    uint hi0, lo0, hi1, lo1;
    umulExtended(0xD2511F53u, c.x, hi0, lo0);
    umulExtended(0xCD9E8D57u, c.z, hi1, lo1);
    c = uvec4(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
  }
  return c;
}

// The generator's four words for keys 4 (j / 4) .. 4 (j / 4) + 3 of query i of (b, h): one call
// serves four consecutive keys.
uvec4 dropout_words(uint b, uint h, uint i, uint j) {
  return philox4x32_10(uvec4(j >> 2u, i, b * params.q_heads + h, params.dropout_offset),
                       uvec2(params.dropout_seed_lo, params.dropout_seed_hi));
}

// The factor of P_ij: 1 / (1 - p) where kept, 0 where dropped (`words`: dropout_words of j).
float dropout_factor(uvec4 words, uint j) {
  return words[j & 3u] >= params.dropout_threshold ? params.dropout_scale : 0.0;
}

float dropout_factor_at(uint b, uint h, uint i, uint j) { return dropout_factor(dropout_words(b, h, i, j), j); }

// The last generator call of an invocation: its row (b Hq + h, i), its group of four keys j / 4,
// and its words. A kernel that visits a row's keys in order (the scalar kernels' key loops; the
// coopmat accumulators, whose lane holds keys (c, c + 1) of a row next to each other) keeps one
// and pays one call per four keys (two per four in the coopmat layout) instead of one per key.
// The factors are the same as dropout_factor_at's.
struct DropoutWords {
  uint row;    // b Hq + h
  uint i;      // the query
  uint group;  // j / 4
  uvec4 words;
};

DropoutWords no_dropout_words() { return DropoutWords(0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, uvec4(0u)); }

float dropout_factor_kept(inout DropoutWords w, uint b, uint h, uint i, uint j) {
  const uint row = b * params.q_heads + h;
  if (w.group != (j >> 2u) || w.i != i || w.row != row) {
    w = DropoutWords(row, i, j >> 2u, dropout_words(b, h, i, j));
  }
  return dropout_factor(w.words, j);
}

#endif
