#include "planning/bwd_tiles.hpp"

#include <algorithm>
#include <string>

#include "base/vk_util.hpp"
#include "planning/feature_spec.hpp"
#include "planning/fwd_tiles.hpp"

namespace vkattn {
namespace {
constexpr std::uint32_t kBlockRows = 64;
constexpr std::uint32_t kMaxBlockCols = 64;
constexpr std::uint32_t kStep = 2;

// Loop iterations of one invocation walking `tiles` staged tiles (see attn_bwd_dq.comp).
std::uint64_t tile_loop_iterations(const BwdSpecConstants& s, std::uint64_t tiles) {
  const std::uint64_t vec4s =
      static_cast<std::uint64_t>(s.block_cols) * (std::max(s.features.head_dim, s.features.head_dim_v) / 4);
  const std::uint64_t loads = (vec4s + s.block_rows - 1) / s.block_rows;
  return tiles * (1 + loads + s.block_cols / s.step);
}

// The overrides on the coopmat kernels (the scalar ones ignore them): a forced tiling whose
// workgroup or shared memory (the smallest it can take: BLOCK_COLS 16 unless forced) exceeds
// `info` is kUnsupported naming the overrides and the limit.
Result<CmBwdTiles> cm_bwd_forced_tiles(const Problem& p, const DeviceInfo& info, bool coopmat, const Overrides& o) {
  if (!coopmat) return CmBwdTiles{};
  const CmBwdTiles forced{o.cm_bwd_rows.value, o.cm_bwd_block_cols.value};
  if (forced.rows == 0 && forced.cols == 0) return forced;
  std::string what;
  if (forced.rows != 0) what = o.cm_bwd_rows.text();
  if (forced.cols != 0) what += (what.empty() ? "" : " with ") + o.cm_bwd_block_cols.text();
  const std::uint32_t block_rows = forced.rows != 0 ? forced.rows : kCmBwdSmallestRows;
  if (2 * block_rows > info.max_workgroup_invocations) {
    return unsupported(what + " needs " + num(2 * block_rows) +
                       " invocations per workgroup, more than maxComputeWorkGroupInvocations = " +
                       num(info.max_workgroup_invocations));
  }
  const std::uint32_t bytes =
      cm_bwd_shared_bytes(block_rows, forced.cols != 0 ? forced.cols : kCmBwdSmallestCols,
                          static_cast<std::uint32_t>(p.desc.head_dim), static_cast<std::uint32_t>(p.head_dim_v));
  if (bytes > info.max_shared_memory) {
    return unsupported(
        what + " needs " + num(bytes) +
        " bytes of shared memory, more than maxComputeSharedMemorySize = " + num(info.max_shared_memory));
  }
  return forced;
}


// Output fragments the coopmat `kernel` accumulates over the whole head dim: dQ's, or the larger of
// dK's and dV's (dkdv walks both with one chunk index).
std::uint32_t cm_bwd_out16(std::uint32_t dk16, std::uint32_t dv16, BwdKernel kernel) {
  return kernel == BwdKernel::kDkdv ? std::max(dk16, dv16) : dk16;
}

}  // namespace

// Device limits for the backward of `p`: shared memory, workgroup counts and llvmpipe's loop budget.
Status check_bwd_limits(const Problem& p, const BwdSpecConstants& s, const DeviceInfo& info) {
  if (s.block_cols < s.step) {
    return Status(ErrorCode::kUnsupported, "desc.head_dim = " + num(p.desc.head_dim) + ", desc.head_dim_v = " +
                                               num(p.head_dim_v) + ": the backward's staged rows exceed " +
                                               "maxComputeSharedMemorySize = " + num(info.max_shared_memory));
  }
  const std::int64_t groups_y = p.desc.batch * p.desc.q_heads;
  if (groups_y > static_cast<std::int64_t>(info.max_workgroup_count[1])) {
    return invalid("desc.batch * desc.q_heads = " + num(groups_y) +
                   " exceeds maxComputeWorkGroupCount[1] = " + num(info.max_workgroup_count[1]));
  }
  const std::int64_t groups_x = (std::max(p.seq_q, p.seq_k) + s.block_rows - 1) / s.block_rows;
  if (groups_x > static_cast<std::int64_t>(info.max_workgroup_count[0])) {
    return invalid("desc.seq_q / desc.seq_k need " + num(groups_x) +
                   " workgroups, more than maxComputeWorkGroupCount[0] = " + num(info.max_workgroup_count[0]));
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
                    "the backward of desc.seq_q = " + num(p.seq_q) + ", desc.seq_k = " + num(p.seq_k) + " needs " +
                        num(static_cast<std::int64_t>(needed)) + " loop iterations per invocation; " + info.name +
                        " ends shaders after " + num(info.max_loop_iterations) + " (llvmpipe's loop limit)");
    }
  }
  return Status::ok();
}

