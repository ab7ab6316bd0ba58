// vkattn/mask.hpp — which keys each query sees. Every enabled part is a specialization constant
// of the kernel, and the mask is the AND of them.
//
// Positions are within one sequence: query i in [0, Sq), key j in [0, Sk) (per batch entry, after
// padding or varlen lengths are applied). Causal masks, windows, ALiBi and relative positions
// measure from the query's aligned diagonal
//   diag(i) = i + Sk - Sq   (Align::kBottomRight, FlashAttention-2's rule: the last query sees the last key)
//   diag(i) = i             (Align::kTopLeft, PyTorch's is_causal)
// With padding or varlen, Sq and Sk are that batch entry's lengths.
//
// Partial attention (a slice of a longer sequence: a chunk of K/V, a shard of a ring, a split of
// the keys): q_offset and k_offset place this call's query i and key j at positions q_offset + i
// and k_offset + j of the whole sequence, and every rule above measures between those positions:
//   diag(i) = i + q_offset - k_offset (+ Sk - Sq when bottom-right, with this call's Sq and Sk)
// so a slice sees exactly what the whole sequence's attention would show it. For a slice of a
// sequence whose full query and key lengths are equal, use top-left with the offsets (bottom-right
// and top-left agree there). The padding rule j < Sk stays local to the call.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace vkattn {

enum class Align : std::uint32_t {
  kTopLeft = 0,
  kBottomRight = 1,
};
const char* to_string(Align a);  // "tl", "br"

struct Mask {
  bool causal = false;                       // key j visible iff j <= diag(i)
  std::optional<std::int64_t> window_left;   // sliding window: j >= diag(i) - left (none: unbounded)
  std::optional<std::int64_t> window_right;  //                 j <= diag(i) + right (none: unbounded)
  Align align = Align::kBottomRight;         // alignment of causal, window, ALiBi and relative positions
  bool documents = false;  // ForwardTensors::doc_ids_q/doc_ids_kv: a query sees only keys of its document
  std::int64_t q_offset = 0;  // position of this call's first query in the whole sequence, in [0, 2^28]
  std::int64_t k_offset = 0;  // position of this call's first key in the whole sequence, in [0, 2^28]

  static Mask none() { return {}; }
  static Mask causal_mask(Align a = Align::kBottomRight) {
    Mask m;
    m.causal = true;
    m.align = a;
    return m;
  }
  // A sliding window of `left` keys before and `right` keys after the aligned diagonal.
  static Mask window(std::int64_t left, std::int64_t right, Align a = Align::kBottomRight) {
    Mask m;
    m.window_left = left;
    m.window_right = right;
    m.align = a;
    return m;
  }
  bool has_window() const { return window_left.has_value() || window_right.has_value(); }
};

}  // namespace vkattn
