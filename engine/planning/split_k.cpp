#include "planning/split_k.hpp"

#include <algorithm>
#include <string>

#include "base/vk_util.hpp"
#include "planning/fwd_tiles.hpp"

namespace vkattn {
namespace {

std::uint32_t pow2_at_least(std::uint64_t v) {
  std::uint32_t p = 1;
  while (p < v && p < (1u << 30)) p *= 2;
  return p;
}

std::uint32_t pow2_at_most(std::uint64_t v) {
  std::uint32_t p = 1;
  while (static_cast<std::uint64_t>(p) * 2 <= v && p < (1u << 30)) p *= 2;
  return p;
}

std::int64_t group_of(const Problem& p) { return p.desc.q_heads / p.kv_heads; }

// Rows of the kernel's grid per (batch, head slot): group x Sq packed, else Sq.
std::int64_t grid_rows(const Problem& p, const FwdSpecConstants& s) {
  return s.pack_gqa != 0 ? group_of(p) * p.seq_q : p.seq_q;
}

std::int64_t work_rows(const Problem& p) {
  return p.desc.q_heads * (p.seq_mode == SeqMode::kVarlen ? p.total_q : p.desc.batch * p.seq_q);
}

}  // namespace

bool decode_shaped(const Problem& p) {
  return group_of(p) * p.seq_q <= kDecodeRows && p.seq_k >= kDecodeKeysPerQuery * p.seq_q;
}

std::uint64_t split_workspace_bytes(const Problem& p, const FwdSpecConstants& s) {
  if (s.splits <= 1) return 0;
  return std::uint64_t{s.splits} * static_cast<std::uint64_t>(work_rows(p)) *
         static_cast<std::uint64_t>(p.head_dim_v + 1) * 4;
}

Status choose_split(const Problem& p, const DeviceInfo& info, const Overrides& o, bool coopmat, FwdSpecConstants& s) {
  s.pack_gqa = 0;
  if (!coopmat) s.row_lanes = 1;  // the coopmat forward's key lanes come with its tiles (fwd_tiles)
  s.splits = 1;
  if (decode_shaped(p)) s.pack_gqa = group_of(p) > 1 ? 1u : 0u;
  if (decode_shaped(p) && !coopmat) {
    const std::uint32_t rows = std::min(pow2_at_least(static_cast<std::uint64_t>(grid_rows(p, s))), s.block_q);
    // Lanes split each tile's keys: as many as the rows leave, each with KEY_STEP keys or more;
    // none where the lane merge's scratch does not fit in shared memory (it holds half the
    // workgroup's O rows whatever the lane count).
    s.row_lanes = std::min(s.block_q / rows, s.block_k / s.key_step);
    while (s.row_lanes > 1 && fwd_shared_bytes(s, false) > info.max_shared_memory) s.row_lanes /= 2;
  }
  const std::uint64_t tiles = (static_cast<std::uint64_t>(p.seq_k) + s.block_k - 1) / s.block_k;
  const std::uint64_t block_rows = s.block_q / s.row_lanes;  // rows of one workgroup
  const std::uint64_t row_blocks = (static_cast<std::uint64_t>(grid_rows(p, s)) + block_rows - 1) / block_rows;
  const std::uint64_t heads = static_cast<std::uint64_t>(s.pack_gqa != 0 ? p.kv_heads : p.desc.q_heads);
  const std::uint64_t workgroups = row_blocks * static_cast<std::uint64_t>(p.desc.batch) * heads;

  std::uint32_t splits = 1;
  if (work_rows(p) == 0) {  // varlen with no query tokens: nothing to split (or to merge)
    s.splits = 1;
    return Status::ok();
  }
  if (o.splits.value != 0) {
    splits = o.splits.value;
  } else if (decode_shaped(p)) {
    const std::uint64_t units = info.compute_units != 0 ? info.compute_units : kUnknownComputeUnits;
    const std::uint64_t wg_rows = std::min<std::uint64_t>(static_cast<std::uint64_t>(grid_rows(p, s)), block_rows);
    const std::uint64_t by_workspace = static_cast<std::uint64_t>(p.seq_k) / (kKeysPerWorkspaceRow * wg_rows);
    const std::uint64_t most = std::max<std::uint64_t>(std::min(tiles / kMinTilesPerSplit, by_workspace), 1);
    // The coopmat kernel's count rounds down, the scalar kernel's up (split_k.hpp).
    const auto coopmat_count = [&](std::uint64_t per_unit) {
      return std::min(pow2_at_most(std::max<std::uint64_t>(per_unit * units / workgroups, 1)), pow2_at_most(most));
    };
    if (!coopmat) {
      splits = std::min(pow2_at_least((kScalarWorkgroupsPerUnit * units + workgroups - 1) / workgroups), pow2_at_most(most));
    } else {
      splits = coopmat_count(kCoopmatWorkgroupsPerUnit);
      if (wg_rows >= kCoopmatWideRows && tiles / splits < kCoopmatWideSplitTiles) {
        splits = coopmat_count(kCoopmatWideWorkgroupsPerUnit);
      }
    }
  }
  // llvmpipe: enough splits that each invocation's loops stay within the budget.
  const auto fits_budget = [&](std::uint32_t n) {
    FwdSpecConstants t = s;
    t.splits = n;
    return info.max_loop_iterations == 0 || fwd_loop_iterations(t, p.seq_k) <= info.max_loop_iterations;
  };
  if (!fits_budget(splits)) {
    if (o.splits.value != 0) {
      return unsupported(o.splits.text() + ": desc.seq_k = " + num(p.seq_k) + " needs more splits on " + info.name +
                         ", whose shaders end after " + num(info.max_loop_iterations) + " loop iterations");
    }
    while (splits < kMaxSplits && !fits_budget(splits)) splits *= 2;
    if (!fits_budget(splits)) {
      return unsupported("desc.seq_k = " + num(p.seq_k) + " needs more than " + num(kMaxSplits) + " splits on " +
                         info.name + " (llvmpipe's loop limit of " + num(info.max_loop_iterations) + " iterations)");
    }
  }
  if (splits > info.max_workgroup_count[2]) {
    return unsupported((o.splits.value != 0 ? o.splits.text() : "splits = " + num(splits)) +
                       " exceeds maxComputeWorkGroupCount[2] = " + num(info.max_workgroup_count[2]));
  }
  s.splits = splits;
  const std::uint64_t bytes = split_workspace_bytes(p, s);
  if (bytes > info.max_storage_buffer_range || (info.max_buffer_size != 0 && bytes > info.max_buffer_size)) {
    return unsupported("the split-K workspace of " + num(splits) + " splits (" + num(static_cast<std::int64_t>(bytes)) +
                       " bytes) exceeds maxStorageBufferRange = " +
                       num(static_cast<std::int64_t>(info.max_storage_buffer_range)) +
                       (o.splits.value != 0 ? " (" + o.splits.text() + ")" : std::string()));
  }
  return Status::ok();
}

}  // namespace vkattn
