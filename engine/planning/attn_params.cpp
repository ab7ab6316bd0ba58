#include "planning/attn_params.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "vkattn/dropout.hpp"

namespace vkattn {
namespace {
constexpr double kLog2e = 1.4426950408889634;
}

AttnParamsHeader attn_params_header(const Problem& p) {
  const AttentionDesc& d = p.desc;
  AttnParamsHeader h;
  h.batch = static_cast<std::uint32_t>(d.batch);
  h.q_heads = static_cast<std::uint32_t>(d.q_heads);
  h.kv_heads = static_cast<std::uint32_t>(p.kv_heads);
  h.seq_q = static_cast<std::uint32_t>(p.seq_q);
  h.seq_k = static_cast<std::uint32_t>(p.seq_k);
  const double scale = d.scale ? static_cast<double>(*d.scale) : 1.0 / std::sqrt(static_cast<double>(d.head_dim));
  h.scale_log2 = static_cast<float>(scale * kLog2e);
  h.softcap_log2 = d.score_mod.softcap ? static_cast<float>(static_cast<double>(*d.score_mod.softcap) * kLog2e) : 0.0f;
  // |j - diag| <= Sq + Sk + |q_offset - k_offset|, so clamping a window there changes nothing
  // and keeps int32 sums exact.
  const std::int64_t position_shift = d.mask.q_offset - d.mask.k_offset;
  const std::int64_t unbounded = p.seq_q + p.seq_k + (position_shift < 0 ? -position_shift : position_shift);
  h.position_shift = static_cast<int>(position_shift);
  h.pack_group = static_cast<std::uint32_t>(d.q_heads / p.kv_heads);
  h.window_left = static_cast<int>(std::min(d.mask.window_left.value_or(unbounded), unbounded));
  h.window_right = static_cast<int>(std::min(d.mask.window_right.value_or(unbounded), unbounded));
  const std::int64_t m = d.score_mod.rel_pos_max_distance.value_or(0);
  h.rel_max_distance = static_cast<int>(m);
  h.rel_buckets = static_cast<std::uint32_t>(2 * m + 1);
  const bool varlen = p.seq_mode == SeqMode::kVarlen;
  h.docs_q_stride_b = varlen ? 0u : static_cast<std::uint32_t>(p.seq_q);
  h.docs_k_stride_b = varlen ? 0u : static_cast<std::uint32_t>(p.seq_k);
  h.work_stride_b = varlen ? 0u : static_cast<std::uint32_t>(d.q_heads * p.seq_q);
  h.work_stride_h = static_cast<std::uint32_t>(varlen ? p.total_q : p.seq_q);
  h.work_rows = static_cast<std::uint32_t>(d.q_heads * (varlen ? p.total_q : d.batch * p.seq_q));
  h.split_stride_lse = h.work_rows;
  h.split_stride_o = static_cast<std::uint32_t>(h.work_rows * p.head_dim_v);
  if (d.dropout.enabled()) {  // seed and offset: written by each recording (record_dropout_rng)
    h.dropout_threshold = dropout_threshold(d.dropout.p);
    h.dropout_scale = dropout_scale(d.dropout.p);
  }
  return h;
}

std::vector<std::byte> attn_params_bytes(const Problem& p) {
  const AttentionDesc& d = p.desc;
  const AttnParamsHeader h = attn_params_header(p);
  const bool varlen = p.seq_mode == SeqMode::kVarlen;
  std::vector<AttnSeqEntry> seqs;
  const Sequences& s = d.sequences;
  if (p.seq_mode != SeqMode::kDense) {
    const auto batch = static_cast<std::size_t>(d.batch);
    seqs.resize(batch);
    for (std::size_t b = 0; b < batch; ++b) {
      AttnSeqEntry& e = seqs[b];
      if (varlen) {
        e.start_q = static_cast<std::uint32_t>(s.cu_seqlens_q[b]);
        e.len_q = static_cast<std::uint32_t>(s.cu_seqlens_q[b + 1] - s.cu_seqlens_q[b]);
        e.start_k = static_cast<std::uint32_t>(s.cu_seqlens_k[b]);
        e.len_k = static_cast<std::uint32_t>(s.cu_seqlens_k[b + 1] - s.cu_seqlens_k[b]);
      } else {
        e.len_q = s.seq_lens_q.empty() ? h.seq_q : static_cast<std::uint32_t>(s.seq_lens_q[b]);
        const std::vector<std::int32_t>& lens_k = d.paged_kv.enabled() ? d.paged_kv.cache_lens : s.seq_lens_kv;
        // (paged with device tables: the kernel reads cache_lens instead)
        e.len_k = lens_k.empty() ? h.seq_k : static_cast<std::uint32_t>(lens_k[b]);
      }
    }
  }
  std::vector<std::byte> bytes(sizeof(AttnParamsHeader) + seqs.size() * sizeof(AttnSeqEntry));
  std::memcpy(bytes.data(), &h, sizeof h);
  if (!seqs.empty()) std::memcpy(bytes.data() + sizeof h, seqs.data(), seqs.size() * sizeof(AttnSeqEntry));
  return bytes;
}

}  // namespace vkattn