std::uint32_t cm_bwd_chunk16(std::uint32_t dk, std::uint32_t dv, BwdKernel kernel) {
  const std::uint32_t dk16 = cm_padded_dim(dk) / 16, dv16 = cm_padded_dim(dv) / 16;
  // Registers of the subgroup's own rows (fp16 A fragments: 4 per lane each) and of each output
  // fragment of the chunk (fp32 accumulators: 8 per lane; dkdv holds one of dK and one of dV).
  // Head dims <= 256 hold at most 128, so at least 4 output fragments fit.
  const std::uint32_t held = 4 * (dk16 + dv16);
  const std::uint32_t fit = (kCmBwdFragmentRegisters - held) / (kernel == BwdKernel::kDkdv ? 16 : 8);
  const std::uint32_t whole = cm_bwd_out16(dk16, dv16, kernel);
  if (whole <= fit) return 0;  // one chunk
  const std::uint32_t chunks = (whole + fit - 1) / fit;
  return (whole + chunks - 1) / chunks;  // balanced: D = 256 gives dq 2 x 8 and dkdv 4 x 4
}

std::uint32_t cm_bwd_chunks(const BwdSpecConstants& s, BwdKernel kernel) {
  const std::uint32_t chunk = kernel == BwdKernel::kDq ? s.dq_chunk16 : s.dkdv_chunk16;
  if (chunk == 0) return 1;
  const std::uint32_t whole = cm_bwd_out16(cm_padded_dim(s.features.head_dim) / 16,
                                           cm_padded_dim(s.features.head_dim_v) / 16, kernel);
  return (whole + chunk - 1) / chunk;
}

std::uint32_t cm_bwd_shared_bytes(std::uint32_t block_rows, std::uint32_t block_cols, std::uint32_t dk_real,
                                  std::uint32_t dv_real) {
  const std::uint32_t dk = cm_padded_dim(dk_real), dv = cm_padded_dim(dv_real);
  const std::uint32_t staged = block_cols * (dk / 4 + 2) * 8 + block_cols * (dv / 4 + 2) * 8;  // uvec2 rows
  const std::uint32_t per_col = block_cols * 12;   // dkdv: lse2, delta, document id (dq: a document id)
  const std::uint32_t fixed = block_rows * 20 * 4  // out_sh: 16 x 20 floats per subgroup of 16 rows
                              + 16;                // doc_range
  return staged + per_col + fixed;
}

BwdSpecConstants bwd_tiles(const FeatureSpecConstants& features, bool coopmat, const DeviceInfo& info,
                           CmBwdTiles forced) {
  BwdSpecConstants s;
  s.features = features;
  const std::uint32_t dk = features.head_dim;
  const std::uint32_t dv = features.head_dim_v;
  if (coopmat) {
    s.step = 1;  // unused by the coopmat kernels
    s.dq_chunk16 = cm_bwd_chunk16(dk, dv, BwdKernel::kDq);
    s.dkdv_chunk16 = cm_bwd_chunk16(dk, dv, BwdKernel::kDkdv);
    // Head dims where a measured shape beat the rule, taken when nothing is forced and it fits
    // the device; every one loads each tile at its turn (TILE_AHEAD = 0). Measured on
    // (4, 16, 4096, 128) fp16, backward alone, coopmat_khr (bench/RESULTS_H100.md):
    // - without a causal or window mask, 64 rows x 64 columns: 7.12 ms against 7.93 for the
    //   rule's 128 x 64 with the next tile in registers (H100, twenty-ninth session);
    // - with one (causal measured), 128 x 64: 3.97 ms against 4.59 for the rule's same tiles with
    //   the next tile in registers and 4.03 for 64 x 64 without (H200, thirty-first session).
    // Without the next tile in registers (64 per invocation at D = 128 with 128 invocations,
    // which is why the rule's prefetch limit gives D = 128 eight subgroups) two 128-invocation
    // workgroups share a multiprocessor, each hiding the other's loads. (D = 64, the same tiles
    // with the prefetch off: 7.87 ms against 7.98, too close to one measurement's noise to change
    // the rule.)
    struct Measured {
      std::uint32_t dk, dv;
      bool masked;
      std::uint32_t rows, cols;
    };
    constexpr Measured kMeasured[] = {{128, 128, false, 64, 64}, {128, 128, true, 128, 64}};
    const bool masked = features.causal != 0 || features.window != 0;
    for (const Measured& m : kMeasured) {
      if (forced.rows != 0 || forced.cols != 0 || masked != m.masked || m.dk != dk || m.dv != dv ||
          2 * m.rows > info.max_workgroup_invocations ||
          cm_bwd_shared_bytes(m.rows, m.cols, dk, dv) > info.max_shared_memory) {
        continue;
      }
      s.block_rows = m.rows;
      s.block_cols = m.cols;
      s.workgroup_size = 2 * m.rows;
      s.tile_ahead = 0;
      return s;
    }
    // The rule: the longest column tile any row count reaches; ties go to the first (64 rows).
    s.block_rows = s.block_cols = 0;
    for (const std::uint32_t rows : {kCmBwdSmallestRows, 2 * kCmBwdSmallestRows}) {
      if ((forced.rows != 0 && rows != forced.rows) ||
          (forced.rows == 0 && rows > kCmBwdSmallestRows && 2 * rows > info.max_workgroup_invocations)) {
        continue;
      }
      const auto fits = [&](std::uint32_t bc) {
        return cm_bwd_shared_bytes(rows, bc, dk, dv) <= info.max_shared_memory &&
               cm_prefetch_chunks(bc, dk, dv, 2 * rows) <= kCmPrefetchChunks;
      };
      std::uint32_t bc = kMaxBlockCols;
      while (bc > 16 && !fits(bc)) bc /= 2;
      // 64 rows keep 16 columns even unchecked (coopmat_blocker refused what cannot hold them).
      if (forced.rows == 0 && forced.cols == 0 && rows > kCmBwdSmallestRows && !fits(bc)) continue;
      if (forced.cols != 0) bc = forced.cols;
      if (bc > s.block_cols) {
        s.block_rows = rows;
        s.block_cols = bc;
      }
    }
    s.workgroup_size = 2 * s.block_rows;  // one 32-lane subgroup per 16 rows
    return s;
  }
  s.block_rows = std::min<std::uint32_t>(kBlockRows, info.max_workgroup_invocations);
  s.workgroup_size = s.block_rows;
  s.step = kStep;
  // The longest staged tile whose shared memory fits in both kernels (dkdv's is the larger).
  s.block_cols = std::min(kMaxBlockCols, s.block_rows);
  while (s.block_cols >= kStep && bwd_shared_bytes(s, BwdKernel::kDkdv, false) > info.max_shared_memory) {
    s.block_cols /= 2;
  }
  return s;
}

