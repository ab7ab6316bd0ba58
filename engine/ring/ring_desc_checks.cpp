#include "ring/ring_desc_checks.hpp"

#include <bit>
#include <cstdio>
#include <string>
#include <vector>

#include "base/vk_util.hpp"  // invalid, num, num_real

namespace vkattn {
namespace {

// The desc fields every rank must agree on, and their names for the error.
const char* const kAgreedNames[] = {"attention.dtype",
                                    "attention.batch",
                                    "attention.q_heads",
                                    "attention.kv_heads",
                                    "attention.head_dim",
                                    "attention.head_dim_v",
                                    "attention.mask.causal",
                                    "attention.mask.window_left",
                                    "attention.mask.window_right",
                                    "attention.score_mod.softcap",
                                    "attention.score_mod.alibi",
                                    "attention.score_mod.rel_pos_max_distance",
                                    "attention.score_mod.sinks",
                                    "attention.scale",
                                    "seq_total",
                                    "sharding",
                                    "timeout (ms)",
                                    "attention.seq_q",
                                    "attention.seq_k",
                                    "attention.path"};

std::vector<std::int64_t> agreed_fields(const RingDesc& d) {
  const AttentionDesc& a = d.attention;
  const auto opt = [](const std::optional<std::int64_t>& v) { return v ? *v : -1; };
  const auto optf = [](const std::optional<float>& v) {
    return v ? static_cast<std::int64_t>(std::bit_cast<std::uint32_t>(*v)) : -1;
  };
  return {static_cast<std::int64_t>(a.dtype),
          a.batch,
          a.q_heads,
          a.kv_heads == 0 ? a.q_heads : a.kv_heads,
          a.head_dim,
          a.head_dim_v == 0 ? a.head_dim : a.head_dim_v,
          a.mask.causal ? 1 : 0,
          opt(a.mask.window_left),
          opt(a.mask.window_right),
          optf(a.score_mod.softcap),
          static_cast<std::int64_t>(a.score_mod.alibi),
          opt(a.score_mod.rel_pos_max_distance),
          a.score_mod.sinks ? 1 : 0,
          optf(a.scale),
          d.seq_total,
          static_cast<std::int64_t>(d.sharding),
          static_cast<std::int64_t>(d.timeout.count()),
          a.seq_q,
          a.seq_k,
          static_cast<std::int64_t>(a.path)};
}

// Field f of agreed_fields as a user wrote it: floats (stored as their bits) as numbers, unset
// optionals as "unset".
std::string agreed_text(std::size_t f, std::int64_t v) {
  const std::string name = kAgreedNames[f];
  const bool optional = name == "attention.mask.window_left" || name == "attention.mask.window_right" ||
                        name == "attention.score_mod.rel_pos_max_distance" || name == "attention.score_mod.softcap" ||
                        name == "attention.scale";
  if (optional && v == -1) return "unset";
  if (name == "attention.score_mod.softcap" || name == "attention.scale") {
    char text[32];
    std::snprintf(text, sizeof text, "%g", static_cast<double>(std::bit_cast<float>(static_cast<std::uint32_t>(v))));
    return text;
  }
  return num(v);
}

}  // namespace

Status check_ring_desc(const RingDesc& d, int ranks, int rank) {
  const AttentionDesc& a = d.attention;
  if (d.sharding != RingSharding::kContiguous && d.sharding != RingSharding::kZigzag) {
    return invalid("desc.sharding = " + num(static_cast<std::int64_t>(d.sharding)) + " is not a RingSharding value");
  }
  const std::int64_t chunks = d.sharding == RingSharding::kZigzag ? 2 * ranks : ranks;
  if (d.seq_total < chunks || d.seq_total > (std::int64_t{1} << 28)) {
    return invalid("desc.seq_total = " + num(d.seq_total) + " (must be in [" + num(chunks) +
                   ", 2^28]: every one of the " + num(chunks) + " chunks needs a token)");
  }
  if (d.timeout.count() <= 0) return invalid("desc.timeout = " + num(d.timeout.count()) + " ms (must be > 0)");
  const std::int64_t len = ring_shard_length(d.sharding, d.seq_total, ranks, rank);
  if (a.seq_q != 0 && a.seq_q != len) {
    return invalid("desc.attention.seq_q = " + num(a.seq_q) + ", but this rank's shard holds " + num(len) + " tokens");
  }
  if (a.seq_k != 0 && a.seq_k != len) {
    return invalid("desc.attention.seq_k = " + num(a.seq_k) + ", but this rank's shard holds " + num(len) + " tokens");
  }
  if (a.sequences.padded() || a.sequences.varlen()) {
    return invalid("desc.attention.sequences: padding and varlen do not shard over a ring");
  }
  if (a.paged_kv.enabled()) return invalid("desc.attention.paged_kv: a paged cache does not shard over a ring");
  if (a.dtype == DType::kBF16) {
    return invalid(
        "desc.attention.dtype = bf16: the ring takes f32 or f16 (the running O is stored in the call's "
        "dtype at every step's merge, and so is each pair's gradient before it is summed: bf16 would "
        "lose 8 bits each time)");
  }
  if (a.score_mod.bias) {
    return invalid("desc.attention.score_mod.bias: a bias tensor is indexed per shard, not by position");
  }
  if (a.mask.documents) return invalid("desc.attention.mask.documents: document ids do not shard over a ring");
  if (a.qk.enabled()) {
    return invalid("desc.attention.qk: the ring takes Q and K as given (apply QKTransformPlan to each shard first)");
  }
  if (a.dropout.enabled()) {
    return invalid("desc.attention.dropout.p = " + num_real(a.dropout.p) +
                   ": the ring does not take dropout (its mask is keyed by positions within each call)");
  }
  if (a.mask.q_offset != 0 || a.mask.k_offset != 0) {
    return invalid("desc.attention.mask.q_offset / k_offset: the ring sets the offsets itself");
  }
  return Status::ok();
}

Status check_ring_descs_agree(RingComm& comm, const RingDesc& desc) {
  std::vector<std::int64_t> mine = agreed_fields(desc);
  const std::size_t lengths_at = mine.size() - 3;  // seq_q, seq_k: per rank
  Result<std::vector<std::vector<std::int64_t>>> all = comm.allgather(mine, "create: desc agreement");
  if (!all) return all.status();
  for (std::size_t r = 1; r < all->size(); ++r) {
    for (std::size_t f = 0; f < mine.size(); ++f) {
      if (f == lengths_at || f == lengths_at + 1) continue;
      const std::int64_t theirs = (*all)[r][f], first = (*all)[0][f];
      if (theirs != first) {
        return invalid("ring: rank " + num(static_cast<std::int64_t>(r)) + " has desc." + kAgreedNames[f] + " = " +
                       agreed_text(f, theirs) + ", rank 0 has " + agreed_text(f, first) +
                       " (every rank needs the same desc)");
      }
    }
  }
  return Status::ok();
}

}  // namespace vkattn
