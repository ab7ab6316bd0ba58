// vkattn/sequences.hpp — sequence lengths that differ per batch entry, fixed when a plan is
// created (checked on the host, then copied to the plan's parameter buffer; no submission).
//
// Padding: Q is [B, Hq, Sq, Dk] as usual and batch entry b has seq_lens_q[b] <= Sq real queries
// and seq_lens_kv[b] <= Sk real keys. Keys past the length are masked; query rows past it are
// fully masked (O = 0, LSE = -inf). Either vector may be empty (all Sq, or all Sk).
//
// Varlen (packed): sequences are concatenated along the token axis, FlashAttention's THD
// layout: Q is [Tq, Hq, Dk], K [Tk, Hkv, Dk], V [Tk, Hkv, Dv], O [Tq, Hq, Dv], LSE [Hq, Tq], and
// sequence b holds tokens [cu_seqlens_q[b], cu_seqlens_q[b + 1]). cu_seqlens_* have B + 1
// non-decreasing entries starting at 0 and ending at Tq (Tk). No work is spent past a
// sequence's end. desc.seq_q / seq_k are 0 (then the longest sequence) or any larger bound;
// an additive bias is indexed by position within the sequence, shaped [B, Hq, Sq, Sk] with
// those Sq, Sk. Padding and varlen do not combine.
#pragma once

#include <cstdint>
#include <vector>

namespace vkattn {

struct Sequences {
  std::vector<std::int32_t> seq_lens_q;    // padding: B entries in [0, Sq]
  std::vector<std::int32_t> seq_lens_kv;   // padding: B entries in [0, Sk]
  std::vector<std::int32_t> cu_seqlens_q;  // varlen: B + 1 entries
  std::vector<std::int32_t> cu_seqlens_k;  // varlen: B + 1 entries

  bool varlen() const { return !cu_seqlens_q.empty() || !cu_seqlens_k.empty(); }
  bool padded() const { return !seq_lens_q.empty() || !seq_lens_kv.empty(); }
};

}  // namespace vkattn
