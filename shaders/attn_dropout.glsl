// attn_dropout.glsl — dropout on P (DROPOUT): the keep decision of each (sequence b, query head h,
// query i, key j), from a counter-based generator, so the mask does not depend on tiles, path,
// split or device and the backward regenerates it exactly.
//
// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11; the
// Random123 constants): ten rounds of
//   (hi0, lo0) = 0xD2511F53 * c0,  (hi1, lo1) = 0xCD9E8D57 * c2      (32 x 32 -> 64-bit products)
//   c = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
// with the key k bumped by (0x9E3779B9, 0xBB67AE85) between rounds.
//
// One call gives eight 16-bit values, for the eight elements of a group: queries {i0, i0 + 8} x
// keys {j0, j0 + 1, j0 + 8, j0 + 9} of a 16 x 16 block (i0 = i with bit 3 cleared, j0 = j with
// bits 0 and 3 cleared): the elements one lane holds of a 16 x 16 accumulator fragment in
// NVIDIA's layout (attn_cm_layout.glsl), so a coopmat kernel pays one call per fragment.
//   key     = the call's 64-bit seed (low word, high word)
//   counter = (4 (j / 16) + (j / 2) % 4,  i0,  b Hq + h,  offset)
//   value   = half (j % 2) (the low 16 bits for even j) of word 2 ((i / 8) % 2) + (j / 8) % 2
// Kept iff value >= threshold = floor(p 2^16) (so with probability 1 - p' for p' = threshold /
// 2^16, p rounded down to a multiple of 2^-16), and a kept element is scaled by 1 / (1 - p'). The
// values live in the plan's parameter buffer (attn_params.inc): threshold and scale from the
// desc, seed and offset written into it by each recording (vkCmdUpdateBuffer). The fp64 reference
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

// The counter's first word: key j's 16-key block and its column pair within a group.
uint dropout_key_group(uint j) { return ((j >> 4u) << 2u) | ((j >> 1u) & 3u); }

// The generator's eight values for the group of (i, j) in row (b, h).
uvec4 dropout_words(uint b, uint h, uint i, uint j) {
  return philox4x32_10(uvec4(dropout_key_group(j), i & ~8u, b * params.q_heads + h, params.dropout_offset),
                       uvec2(params.dropout_seed_lo, params.dropout_seed_hi));
}

// The factor of value `value` (0..7: half value % 2 of word value / 2) of a group's words:
// 1 / (1 - p') where kept, 0 where dropped.
float dropout_factor_value(uvec4 words, uint value) {
  const uint word = words[value >> 1u];
  const uint v = (value & 1u) != 0u ? word >> 16u : word & 0xFFFFu;
  return v >= params.dropout_threshold ? params.dropout_scale : 0.0;
}

// The factor of P_ij (`words`: dropout_words of (i, j)); its value is 4 ((i / 8) % 2) +
// 2 ((j / 8) % 2) + j % 2.
float dropout_factor(uvec4 words, uint i, uint j) {
  return dropout_factor_value(words, (((i >> 3u) & 1u) << 2u) | (((j >> 3u) & 1u) << 1u) | (j & 1u));
}

float dropout_factor_at(uint b, uint h, uint i, uint j) { return dropout_factor(dropout_words(b, h, i, j), i, j); }

// The coopmat kernels' fragments (NVIDIA's layout, attn_cm_layout.glsl: lane (g, t) holds rows g,
// g + 8 and columns 2t, 2t + 1, 2t + 8, 2t + 9; element e at row g + 8 ((e / 4) % 2), column
// 2t + e % 2 + 8 ((e / 2) % 2)), with the fragment's first row and column multiples of 16:
// - rows queries i0, i0 + 8 and columns keys (forward, dq): the lane's eight elements are the group
//   of dropout_words(b, h, i0, first key + 2t), and element e is its value e (word
//   2 ((e / 4) % 2) + (e / 2) % 2, half e % 2).
// - rows keys and columns queries (dK/dV): queries c + e % 2 and c + 8 + e % 2 (c = first query +
//   2t) make two groups, by e % 2; in either, element e is value 4 ((e / 2) % 2) + 2 ((e / 4) % 2)
//   + g % 2.
// dK/dV's element e: its value in its query's group.
uint dropout_value_of_acc_t(uint e, uint lane) {
  return (((e >> 1u) & 1u) << 2u) | (((e >> 2u) & 1u) << 1u) | ((lane >> 2u) & 1u);
}

// The last generator call of an invocation: its row (b Hq + h), group and words. A kernel keeps
// one per group it visits in turn and pays one call per group instead of one per element: the
// scalar kernels walking a row's keys keep four (groups by (j / 2) % 4 within 16 keys), the
// coopmat forward one for fragments whose rows are packed from several heads (decode).
// The factors are the same as dropout_factor_at's.
struct DropoutWords {
  uint row;    // b Hq + h
  uint i0;     // the query with bit 3 cleared
  uint group;  // dropout_key_group(j)
  uvec4 words;
};

DropoutWords no_dropout_words() { return DropoutWords(0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, uvec4(0u)); }

float dropout_factor_kept(inout DropoutWords w, uint b, uint h, uint i, uint j) {
  const uint row = b * params.q_heads + h;
  if (w.group != dropout_key_group(j) || w.i0 != (i & ~8u) || w.row != row) {
    w = DropoutWords(row, i & ~8u, dropout_key_group(j), dropout_words(b, h, i, j));
  }
  return dropout_factor(w.words, i, j);
}

#endif
