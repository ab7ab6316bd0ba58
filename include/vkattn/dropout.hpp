// vkattn/dropout.hpp — dropout on the attention probabilities (training).
//
// With AttentionDesc::dropout.p = p in (0, 1), the forward computes
//   O_i = sum_j P_ij Z_ij / (1 - p') v_j,   P = softmax of the scores (sinks included),
// where Z_ij is 0 (dropped) or 1 (kept) and p' is p rounded down to a multiple of 2^-16
// (dropout_scale); LSE stays that of the undropped softmax, and the
// backward differentiates the same O with the same Z. p = 0 turns dropout off (no cost).
//
// Z comes from a counter-based generator, so it depends only on the call's DropoutRng and the
// element's (b, h, i, j): not on tiles, kernel path, split-K or device, and the backward
// regenerates it exactly when given the forward's DropoutRng. For sequence b (varlen: the
// sequence index), query head h of Hq, query i and key j (positions within the sequence):
//   words = Philox4x32-10(counter = (4 (j / 16) + (j / 2) % 4, i - 8 ((i / 8) % 2), b * Hq + h, offset),
//                         key = (seed & 0xffffffff, seed >> 32))
//   value = half j % 2 (the low 16 bits for even j) of words[2 ((i / 8) % 2) + (j / 8) % 2]
//   Z_ij  = value >= floor(p * 2^16)        (so P(Z = 1) = 1 - p' with p' = floor(p * 2^16) / 2^16)
// One call thus serves eight elements: queries {i0, i0 + 8} x keys {j0, j0 + 1, j0 + 8, j0 + 9} of a
// 16 x 16 block, the elements one lane holds of an NVIDIA 16 x 16 accumulator fragment, so the
// tensor-core kernels pay one generator call per eight elements (FlashAttention-2 compares 8-bit
// values; 16 bits keep the drop probability within 2^-16 of p).
// Philox4x32-10 is Random123's (Salmon et al., SC'11): ten rounds of
//   (hi0, lo0) = 0xD2511F53 * c0, (hi1, lo1) = 0xCD9E8D57 * c2, c = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0),
// the key bumped by (0x9E3779B9, 0xBB67AE85) between rounds; dropout_keep() below computes Z on
// the host.
#pragma once

#include <array>
#include <cstdint>

namespace vkattn {

struct Dropout {
  float p = 0.0f;  // probability of dropping each P_ij, in [0, 1); 0: off
  bool enabled() const { return p != 0.0f; }
};

// Per call (ForwardTensors::dropout, BackwardTensors::dropout): the generator's seed and offset.
// Give each training step its own (e.g. a fixed seed and the step as offset), and the backward the
// forward's.
struct DropoutRng {
  std::uint64_t seed = 0;
  std::uint32_t offset = 0;
};

// Random123's Philox4x32-10 of `counter` under `key`.
std::array<std::uint32_t, 4> philox4x32_10(std::array<std::uint32_t, 4> counter, std::array<std::uint32_t, 2> key);

// floor(p * 2^16), clamped to 2^16 - 1: the 16-bit values below it are dropped.
std::uint32_t dropout_threshold(float p);

// The factor of a kept element: 2^16 / (2^16 - dropout_threshold(p)), i.e. 1 / (1 - p) for p
// rounded down to a multiple of 2^-16, so that E[Z_ij * factor] = 1 exactly.
float dropout_scale(float p);

// Z_ij of element (b, h, i, j) for `q_heads` query heads under `rng` and `p`: true where kept.
bool dropout_keep(const DropoutRng& rng, float p, std::int64_t q_heads, std::int64_t b, std::int64_t h, std::int64_t i,
                  std::int64_t j);

}  // namespace vkattn
