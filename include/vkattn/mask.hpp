// vkattn/mask.hpp — which keys each query sees. Every enabled part is a specialization constant
// of the kernel, and the mask is the AND of them.
//
// Positions are within one sequence: query i in [0, Sq), key j in [0, Sk) (per batch entry, after
// padding or varlen lengths are applied). Causal masks, windows, ALiBi and relative positions
// measure from the query's aligned diagonal
//   diag(i) = i + Sk - Sq   (Align::kBottomRight, FlashAttention-2's rule: the last query sees the last key)
//   diag(i) = i             (Align::kTopLeft, PyTorch's is_causal)
// With padding or varlen, Sq and Sk are that batch entry's lengths.
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
