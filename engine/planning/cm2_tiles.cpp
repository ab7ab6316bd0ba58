#include "planning/cm2_tiles.hpp"

#include <algorithm>
#include <numeric>
#include <string>

#include "base/vk_util.hpp"
#include "planning/bwd_tiles.hpp"
#include "planning/feature_spec.hpp"
#include "planning/fwd_tiles.hpp"

namespace vkattn {
namespace {

std::uint32_t round_up(std::uint32_t v, std::uint32_t to) { return (v + to - 1) / to * to; }

// "128 (32x16x16), 256 (32x32x16)": the device's shapes, for messages.
std::string shape_list(const DeviceInfo& info) {
  std::string s;
  for (const DeviceInfo::Coopmat2Shape& c : info.coopmat2_shapes) {
    if (c.invocations == 0) continue;
    s += (s.empty() ? "" : ", ") + num(c.invocations) + " (" + num(c.m) + "x" + num(c.n) + "x" + num(c.k) + ")";
  }
  return s.empty() ? "none" : s;
}

// The device shape the kernels run with: the one of 32 x VKATTN_CM_SUBGROUPS invocations if forced,
// else of `preferred` invocations where listed, else the smallest.
Result<DeviceInfo::Coopmat2Shape> pick_shape(const DeviceInfo& info, const Overrides& o, std::uint32_t preferred = 128) {
  const std::uint32_t wanted = o.cm_subgroups.value != 0 ? 32 * o.cm_subgroups.value : preferred;
  for (const DeviceInfo::Coopmat2Shape& c : info.coopmat2_shapes) {
    if (c.invocations == wanted) return c;
  }
  if (o.cm_subgroups.value == 0 && info.coopmat2_shapes[0].invocations != 0) return info.coopmat2_shapes[0];
  return unsupported((o.cm_subgroups.value != 0 ? o.cm_subgroups.text() + " needs " + num(wanted) + " invocations"
                                                : std::string("the cooperative-matrix-2 kernels")) +
                     ": the device's cooperative-matrix-2 shapes (invocations (MxNxK granularity)) are " +
                     shape_list(info));
}

// Rows of the workgroup's own side (`rows`, M of every product) and of the streamed side (`cols`:
// N of S, K of P V or dU K) against `shape`, and every dimension against the largest; a failure
// names the override that forced the value.
Status check_tiles(const DeviceInfo& info, const DeviceInfo::Coopmat2Shape& shape, std::uint32_t rows,
                   const TileOverride& rows_forced, std::uint32_t cols, const TileOverride& cols_forced,
                   std::uint32_t dkp, std::uint32_t dvp) {
  const auto refuse = [&](const TileOverride& t, const std::string& why) -> Status {
    return unsupported((t.value != 0 ? t.text() : std::string("the cooperative-matrix-2 kernels")) + ": " + why +
                       " (the device's shapes, invocations (MxNxK granularity): " + shape_list(info) + ")");
  };
  if (rows % shape.m != 0) {
    return refuse(rows_forced, num(rows) + " rows are not a multiple of M = " + num(shape.m) + " at " +
                                   num(shape.invocations) + " invocations");
  }
  if (cols % std::lcm(shape.n, shape.k) != 0) {
    return refuse(cols_forced, num(cols) + " keys are not a multiple of N and K (" + num(shape.n) + ", " +
                                   num(shape.k) + ") at " + num(shape.invocations) + " invocations");
  }
  const std::uint32_t largest = std::max({rows, cols, dkp, dvp});
  if (info.coopmat2_max_dimension != 0 && largest > info.coopmat2_max_dimension) {
    return refuse(rows_forced.value != 0 ? rows_forced : cols_forced,
                  "a matrix dimension of " + num(largest) + " exceeds cooperativeMatrixFlexibleDimensionsMaxDimension = " +
                      num(info.coopmat2_max_dimension));
  }
  return Status::ok();
}

// The forward's default for head dims in (64, 128], measured (H200, (4, 16, 4096, 128) fp16, one
// call, bench/RESULTS_H100.md twentieth session): 128 query rows by 64 keys at 256 invocations ran
// 176.8 TFLOP/s (causal 143.4) against 144.5 (127.8) for 64 x 64 at 128. At D = 64 neither tile
// won both masks (64 x 32: 142.6 / 113.7; 64 x 64: 130.2 / 117.5), so 64 x 64 stays; so it does
// where the wider shape would pad the head dim further (D = 72: 96 columns, not 80; unmeasured).
bool wide_forward_default(const FeatureSpecConstants& features, const DeviceInfo& info, const Overrides& o) {
  if (o.cm_subgroups.value != 0 || o.cm_block_q.value != 0 || o.cm_block_k.value != 0) return false;
  const std::uint32_t d = std::max(features.head_dim, features.head_dim_v);
  if (d <= 64 || d > 128 || info.max_workgroup_invocations < 256) return false;
  // Only where that shape's padding (lcm(16, N, K)) adds no columns to the 16 the head dims need.
  const auto no_extra_pad = [&](std::uint32_t pad) {
    return round_up(features.head_dim, pad) == round_up(features.head_dim, 16) &&
           round_up(features.head_dim_v, pad) == round_up(features.head_dim_v, 16);
  };
  // The shape pick_shape(info, o, 256) would take: the first of 256 invocations.
  const auto c = std::find_if(info.coopmat2_shapes.begin(), info.coopmat2_shapes.end(),
                              [](const DeviceInfo::Coopmat2Shape& s) { return s.invocations == 256; });
  return c != info.coopmat2_shapes.end() && 128 % c->m == 0 && no_extra_pad(std::lcm(16u, std::lcm(c->n, c->k)));
}

}  // namespace

Result<FwdSpecConstants> cm2_fwd_tiles(const FeatureSpecConstants& features, const DeviceInfo& info,
                                       const Overrides& o) {
  const bool wide = wide_forward_default(features, info, o);
  Result<DeviceInfo::Coopmat2Shape> shape = pick_shape(info, o, wide ? 256 : 128);
  if (!shape) return shape.status();
  FwdSpecConstants spec;
  spec.features = features;
  spec.workgroup_size = shape->invocations;
  spec.key_step = 1;  // unused by attn_fwd_cm2.comp
  spec.cm2_dim_pad = std::lcm(16u, std::lcm(shape->n, shape->k));
  const std::uint32_t dkp = round_up(features.head_dim, spec.cm2_dim_pad);
  const std::uint32_t dvp = round_up(features.head_dim_v, spec.cm2_dim_pad);
  spec.block_q = o.cm_block_q.value != 0 ? o.cm_block_q.value : round_up(wide ? 128 : 64, shape->m);
  spec.block_k = o.cm_block_k.value != 0 ? o.cm_block_k.value
                                         : round_up(std::max(dkp, dvp) <= 128 ? 64 : 32, std::lcm(shape->n, shape->k));
  VKATTN_TRY(check_tiles(info, *shape, spec.block_q, o.cm_block_q, spec.block_k, o.cm_block_k, dkp, dvp));
  return spec;
}

Result<BwdSpecConstants> choose_cm2_bwd_tiles(const Problem& p, const DeviceInfo& info, const Overrides& o) {
  Result<DeviceInfo::Coopmat2Shape> shape = pick_shape(info, o);
  if (!shape) return shape.status();
  BwdSpecConstants spec;
  spec.features = feature_spec(p);
  spec.workgroup_size = shape->invocations;
  spec.step = 1;  // unused by attn_bwd_*_cm2.comp
  spec.cm2_dim_pad = std::lcm(16u, std::lcm(shape->n, shape->k));
  const std::uint32_t dkp = round_up(spec.features.head_dim, spec.cm2_dim_pad);
  const std::uint32_t dvp = round_up(spec.features.head_dim_v, spec.cm2_dim_pad);
  spec.block_rows = o.cm_bwd_rows.value != 0 ? o.cm_bwd_rows.value : round_up(64, shape->m);
  spec.block_cols = o.cm_bwd_block_cols.value != 0
                        ? o.cm_bwd_block_cols.value
                        : round_up(std::max(dkp, dvp) <= 128 ? 64 : 32, std::lcm(shape->n, shape->k));
  VKATTN_TRY(check_tiles(info, *shape, spec.block_rows, o.cm_bwd_rows, spec.block_cols, o.cm_bwd_block_cols, dkp, dvp));
  VKATTN_TRY(check_bwd_limits(p, spec, info));
  if (spec.workgroup_size > info.max_workgroup_invocations) {
    return unsupported("the cooperative-matrix-2 backward needs " + num(spec.workgroup_size) +
                       " invocations per workgroup, more than maxComputeWorkGroupInvocations = " +
                       num(info.max_workgroup_invocations));
  }
  return spec;
}

Result<FwdSpecConstants> choose_cm2_fwd_tiles(const Problem& p, const DeviceInfo& info, const Overrides& o) {
  Result<FwdSpecConstants> spec = cm2_fwd_tiles(feature_spec(p), info, o);
  if (!spec) return spec.status();
  spec->write_lse = p.desc.write_lse ? 1u : 0u;
  if (spec->workgroup_size > info.max_workgroup_invocations) {
    return unsupported("the cooperative-matrix-2 forward needs " + num(spec->workgroup_size) +
                       " invocations per workgroup, more than maxComputeWorkGroupInvocations = " +
                       num(info.max_workgroup_invocations));
  }
  VKATTN_TRY(check_fwd_grid(p, *spec, info));
  return spec;
}

}  // namespace vkattn
