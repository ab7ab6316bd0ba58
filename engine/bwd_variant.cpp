#include "bwd_variant.hpp"

#include <algorithm>
#include <string>

#include "vk_util.hpp"

namespace vkattn {
namespace {
constexpr std::uint32_t kBlockRows = 64;
constexpr std::uint32_t kMaxBlockCols = 64;
constexpr std::uint32_t kStep = 2;

std::string n(std::int64_t v) { return std::to_string(v); }

// Loop iterations of one invocation walking `tiles` staged tiles (see attn_bwd_dq.comp).
std::uint64_t tile_loop_iterations(const BwdSpecConstants& s, std::uint64_t tiles) {
  const std::uint64_t vec4s = static_cast<std::uint64_t>(s.block_cols) * (std::max(s.head_dim, s.head_dim_v) / 4);
  const std::uint64_t loads = (vec4s + s.block_rows - 1) / s.block_rows;
  return tiles * (1 + loads + s.block_cols / s.step);
}
}  // namespace

BwdSpecConstants choose_bwd_variant(const FwdProblem& p, const DeviceInfo& info) {
  const FwdSpecConstants f = choose_fwd_variant(p, info);  // the feature constants are the forward's
  BwdSpecConstants s;
  s.head_dim = f.head_dim;
  s.head_dim_v = f.head_dim_v;
  s.dtype = f.dtype;
  s.align_br = f.align_br;
  s.causal = f.causal;
  s.window = f.window;
  s.documents = f.documents;
  s.seq_mode = f.seq_mode;
  s.softcap = f.softcap;
  s.alibi = f.alibi;
  s.rel_pos = f.rel_pos;
  s.bias = f.bias;
  s.block_rows = std::min<std::uint32_t>(kBlockRows, info.max_workgroup_invocations);
  s.step = kStep;
  // Per staged row: a Q (or K) row and a dO (or V) row in fp32, plus lse2, delta and a document id.
  const std::uint32_t bytes_per_row = (s.head_dim + s.head_dim_v) * 4u + 12u;
  std::uint32_t bc = std::min(kMaxBlockCols, s.block_rows);
  while (bc >= kStep && bc * bytes_per_row > info.max_shared_memory) bc /= 2;
  s.block_cols = bc;
  return s;
}

BwdSpecConstants bwd_pre_spec(const BwdSpecConstants& s) {
  BwdSpecConstants pre;
  pre.block_rows = s.block_rows;
  pre.head_dim_v = s.head_dim_v;
  pre.dtype = s.dtype;
  pre.seq_mode = s.seq_mode;
  pre.block_cols = pre.head_dim = pre.step = 0;
  return pre;
}

std::string bwd_variant_name(const FwdProblem& p, const BwdSpecConstants& s) {
  std::string name = "attn_bwd_";
  name += feature_name(p.desc);
  name += "_br" + n(s.block_rows) + "_bc" + n(s.block_cols) + "_st" + n(s.step) + "_scalar";
  return name;
}

Status check_bwd_limits(const FwdProblem& p, const BwdSpecConstants& s, const DeviceInfo& info) {
  if (s.block_cols < s.step) {
    return Status(ErrorCode::kUnsupported, "desc.head_dim = " + n(p.desc.head_dim) + ", desc.head_dim_v = " +
                                               n(p.head_dim_v) + ": the backward's staged rows exceed " +
                                               "maxComputeSharedMemorySize = " + n(info.max_shared_memory));
  }
  const std::int64_t groups_y = p.desc.batch * p.desc.q_heads;
  if (groups_y > static_cast<std::int64_t>(info.max_workgroup_count[1])) {
    return invalid("desc.batch * desc.q_heads = " + n(groups_y) +
                   " exceeds maxComputeWorkGroupCount[1] = " + n(info.max_workgroup_count[1]));
  }
  const std::int64_t groups_x = (std::max(p.seq_q, p.seq_k) + s.block_rows - 1) / s.block_rows;
  if (groups_x > static_cast<std::int64_t>(info.max_workgroup_count[0])) {
    return invalid("desc.seq_q / desc.seq_k need " + n(groups_x) +
                   " workgroups, more than maxComputeWorkGroupCount[0] = " + n(info.max_workgroup_count[0]));
  }
  if (info.max_loop_iterations != 0) {
    const std::uint64_t cols = s.block_cols;
    const std::uint64_t dq = tile_loop_iterations(s, (static_cast<std::uint64_t>(p.seq_k) + cols - 1) / cols) + 1;
    const auto group = static_cast<std::uint64_t>(p.desc.q_heads / p.kv_heads);
    const std::uint64_t dkdv =
        group * (1 + tile_loop_iterations(s, (static_cast<std::uint64_t>(p.seq_q) + cols - 1) / cols)) + 1;
    const std::uint64_t needed = std::max(dq, dkdv);
    if (needed > info.max_loop_iterations) {
      return Status(ErrorCode::kUnsupported,
                    "the backward of desc.seq_q = " + n(p.seq_q) + ", desc.seq_k = " + n(p.seq_k) + " needs " +
                        n(static_cast<std::int64_t>(needed)) + " loop iterations per invocation; " + info.name +
                        " ends shaders after " + n(info.max_loop_iterations) + " (llvmpipe's loop limit)");
    }
  }
  return Status::ok();
}

}  // namespace vkattn
