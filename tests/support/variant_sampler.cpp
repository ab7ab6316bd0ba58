#include "variant_sampler.hpp"

#include <random>

namespace vkattn::test {

std::vector<CaseShape> sample_variant_cases(std::uint64_t seed, int count) {
  std::mt19937_64 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(std::uniform_int_distribution<int>(0, n - 1)(rng)); };
  auto on = [&]() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng) < 0.4; };
  auto range = [&](std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
  };
  std::vector<CaseShape> cases;
  for (int n = 0; n < count; ++n) {
    CaseShape c;
    c.batch = range(1, 3);
    const std::int64_t kv_heads = range(1, 2);
    c.kv_heads = kv_heads;
    c.q_heads = kv_heads * (std::int64_t{1} << pick(3));  // GQA ratio 1, 2 or 4
    c.seq_q = range(1, 140);
    c.seq_k = range(1, 160);
    const std::int64_t dims[] = {16, 24, 32, 40, 48, 64, 72};  // 24, 40, 72: padded on the coopmat kernels
    c.head_dim = dims[pick(7)];
    if (on()) c.head_dim_v = dims[pick(7)];
    const DType dtypes[] = {DType::kF32, DType::kF16, DType::kBF16};
    c.dtype = dtypes[pick(3)];
    const Layout layouts[] = {Layout::kBHSD, Layout::kBSHD, Layout::kSBHD};
    c.layout = layouts[pick(3)];
    c.with_lse = pick(4) != 0;
    const SeqKind seqs[] = {SeqKind::kDense, SeqKind::kPadded, SeqKind::kVarlen};
    c.seqs = seqs[pick(3)];

    c.mask.align = pick(2) == 0 ? Align::kTopLeft : Align::kBottomRight;
    c.mask.causal = on();
    if (on()) {
      if (pick(3) != 0) c.mask.window_left = range(0, 60);
      if (pick(3) != 0) c.mask.window_right = range(0, 60);
      if (!c.mask.has_window()) c.mask.window_left = range(0, 60);
    }
    c.mask.documents = on();
    c.sorted_docs = pick(4) != 0;

    if (on()) c.mod.softcap = static_cast<float>(range(1, 20)) * 0.1f;
    if (on()) c.mod.alibi = pick(2) == 0 ? Alibi::kPerHead : Alibi::kPerBatchHead;
    if (on()) c.mod.rel_pos_max_distance = range(0, 40);
    if (on()) {
      c.mod.bias = pick(2) == 0 ? DType::kF32 : DType::kF16;
      c.bias_full = {pick(2) == 0, pick(2) == 0, pick(2) == 0};
    }
    c.mod.sinks = on();
    if (pick(4) == 0) c.dropout = pick(2) == 0 ? 0.2f : 0.6f;  // drawn last: the other draws stay as they were
    cases.push_back(c);
  }
  return cases;
}

}  // namespace vkattn::test
