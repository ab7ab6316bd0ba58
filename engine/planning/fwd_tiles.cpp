#include "planning/fwd_tiles.hpp"

#include <algorithm>
#include <string>

#include "base/vk_util.hpp"
#include "planning/feature_spec.hpp"
#include "planning/split_k.hpp"

namespace vkattn {
namespace {
constexpr std::uint32_t kBlockQ = 64;
constexpr std::uint32_t kMaxBlockK = 64;
constexpr std::uint32_t kKeyStep = 2;
// wide_query_blocks_fit's times, in tenths of a 128-row block's time while it shares its
// multiprocessor with another: a 256-row block (alone on its multiprocessor; 0.80-0.94 measured on
// the H100's full-wave grids, 0.9 a conservative fit) and a 128-row block alone (the last of an
// odd count; about 0.57 measured: 64 blocks of 256 rows took 1.46-1.57x 128 of 128 rows).
constexpr std::int64_t kWideBlockTimeTenths = 9;
constexpr std::int64_t kLoneBlockTimeTenths = 6;

// The coopmat forward's subgroups for forced settings: VKATTN_CM_SUBGROUPS, else those a forced
// query tile implies (four, eight for 256 rows: 32 each); 0 when neither is forced.
std::uint32_t forced_cm_subgroups(std::uint32_t forced_block_q, std::uint32_t forced_subgroups) {
  if (forced_subgroups != 0) return forced_subgroups;
  if (forced_block_q == 256) return 8;
  return forced_block_q != 0 ? kCmSmallestSubgroups : 0;
}

}  // namespace

std::uint32_t cm_shared_bytes(std::uint32_t block_q, std::uint32_t block_k, std::uint32_t dk_real,
                              std::uint32_t dv_real, bool q_shared, std::uint32_t subgroups) {
  const std::uint32_t dk = cm_padded_dim(dk_real), dv = cm_padded_dim(dv_real);
  return (block_k + (q_shared ? block_q : 0)) * (dk / 4 + 2) * 8  // tile_dk_sh: K tile, Q rows
         + block_k * (dv / 4 + 2) * 8                             // tile_dv_sh
         + subgroups * 16 * 20 * 4                                // out_sh: 16 x 20 floats per subgroup
         + block_k * 4 + 16;                                      // doc_k_tile, doc_range
}

std::uint32_t cm_fwd_fragment_registers(std::uint32_t block_q, std::uint32_t block_k, std::uint32_t dk_real,
                                        std::uint32_t dv_real, bool q_shared, std::uint32_t subgroups) {
  const std::uint32_t dk = cm_padded_dim(dk_real), dv = cm_padded_dim(dv_real);
  const std::uint32_t rf = block_q / (16 * subgroups);               // row fragments per subgroup
  return rf * (dv / 16) * 8                                          // O accumulators
         + (q_shared ? 0 : rf * (dk / 16) * 4)                       // Q operands
         + rf * (block_k / 16) * 8                                   // S accumulators
         + 4 * cm_prefetch_chunks(block_k, dk, dv, 32 * subgroups);  // next K/V tile
}

std::uint32_t cm_prefetch_chunks(std::uint32_t rows, std::uint32_t dk_real, std::uint32_t dv_real,
                                 std::uint32_t invocations) {
  const std::uint32_t dk = cm_padded_dim(dk_real), dv = cm_padded_dim(dv_real);
  const auto per_invocation = [&](std::uint32_t width) { return (rows * (width / 8) + invocations - 1) / invocations; };
  return per_invocation(dk) + per_invocation(dv);
}

std::uint32_t cm_decode_registers(std::uint32_t block_k, std::uint32_t key_lanes, std::uint32_t dk_real,
                                  std::uint32_t dv_real, bool q_shared, std::uint32_t rf) {
  const std::uint32_t dk = cm_padded_dim(dk_real), dv = cm_padded_dim(dv_real);
  return rf * (dv / 16) * 8                                     // O accumulators
         + (q_shared ? 0 : rf * (dk / 16) * 4)                  // Q operands
         + rf * (block_k / 16 / key_lanes) * 8                  // S accumulators of the lane's keys
         + 4 * cm_prefetch_chunks(block_k, dk, dv, 32 * kCmSmallestSubgroups);  // next K/V tile
}

bool wide_query_blocks_fit(std::int64_t row_blocks, std::int64_t seq_q, std::uint32_t compute_units) {
  // Blocks spread evenly, so the busiest multiprocessor sets the time: with 256-row blocks (256
  // invocations at 236-255 registers, one per multiprocessor) it runs ceil(wide / units) of them
  // one after another; with 128-row blocks (two per multiprocessor) it runs m = ceil(narrow /
  // units), in pairs, the last alone when m is odd. Padding seq_q to 256 rows counts through the
  // block counts. Fits every grid timed on the H100 (bench/RESULTS_H100.md, thirty-sixth and
  // thirty-seventh sessions), among them 352 blocks of 256 rows (3 against 3 pairs: 0.85x) and
  // 320 (3 against 2 pairs and a lone block: 1.05x).
  const std::int64_t units = compute_units != 0 ? compute_units : kUnknownComputeUnits;
  const std::int64_t wide = row_blocks * ((seq_q + 255) / 256), narrow = row_blocks * ((seq_q + 127) / 128);
  const std::int64_t wide_time = (wide + units - 1) / units * kWideBlockTimeTenths;
  const std::int64_t m = (narrow + units - 1) / units;
  const std::int64_t narrow_time = m / 2 * 10 + m % 2 * kLoneBlockTimeTenths;
  return wide_time < narrow_time;
}

FwdSpecConstants fwd_tiles(const FeatureSpecConstants& features, bool coopmat, const DeviceInfo& info,
                           FwdForcedTiles forced, std::uint32_t decode_rows, bool wide_blocks) {
  FwdSpecConstants spec;
  spec.features = features;
  const std::uint32_t dk = features.head_dim;
  const std::uint32_t dv = features.head_dim_v;
  const bool forced_any = forced.block_q != 0 || forced.block_k != 0 || forced.subgroups != 0;
  // A forced query tile of 64 or 128 with four subgroups keeps the decode shape below (128: two
  // 16-row fragments per subgroup, RF = 2).
  const bool decode_forced_q = (forced.block_q == 64 || forced.block_q == 128) &&
                               (forced.subgroups == 0 || forced.subgroups == kCmSmallestSubgroups);
  if (coopmat && decode_rows != 0 && (decode_forced_q || (forced.block_q == 0 && forced.subgroups == 0))) {
    // Decode: four subgroups of RF 16-row fragments each (BLOCK_Q = 64 RF; RF = 1 unless forced).
    // The packed rows (group x Sq, rounded up to 16, 32 or 64) take some of those fragments, and
    // the subgroups left over take a share of every key tile each (ROW_LANES key lanes, merged at
    // the end): the longest key tile (64, 32, 16) that keeps the most key lanes (16 keys each or
    // more), fits in shared memory and stays within kCmDecodeRegisters (cm_decode_registers),
    // Q in shared memory where it fits.
    const std::uint32_t block_q = decode_forced_q ? forced.block_q : 64;
    const std::uint32_t rf = block_q / (16 * kCmSmallestSubgroups);
    std::uint32_t rows = 16 * rf;
    while (rows < decode_rows && rows < 64) rows *= 2;
    const std::uint32_t want_lanes = block_q / rows;
    spec.key_step = 1;
    spec.block_q = block_q;
    spec.workgroup_size = 32 * kCmSmallestSubgroups;
    spec.block_k = 0;
    for (std::uint32_t lanes = want_lanes; lanes >= 1 && spec.block_k == 0; lanes /= 2) {
      for (std::uint32_t k : {64u, 32u, 16u}) {
        if (k < 16 * lanes || (forced.block_k != 0 && k != forced.block_k)) continue;
        const std::uint32_t q_rows = block_q / lanes;
        const bool qs = cm_shared_bytes(q_rows, k, dk, dv, true, kCmSmallestSubgroups) <= info.max_shared_memory;
        if (cm_shared_bytes(q_rows, k, dk, dv, qs, kCmSmallestSubgroups) > info.max_shared_memory) continue;
        if (forced.block_k == 0 && cm_decode_registers(k, lanes, dk, dv, qs, rf) > kCmDecodeRegisters) continue;
        spec.block_k = k;
        spec.row_lanes = lanes;
        spec.q_shared = qs ? 1 : 0;
        break;
      }
    }
    // Each K/V tile loaded at its turn (KV_AHEAD = 0) when nothing is forced: measured 0.2-3.5 %
    // faster in every decode case timed on the H100 (twenty-ninth session) and as fast or faster,
    // by 3-7 %, in every batch-1 case on the H200 (thirty-first), and the decode tests and the
    // auto suite passed with it on the H100 (thirty-second; bench/RESULTS_H100.md). Forced tiles
    // keep the next tile in registers (the prefill default), so the forced-tile tests still cover
    // that variant.
    if (spec.block_k != 0) {
      if (!forced_any) spec.kv_ahead = 0;
      return spec;
    }
    // Nothing within the budget (Dk = Dv = 256): the prefill tiles' fallback below.
  }
  if (coopmat) {
    spec.key_step = 1;  // unused by attn_fwd_cm.comp
    // Q goes to shared memory whenever it fits there (its registers then hold more S).
    const auto fits = [&](std::uint32_t bq, std::uint32_t bk, bool qs, std::uint32_t sg) {
      return cm_shared_bytes(bq, bk, dk, dv, qs, sg) <= info.max_shared_memory;
    };
    // Subgroup w owns rows 16 RF w .. of the block (RF = 1 or 2 row fragments). The longest key
    // tile (64, 32, 16) whose shared memory fits and whose fragments stay within the register
    // budget, for the first shape that reaches it in the order 4 subgroups x 2 fragments (each
    // K/V fragment read feeds two products), 8 x 1 (the same 128 rows), 4 x 1, 8 x 2. Measured on
    // the H100 (RESULTS_H100.md, eighth and ninth sessions) at D = 64 and 128 only: each key tile
    // costs two barriers and a fetch, and at D = 128 8 x 1 with 64 keys ran 149 TFLOP/s against
    // 141 for 4 x 2 with 16; at D = 64, 4 x 2 reaches 64 keys and eight subgroups lost 24 %, and
    // 64-row blocks (4 x 1) lost to 128-row ones, so they come after both 128-row shapes. At
    // D = 112 the rule's 8 x 1 with 64 keys was within 4 % of the best 128-row shape measured
    // (twenty-fourth session) and stays for masked calls and small grids; D = 64, 72, 80, 96 and
    // 128, and 112 without a mask, take the measured shapes below instead. When no
    // tile is within the budget (e.g. Dk = Dv = 256): the fewest registers, 4 x 1 and 16 keys, Q
    // where it fits (coopmat_blocker checked the shared memory with Q in registers). Forced tiles
    // may exceed the budget; they are for tuning.
    struct Shape {
      std::uint32_t subgroups, rf;
    };
    std::uint32_t bq = 0;
    std::uint32_t bk = 0;
    std::uint32_t sg = 0;
    bool q_shared = false;
    // Head dims where a measured shape beat the rule (H100, coopmat_khr, (4, 16, 4096, D) fp16,
    // bench/RESULTS_H100.md, the sessions named), taken as measured (Q where it was, the next
    // K/V tile in registers or not) when nothing is forced and it fits the device's shared
    // memory. Other coopmat builds and devices take them unmeasured.
    // - D = 64: the rule's 4 x 2 with 64 keys and Q in shared memory, each tile loaded at its
    //   turn: 1.174 / 0.704 ms against 1.329 / 0.770 with the next tile in registers at
    //   (4, 16, 4096, 64), 0.356 / 0.256 against 0.393 / 0.284 at (16, 16, 1024, 64)
    //   (twenty-ninth session, one call).
    // - D = 96: 4 x 2 with 64 keys, Q in registers, each tile loaded at its turn: 1.832 / 0.975 ms
    //   (no mask / causal, (4, 16, 4096, 96)) against 1.850 / 1.115 for 4 x 2 with 32 keys and Q in
    //   shared memory, the earlier choice (thirty-seventh session, one call, two rounds; 8 x 1 with
    //   64 or 32 keys: 2.17-2.67 / 1.29-1.61). That one had beaten the rule's 8 x 1 with 64 keys,
    //   214 / 182 TFLOP/s against 186 / 172 (twenty-fourth session).
    // - D = 128 without a causal or window mask: 4 x 2 with 32 keys, Q in registers, each tile
    //   loaded at its turn: 2.38 ms against 2.50 for 8 x 1 with 32 keys and the next tile in
    //   registers (twenty-eighth session, one call; the same 4 x 2 tiles with the next tile in
    //   registers: 3.31 ms). Without the next tile the driver fits RF = 2 in 255 registers and two
    //   workgroups per multiprocessor, each hiding the other's loads; each K/V fragment read from
    //   shared memory then feeds two products. Causal it ran 1.57 ms against 1.46 (more tiles
    //   cross the diagonal at 32 rows per subgroup), so masked calls keep 8 x 1.
    // - D = 128 otherwise: 8 x 1 with 32 keys, Q in registers, 216 / 189 against 205 / 186 with
    //   64 keys (twenty-fourth session).
    // - D = 72 and 80: 4 x 2 with 64 keys, Q in registers, each tile loaded at its turn (255
    //   registers; the driver spills some to shared memory), with or without a mask and on any
    //   grid timed. (4, 16, 4096, D), no mask / causal, ms: 72 1.446 / 0.859 against 1.622 /
    //   1.038 for the 256-row blocks below (no mask) and the rule's 8 x 1 with 64 keys (causal);
    //   80 1.421 / 0.848 against 1.604 / 1.017; (1, 16, 2048, D): 72 0.1028 / 0.0962 against
    //   0.110 / 0.109, 80 0.0994 / 0.0952 against 0.108 / 0.106; (1, 16, 5776, 72) 0.869 / 0.592
    //   against 0.911 / 0.606; (1, 16, 5632, 80) 0.734 / 0.466 against 0.827 / 0.515 (thirty-
    //   seventh session, H100).
    // - D = 112 without a causal or window mask: 256-row blocks, 8 x 2 (each K/V fragment read
    //   feeds two products, and K/V is read once per 256 rows), Q in registers, each tile loaded
    //   at its turn, 32 keys (64 keys ran 2.350 ms): 2.26 ms against the rule's 2.493 at
    //   (4, 16, 4096, 112) (thirty-fifth session, one call; also 2.256 against 2.481-2.494 in
    //   another). Causal they were 3-25 % slower, so masked calls keep the rule. Only where
    //   `wide_blocks` (wide_query_blocks_fit: the 256-row grid's waves are full enough). The 4 x 2
    //   tiles of 72 and 80 ran 3 % faster here (2.19 / 1.298 against 2.258 / 1.34) but 8 % slower
    //   on (1, 16, 2048, 112) (0.1575 / 0.154 against 0.1451 / 0.1421), so 112 keeps these.
    // The register budget does not apply to these: they were measured as the driver compiled them.
    struct Measured {
      std::uint32_t dk, dv;
      Shape shape;
      std::uint32_t block_k;
      bool q_shared;
      bool kv_ahead;
      bool unmasked_only;  // only without a causal or window mask
    };
    constexpr Measured kMeasured[] = {{64, 64, {4, 2}, 64, true, false, false},
                                      {96, 96, {4, 2}, 64, false, false, false},
                                      {128, 128, {4, 2}, 32, false, false, true},
                                      {128, 128, {8, 1}, 32, false, true, false},
                                      {72, 72, {4, 2}, 64, false, false, false},
                                      {80, 80, {4, 2}, 64, false, false, false},
                                      {112, 112, {8, 2}, 32, false, false, true}};
    const bool masked = features.causal != 0 || features.window != 0;
    for (const Measured& m : kMeasured) {
      const std::uint32_t q = 16 * m.shape.subgroups * m.shape.rf;
      if (forced_any || m.dk != dk || m.dv != dv || (m.unmasked_only && masked) || (q > 128 && !wide_blocks) ||
          info.max_workgroup_invocations < 32 * m.shape.subgroups || !fits(q, m.block_k, m.q_shared, m.shape.subgroups)) {
        continue;
      }
      bq = q, bk = m.block_k, sg = m.shape.subgroups, q_shared = m.q_shared;
      spec.kv_ahead = m.kv_ahead ? 1 : 0;
      break;
    }
    if (bk == 0) {  // the rule
      for (const Shape shape : {Shape{4, 2}, Shape{8, 1}, Shape{4, 1}, Shape{8, 2}}) {
        const std::uint32_t q = 16 * shape.subgroups * shape.rf;
        if ((forced.subgroups != 0 && shape.subgroups != forced.subgroups) ||
            (forced.block_q != 0 && q != forced.block_q)) {
          continue;
        }
        if (info.max_workgroup_invocations < 32 * shape.subgroups) continue;
        for (std::uint32_t k : {64u, 32u, 16u}) {
          if (k <= bk || (forced.block_k != 0 && k != forced.block_k)) continue;
          const bool qs = fits(q, k, true, shape.subgroups);
          if (fits(q, k, qs, shape.subgroups) &&
              cm_fwd_fragment_registers(q, k, dk, dv, qs, shape.subgroups) <= kCmFragmentRegisters) {
            bq = q;
            bk = k;
            sg = shape.subgroups;
            q_shared = qs;
            break;  // this shape's longest key tile
          }
        }
      }
    }
    if (bk == 0) {
      sg = forced_cm_subgroups(forced.block_q, forced.subgroups);
      if (sg == 0) sg = kCmSmallestSubgroups;
      bq = forced.block_q != 0 ? forced.block_q : 16 * sg;
      bk = forced.block_k != 0 ? forced.block_k : kCmSmallestBlockK;  // forced: checked by choose_fwd_tiles
      q_shared = fits(bq, bk, true, sg);
    }
    spec.block_q = bq;
    spec.block_k = bk;
    spec.workgroup_size = 32 * sg;
    spec.q_shared = q_shared ? 1 : 0;
    return spec;
  }
  spec.block_q = std::min<std::uint32_t>(kBlockQ, info.max_workgroup_invocations);
  spec.workgroup_size = spec.block_q;
  spec.key_step = kKeyStep;
  // The longest key tile whose shared memory (fwd_shared_bytes) fits.
  spec.block_k = std::min(kMaxBlockK, spec.block_q);
  while (spec.block_k >= kKeyStep && fwd_shared_bytes(spec, false) > info.max_shared_memory) spec.block_k /= 2;
  return spec;
}

std::uint32_t fwd_shared_bytes(const FwdSpecConstants& s, bool coopmat) {
  const std::uint32_t dk = s.features.head_dim;
  const std::uint32_t dv = s.features.head_dim_v;
  // The coopmat forward holds the workgroup's rows of Q: BLOCK_Q / ROW_LANES (key lanes share rows).
  if (coopmat) {
    return cm_shared_bytes(s.block_q / s.row_lanes, s.block_k, dk, dv, s.q_shared != 0, s.workgroup_size / 32);
  }
  // attn_fwd.comp: fp32 K and V tiles (whose memory the lane merge reuses for half the lanes' O),
  // the lanes' (m, l), the tile's document ids, doc_range.
  const std::uint32_t tiles = s.block_k * (dk + dv) * 4;
  const std::uint32_t merge = s.row_lanes > 1 ? s.block_q / 2 * dv * 4 : 0;
  return std::max(tiles, merge) + (s.row_lanes > 1 ? s.block_q : 2) * 8 + s.block_k * 4 + 16;
}

std::uint64_t fwd_loop_iterations(const FwdSpecConstants& s, std::int64_t seq_k) {
  const std::uint64_t all_tiles = (static_cast<std::uint64_t>(seq_k) + s.block_k - 1) / s.block_k;
  const std::uint64_t tiles = (all_tiles + s.splits - 1) / s.splits;  // one split's share
  const std::uint64_t tile_vec4s =
      static_cast<std::uint64_t>(s.block_k) * (std::max(s.features.head_dim, s.features.head_dim_v) / 4);
  const std::uint64_t loads = (tile_vec4s + s.block_q - 1) / s.block_q;
  std::uint64_t lane_merge = 0;  // the max over lanes, then log2(lanes) rounds
  if (s.row_lanes > 1) {
    lane_merge = s.row_lanes;
    for (std::uint32_t k = s.row_lanes / 2; k > 0; k /= 2) ++lane_merge;
  }
  return tiles * (1 + loads + 2 * (s.block_k / s.row_lanes / s.key_step)) + 1 + lane_merge;
}

Result<FwdSpecConstants> choose_fwd_tiles(const Problem& p, bool coopmat, const DeviceInfo& info, const Overrides& o) {
  const AttentionDesc& d = p.desc;
  FwdForcedTiles forced;
  if (coopmat) {  // the overrides apply to the coopmat kernels only
    forced.block_q = o.cm_block_q.value;
    forced.block_k = o.cm_block_k.value;
    forced.subgroups = forced_cm_subgroups(o.cm_block_q.value, o.cm_subgroups.value);
    const std::string sg_source = o.cm_subgroups.value != 0 ? o.cm_subgroups.text() : o.cm_block_q.text();
    if (32 * forced.subgroups > info.max_workgroup_invocations) {
      return unsupported(sg_source + " needs " + num(32 * forced.subgroups) +
                         " invocations per workgroup, more than maxComputeWorkGroupInvocations = " +
                         num(info.max_workgroup_invocations));
    }
    if (o.cm_block_q.value != 0 && o.cm_subgroups.value != 0) {
      const std::uint32_t rows = o.cm_block_q.value / o.cm_subgroups.value;
      if (rows != 16 && rows != 32) {
        return invalid(o.cm_block_q.text() + " with " + o.cm_subgroups.text() + " gives " + num(rows) +
                       " rows per subgroup (needs 16 or 32)");
      }
    }
    // A forced key tile, or eight subgroups (whose output scratch is twice four's): the least
    // shared memory any query tile then needs (Q in registers; 16 keys unless forced) must fit.
    if (forced.block_k != 0 || forced.subgroups > kCmSmallestSubgroups) {
      const std::uint32_t least_sg = forced.subgroups != 0 ? forced.subgroups : kCmSmallestSubgroups;
      const std::uint32_t bk = forced.block_k != 0 ? forced.block_k : kCmSmallestBlockK;
      const std::uint32_t bytes = cm_shared_bytes(16 * least_sg, bk, static_cast<std::uint32_t>(d.head_dim),
                                                  static_cast<std::uint32_t>(p.head_dim_v), false, least_sg);
      if (bytes > info.max_shared_memory) {
        std::string what = forced.block_k != 0 ? o.cm_block_k.text() : "";
        if (forced.subgroups > kCmSmallestSubgroups) what += (what.empty() ? "" : " with ") + sg_source;
        return unsupported(
            what + " needs " + num(bytes) +
            " bytes of shared memory, more than maxComputeSharedMemorySize = " + num(info.max_shared_memory));
      }
    }
  }

  const std::int64_t packed_rows = d.q_heads / p.kv_heads * p.seq_q;
  const auto decode_rows = static_cast<std::uint32_t>(coopmat && decode_shaped(p) ? packed_rows : 0);
  // Varlen: d.batch sequences, the longest seq_q (fwd_grid's rows of workgroups).
  const bool wide_blocks = wide_query_blocks_fit(d.batch * d.q_heads, p.seq_q, info.compute_units);
  FwdSpecConstants spec = fwd_tiles(feature_spec(p), coopmat, info, forced, decode_rows, wide_blocks);
  if (coopmat && o.cm_no_prefetch.value == 1 && o.cm_stagger.value == 1) {
    return invalid(o.cm_no_prefetch.text() + " with " + o.cm_stagger.text() +
                   ": a tile is either loaded at its turn or staggered, not both");
  }
  if (coopmat && o.cm_no_prefetch.value == 1) spec.kv_ahead = 0;
  if (coopmat && o.cm_stagger.value == 1) spec.kv_ahead = 2;
  spec.write_lse = d.write_lse ? 1u : 0u;
  if (spec.block_k < spec.key_step) {
    return unsupported("desc.head_dim = " + num(d.head_dim) + ", desc.head_dim_v = " + num(p.head_dim_v) + ": " +
                       num(kKeyStep) + " K/V rows exceed maxComputeSharedMemorySize = " + num(info.max_shared_memory));
  }
  if (d.paged_kv.enabled()) {
    while ((1u << spec.paged_shift) < static_cast<std::uint64_t>(d.paged_kv.block_size)) ++spec.paged_shift;
    spec.device_lens = d.paged_kv.host_tables() ? 0u : 1u;
  }
  VKATTN_TRY(choose_split(p, info, o, coopmat, spec));
  VKATTN_TRY(check_fwd_grid(p, spec, info));
  if (info.max_loop_iterations != 0) {
    const std::uint64_t needed = fwd_loop_iterations(spec, p.seq_k);
    if (needed > info.max_loop_iterations) {
      return unsupported("desc.seq_k = " + num(p.seq_k) + " needs " + num(static_cast<std::int64_t>(needed)) +
                         " loop iterations per invocation; " + info.name + " ends shaders after " +
                         num(info.max_loop_iterations) + " (llvmpipe's loop limit)");
    }
  }
  return spec;
}

}  // namespace vkattn