std::uint32_t bwd_shared_bytes(const BwdSpecConstants& s, BwdKernel kernel, bool coopmat) {
  const std::uint32_t dk = s.features.head_dim;
  const std::uint32_t dv = s.features.head_dim_v;
  const std::uint32_t cols = s.block_cols;
  switch (kernel) {
    case BwdKernel::kPre:
      return 0;
    case BwdKernel::kParam:
      return s.block_rows * 4;  // one partial sum per invocation
    case BwdKernel::kDq:
      // Staged K and V rows (fp16 uvec2 rows on the coopmat path, fp32 on the scalar one) and the
      // tile's document ids; the coopmat kernel's output scratch and doc_range.
      return coopmat ? cm_bwd_shared_bytes(s.block_rows, cols, dk, dv) - cols * 8 : cols * ((dk + dv) * 4 + 4);
    case BwdKernel::kDkdv:
      // Staged Q and dO rows, and lse2, delta and the document id of each.
      return coopmat ? cm_bwd_shared_bytes(s.block_rows, cols, dk, dv) : cols * ((dk + dv) * 4 + 12);
  }
  return 0;
}

BwdSpecConstants bwd_pre_spec(const BwdSpecConstants& s) {
  BwdSpecConstants pre;
  pre.block_rows = s.block_rows;
  pre.features = FeatureSpecConstants{};
  pre.features.head_dim_v = s.features.head_dim_v;
  pre.features.dtype = s.features.dtype;
  pre.features.seq_mode = s.features.seq_mode;
  pre.block_cols = pre.features.head_dim = pre.step = 0;
  return pre;
}

BwdSpecConstants bwd_param_spec(const BwdSpecConstants& s, BwdParam which) {
  BwdSpecConstants param = s;  // dparam reads BLOCK_ROWS (its workgroup) and the features
  param.param = static_cast<std::uint32_t>(which);
  param.workgroup_size = param.block_rows;
  param.block_cols = param.step = 0;
  return param;
}

Result<BwdSpecConstants> choose_bwd_tiles(const Problem& p, bool coopmat, const DeviceInfo& info,
                                          const Overrides& overrides) {
  Result<CmBwdTiles> forced = cm_bwd_forced_tiles(p, info, coopmat, overrides);
  if (!forced) return forced.status();
  BwdSpecConstants spec = bwd_tiles(feature_spec(p), coopmat, info, forced.value());
  if (coopmat && overrides.cm_no_prefetch.value == 1) spec.tile_ahead = 0;
  VKATTN_TRY(check_bwd_limits(p, spec, info));
  return spec;
}

}  // namespace vkattn
