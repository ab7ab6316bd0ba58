#include "planning/problem.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "base/checked_product.hpp"
#include "base/vk_util.hpp"
#include "planning/paged_tables.hpp"

namespace vkattn {
namespace {
constexpr std::int64_t kMaxHeadDim = 256;
constexpr std::int64_t kMaxSeq = std::int64_t{1} << 28;  // keeps i + shift +- window inside int32
constexpr std::int64_t kMaxRelDistance = std::int64_t{1} << 20;
constexpr double kLog2e = 1.4426950408889634;

// "desc.sequences.cu_seqlens_q": B + 1 entries from 0, non-decreasing; returns the longest length.
Result<std::int64_t> check_cu_seqlens(const std::vector<std::int32_t>& cu, const char* name, std::int64_t batch) {
  const std::string f = std::string("desc.sequences.") + name;
  if (static_cast<std::int64_t>(cu.size()) != batch + 1) {
    return invalid(f + " has " + num(static_cast<std::int64_t>(cu.size())) +
                   " entries, expected desc.batch + 1 = " + num(batch + 1));
  }
  if (cu[0] != 0) return invalid(f + "[0] = " + num(cu[0]) + " (must be 0)");
  std::int64_t longest = 0;
  for (std::size_t b = 1; b < cu.size(); ++b) {
    if (cu[b] < cu[b - 1]) {
      return invalid(f + "[" + num(static_cast<std::int64_t>(b)) + "] = " + num(cu[b]) + " is less than " + name + "[" +
                     num(static_cast<std::int64_t>(b - 1)) + "] = " + num(cu[b - 1]) + " (must be non-decreasing)");
    }
    longest = std::max<std::int64_t>(longest, cu[b] - cu[b - 1]);
  }
  return longest;
}

Status check_seq_lens(const std::vector<std::int32_t>& lens, const char* name, std::int64_t batch, const char* seq_name,
                      std::int64_t seq) {
  if (lens.empty()) return Status::ok();
  const std::string f = std::string("desc.sequences.") + name;
  if (static_cast<std::int64_t>(lens.size()) != batch) {
    return invalid(f + " has " + num(static_cast<std::int64_t>(lens.size())) +
                   " entries, expected desc.batch = " + num(batch));
  }
  for (std::size_t b = 0; b < lens.size(); ++b) {
    if (lens[b] < 0 || lens[b] > seq) {
      return invalid(f + "[" + num(static_cast<std::int64_t>(b)) + "] = " + num(lens[b]) + " is outside [0, " +
                     seq_name + " = " + num(seq) + "]");
    }
  }
  return Status::ok();
}

Status check_sequences(const AttentionDesc& d, Problem& p) {
  const Sequences& sq = d.sequences;
  if (sq.varlen() && sq.padded()) {
    return invalid("desc.sequences has both cu_seqlens (varlen) and seq_lens (padding); use one");
  }
  if (sq.varlen()) {
    Result<std::int64_t> lq = check_cu_seqlens(sq.cu_seqlens_q, "cu_seqlens_q", d.batch);
    if (!lq) return lq.status();
    Result<std::int64_t> lk = check_cu_seqlens(sq.cu_seqlens_k, "cu_seqlens_k", d.batch);
    if (!lk) return lk.status();
    if (d.seq_q != 0 && d.seq_q < *lq) {
      return invalid("desc.seq_q = " + num(d.seq_q) + " is less than the longest query sequence " + num(*lq) +
                     " (use 0 to take it from cu_seqlens_q)");
    }
    if (d.seq_k != 0 && d.seq_k < *lk) {
      return invalid("desc.seq_k = " + num(d.seq_k) + " is less than the longest key sequence " + num(*lk) +
                     " (use 0 to take it from cu_seqlens_k)");
    }
    p.seq_q = std::max<std::int64_t>({d.seq_q, *lq, 1});
    p.seq_k = std::max<std::int64_t>({d.seq_k, *lk, 1});
    p.total_q = sq.cu_seqlens_q.back();
    p.total_k = sq.cu_seqlens_k.back();
    p.seq_mode = SeqMode::kVarlen;
    return Status::ok();
  }
  VKATTN_TRY(check_seq_lens(sq.seq_lens_q, "seq_lens_q", d.batch, "desc.seq_q", d.seq_q));
  VKATTN_TRY(check_seq_lens(sq.seq_lens_kv, "seq_lens_kv", d.batch, "desc.seq_k", d.seq_k));
  p.seq_mode = sq.padded() ? SeqMode::kPadded : SeqMode::kDense;
  return Status::ok();
}

// desc.paged_kv (paged_kv.hpp): the pool's shape, how it combines, and host tables.
Status check_paged(const AttentionDesc& d, Problem& p) {
  const PagedKV& pk = d.paged_kv;
  VKATTN_TRY(check_paged_shape(pk));
  if (d.sequences.varlen()) {
    return invalid("desc.paged_kv with desc.sequences.cu_seqlens (varlen): page the keys or pack them, not both");
  }
  if (!d.sequences.seq_lens_kv.empty()) {
    return invalid("desc.sequences.seq_lens_kv is given with desc.paged_kv: the keys' lengths are desc.paged_kv.cache_lens");
  }
  if (d.seq_k > pk.max_blocks * pk.block_size) {
    return invalid("desc.seq_k = " + num(d.seq_k) + " exceeds desc.paged_kv.max_blocks * block_size = " +
                   num(pk.max_blocks * pk.block_size));
  }
  p.seq_mode = SeqMode::kPadded;  // per-sequence key lengths: the cache's
  if (!pk.host_tables()) return Status::ok();
  return check_host_tables(pk, d.batch, d.seq_k, "desc.seq_k", 0);
}

Status check_mask_and_mods(const AttentionDesc& d) {
  const Mask& m = d.mask;
  if (m.align != Align::kTopLeft && m.align != Align::kBottomRight) {
    return invalid("desc.mask.align = " + num(static_cast<std::int64_t>(m.align)) + " is not an Align value");
  }
  if (m.window_left && *m.window_left < 0) {
    return invalid("desc.mask.window_left = " + num(*m.window_left) + " is negative (leave it unset for no bound)");
  }
  if (m.window_right && *m.window_right < 0) {
    return invalid("desc.mask.window_right = " + num(*m.window_right) + " is negative (leave it unset for no bound)");
  }
  if (m.q_offset < 0 || m.q_offset > kMaxSeq) {
    return invalid("desc.mask.q_offset = " + num(m.q_offset) + " (must be in [0, 2^28])");
  }
  if (m.k_offset < 0 || m.k_offset > kMaxSeq) {
    return invalid("desc.mask.k_offset = " + num(m.k_offset) + " (must be in [0, 2^28])");
  }
  const ScoreMod& s = d.score_mod;
  // The kernel works in log2 units: c * log2(e) must be a normal float.
  if (s.softcap &&
      !(*s.softcap > 0.0f && std::isnormal(static_cast<float>(static_cast<double>(*s.softcap) * kLog2e)))) {
    return invalid("desc.score_mod.softcap = " + num_real(*s.softcap) +
                   " (must be > 0, with c * log2(e) a normal float)");
  }
  if (static_cast<std::uint32_t>(s.alibi) > 2) {
    return invalid("desc.score_mod.alibi = " + num(static_cast<std::int64_t>(s.alibi)) + " is not an Alibi value");
  }
  if (s.rel_pos_max_distance && (*s.rel_pos_max_distance < 0 || *s.rel_pos_max_distance > kMaxRelDistance)) {
    return invalid("desc.score_mod.rel_pos_max_distance = " + num(*s.rel_pos_max_distance) + " (must be in [0, " +
                   num(kMaxRelDistance) + "])");
  }
  if (s.bias && *s.bias != DType::kF32 && *s.bias != DType::kF16) {
    return invalid(std::string("desc.score_mod.bias = ") + to_string(*s.bias) + " (must be f32 or f16)");
  }
  // Options of a feature that is off are refused, not ignored.
  if (d.qk.rope.style == RopeStyle::kNone) {
    if (d.qk.rope.positions) return invalid("desc.qk.rope.positions = true without desc.qk.rope.style");
    if (!d.qk.rope.grid.empty()) return invalid("desc.qk.rope.grid is given without desc.qk.rope.style");
    if (!d.qk.rope.axis_dims.empty()) return invalid("desc.qk.rope.axis_dims is given without desc.qk.rope.style");
  }
  if (!d.paged_kv.enabled() && d.paged_kv.host_tables()) {
    return invalid(std::string("desc.paged_kv.") + (d.paged_kv.block_table.empty() ? "cache_lens" : "block_table") +
                   " is given with desc.paged_kv.block_size = 0 (K and V not paged)");
  }
  if (d.qk.enabled() && d.paged_kv.enabled()) {
    return invalid("desc.qk with desc.paged_kv: the cache holds keys as appended (transform new K rows with "
                   "QKTransformPlan before KVAppendPlan, and Q before attention)");
  }
  if (!d.qk.rope.grid.empty()) {
    std::int64_t cells = 1;
    for (std::size_t a = 0; a < d.qk.rope.grid.size(); ++a) {
      const std::int64_t e = d.qk.rope.grid[a];
      if (e < 1 || e > kMaxSeq) return invalid("desc.qk.rope.grid[" + num(static_cast<std::int64_t>(a)) + "] = " + num(e) + " (must be in [1, 2^28])");
      cells = std::min(cells * e, kMaxSeq + 1);
    }
    if (d.sequences.varlen() || d.sequences.padded() || d.seq_q != cells || d.seq_k != cells) {
      return invalid("desc.qk.rope.grid (" + num(cells) + " cells) needs dense sequences with desc.seq_q = desc.seq_k = " +
                     num(cells) + " (desc.seq_q = " + num(d.seq_q) + ", desc.seq_k = " + num(d.seq_k) + ")");
    }
  }
  if (!(d.dropout.p >= 0.0f && d.dropout.p < 1.0f)) {
    return invalid("desc.dropout.p = " + num_real(d.dropout.p) + " (must be in [0, 1))");
  }
  return Status::ok();
}

Status check_head_dim(const char* field, std::int64_t v) {
  if (v < 8 || v > kMaxHeadDim || v % 8 != 0) {
    return invalid(std::string(field) + " = " + num(v) + " (must be a multiple of 8 in [8, 256])");
  }
  return Status::ok();
}

}  // namespace

Problem unchecked_problem(const AttentionDesc& d) {
  Problem p;
  p.desc = d;
  p.kv_heads = d.kv_heads == 0 ? d.q_heads : d.kv_heads;
  p.head_dim_v = d.head_dim_v == 0 ? d.head_dim : d.head_dim_v;
  p.seq_q = d.seq_q;
  p.seq_k = d.seq_k;
  p.seq_mode = d.sequences.varlen()                              ? SeqMode::kVarlen
               : d.sequences.padded() || d.paged_kv.enabled() ? SeqMode::kPadded
                                                               : SeqMode::kDense;
  return p;
}

Result<Problem> resolve_problem(const AttentionDesc& d) {
  if (d.dtype != DType::kF32 && d.dtype != DType::kF16 && d.dtype != DType::kBF16) {
    return invalid(std::string("desc.dtype = ") + dtype_text(d.dtype) + " (must be f32, f16 or bf16)");
  }
  if (d.batch < 1) return invalid("desc.batch = " + num(d.batch) + " (must be >= 1)");
  if (d.q_heads < 1) return invalid("desc.q_heads = " + num(d.q_heads) + " (must be >= 1)");
  // (batch, query head) pairs index the grid and the work rows (times at most 2^28 tokens): bounded
  // here so that no product of them wraps.
  if (Result<std::int64_t> pairs = checked_product({{"desc.batch", d.batch}, {"desc.q_heads", d.q_heads}},
                                                   std::int64_t{1} << 31, "2^31", "(batch, head) pairs");
      !pairs) {
    return pairs.status();
  }
  Problem p;
  p.desc = d;
  p.kv_heads = d.kv_heads == 0 ? d.q_heads : d.kv_heads;
  if (p.kv_heads < 1) return invalid("desc.kv_heads = " + num(d.kv_heads) + " (must be >= 1, or 0 for q_heads)");
  if (d.q_heads % p.kv_heads != 0) {
    return invalid("desc.kv_heads = " + num(p.kv_heads) + " does not divide desc.q_heads = " + num(d.q_heads));
  }
  p.seq_q = d.seq_q;
  p.seq_k = d.seq_k;
  if (!d.sequences.varlen()) {
    if (d.seq_q < 1 || d.seq_q > kMaxSeq) return invalid("desc.seq_q = " + num(d.seq_q) + " (must be in [1, 2^28])");
    if (d.seq_k < 1 || d.seq_k > kMaxSeq) return invalid("desc.seq_k = " + num(d.seq_k) + " (must be in [1, 2^28])");
  }
  VKATTN_TRY(check_sequences(d, p));
  if (d.paged_kv.enabled()) VKATTN_TRY(check_paged(d, p));
  if (p.seq_q > kMaxSeq || p.seq_k > kMaxSeq || p.total_q > kMaxSeq || p.total_k > kMaxSeq) {
    return invalid("desc.sequences: more than 2^28 tokens");
  }
  VKATTN_TRY(check_head_dim("desc.head_dim", d.head_dim));
  p.head_dim_v = d.head_dim_v == 0 ? d.head_dim : d.head_dim_v;
  if (d.head_dim_v != 0) VKATTN_TRY(check_head_dim("desc.head_dim_v", d.head_dim_v));
  if (d.scale.has_value() && !std::isfinite(*d.scale)) {
    return invalid("desc.scale = " + num_real(*d.scale) + " is not finite");
  }
  // The kernels score in fp32 as (scale log2 e) q.k: up to 2^64 that stays finite for every fp16
  // q.k of a head dim up to 256 (|q.k| < 2^41); beyond, a large score overflows to inf and its
  // row's softmax to NaN.
  if (d.scale.has_value() && std::abs(static_cast<double>(*d.scale) * kLog2e) > 0x1p64) {
    return invalid("desc.scale = " + num_real(*d.scale) +
                   " (|scale| * log2(e) must be at most 2^64: larger scales overflow fp32 scores)");
  }
  VKATTN_TRY(check_mask_and_mods(d));
  if (!is_kernel_path(d.path)) {
    return invalid("desc.path = " + num(static_cast<std::int64_t>(d.path)) + " is not a KernelPath value");
  }
  return p;
}

}  // namespace vkattn
