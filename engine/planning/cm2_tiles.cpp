#include "planning/cm2_tiles.hpp"

#include <algorithm>
#include <numeric>
#include <string>

#include "base/vk_util.hpp"
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

}  // namespace

Result<FwdSpecConstants> cm2_fwd_tiles(const FeatureSpecConstants& features, const DeviceInfo& info,
                                       const Overrides& o) {
  const DeviceInfo::Coopmat2Shape* shape = nullptr;
  const std::uint32_t wanted = o.cm_subgroups.value != 0 ? 32 * o.cm_subgroups.value : 128;
  for (const DeviceInfo::Coopmat2Shape& c : info.coopmat2_shapes) {
    if (c.invocations == wanted) shape = &c;
  }
  if (shape == nullptr && o.cm_subgroups.value == 0 && info.coopmat2_shapes[0].invocations != 0) {
    shape = &info.coopmat2_shapes[0];
  }
  if (shape == nullptr) {
    return unsupported((o.cm_subgroups.value != 0 ? o.cm_subgroups.text() + " needs " + num(wanted) + " invocations"
                                                  : std::string("the cooperative-matrix-2 forward")) +
                       ": the device's cooperative-matrix-2 shapes (invocations (MxNxK granularity)) are " +
                       shape_list(info));
  }
  FwdSpecConstants spec;
  spec.features = features;
  spec.workgroup_size = shape->invocations;
  spec.key_step = 1;  // unused by attn_fwd_cm2.comp
  spec.cm2_dim_pad = std::max({16u, shape->n, shape->k});
  const std::uint32_t dkp = round_up(features.head_dim, spec.cm2_dim_pad);
  const std::uint32_t dvp = round_up(features.head_dim_v, spec.cm2_dim_pad);
  const std::uint32_t key_gran = std::lcm(shape->n, shape->k);
  spec.block_q = o.cm_block_q.value != 0 ? o.cm_block_q.value : round_up(64, shape->m);
  spec.block_k = o.cm_block_k.value != 0 ? o.cm_block_k.value : round_up(std::max(dkp, dvp) <= 128 ? 64 : 32, key_gran);
  const auto refuse = [&](const TileOverride& t, const std::string& why) -> Status {
    return unsupported((t.value != 0 ? t.text() : std::string("the cooperative-matrix-2 forward")) + ": " + why +
                       " (the device's shapes, invocations (MxNxK granularity): " + shape_list(info) + ")");
  };
  if (spec.block_q % shape->m != 0) {
    return refuse(o.cm_block_q, num(spec.block_q) + " query rows are not a multiple of M = " + num(shape->m) + " at " +
                                    num(shape->invocations) + " invocations");
  }
  if (spec.block_k % key_gran != 0) {
    return refuse(o.cm_block_k, num(spec.block_k) + " keys are not a multiple of N and K (" + num(shape->n) + ", " +
                                    num(shape->k) + ") at " + num(shape->invocations) + " invocations");
  }
  const std::uint32_t largest = std::max({spec.block_q, spec.block_k, dkp, dvp});
  if (info.coopmat2_max_dimension != 0 && largest > info.coopmat2_max_dimension) {
    return refuse(o.cm_block_q.value != 0 ? o.cm_block_q : o.cm_block_k,
                  "a matrix dimension of " + num(largest) + " exceeds cooperativeMatrixFlexibleDimensionsMaxDimension = " +
                      num(info.coopmat2_max_dimension));
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