namespace vkattn {

Status check_fwd_grid(const Problem& p, const FwdSpecConstants& spec, const DeviceInfo& info) {
  const AttentionDesc& d = p.desc;
  const WorkgroupCount groups = fwd_grid(p, spec);
  const std::int64_t groups_y = d.batch * (spec.pack_gqa != 0 ? p.kv_heads : d.q_heads);
  if (groups_y > static_cast<std::int64_t>(info.max_workgroup_count[1])) {
    return invalid("desc.batch * desc.q_heads = " + num(d.batch * d.q_heads) + " needs " + num(groups_y) +
                   " workgroups, more than maxComputeWorkGroupCount[1] = " + num(info.max_workgroup_count[1]));
  }
  if (groups[0] > info.max_workgroup_count[0]) {
    return invalid("desc.seq_q = " + num(p.seq_q) + " needs " + num(groups[0]) +
                   " workgroups, more than maxComputeWorkGroupCount[0] = " + num(info.max_workgroup_count[0]));
  }
  return Status::ok();
}

WorkgroupCount fwd_grid(const Problem& p, const FwdSpecConstants& s) {
  const AttentionDesc& d = p.desc;
  const std::int64_t rows = s.pack_gqa != 0 ? (d.q_heads / p.kv_heads) * p.seq_q : p.seq_q;
  const std::int64_t rows_per_group = s.block_q / s.row_lanes;
  const std::int64_t x = (rows + rows_per_group - 1) / rows_per_group;
  const std::int64_t y = d.batch * (s.pack_gqa != 0 ? p.kv_heads : d.q_heads);
  const auto clamp32 = [](std::int64_t v) { return static_cast<std::uint32_t>(std::min<std::int64_t>(v, UINT32_MAX)); };
  return {clamp32(x), clamp32(y), std::max<std::uint32_t>(s.splits, 1)};
}

}  // namespace vkattn
