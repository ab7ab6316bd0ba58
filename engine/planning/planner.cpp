#include "planning/planner.hpp"

#include "base/vk_util.hpp"
#include "planning/bwd_tiles.hpp"
#include "planning/cm2_tiles.hpp"
#include "planning/feature_spec.hpp"
#include "planning/fwd_tiles.hpp"

namespace vkattn {
namespace {

// Whether the path is the automatic choice (neither the desc nor the override names one): then a
// cooperative-matrix-2 plan the device's shapes cannot tile falls back to the coopmat kernels.
bool automatic(const AttentionDesc& d, const Overrides& o) {
  return d.path == KernelPath::kAuto && o.path == KernelPath::kAuto;
}

Overrides without_cm2(Overrides o) {
  o.cm2 = TileOverride{kCoopmat2Off, "the planner"};
  return o;
}

// The coopmat build a coopmat2 plan falls back to for `pass`: KHR where it can run, else NV.
Result<PathChoice> cm2_fallback_path(const Problem& p, Pass pass, const DeviceInfo& info, const std::string& reason) {
  const bool khr = coopmat_blocker(p, pass, info, true).empty();
  if (!khr && !coopmat_blocker(p, pass, info, false).empty()) {
    return unsupported("the coopmat2 plan's fallback: the coopmat kernels cannot run it");
  }
  return PathChoice{true, khr, reason + " (views off 16 bytes: " + (khr ? "coopmat_khr" : "coopmat") + ")"};
}

}  // namespace

Result<FwdVariant> plan_forward(const AttentionDesc& desc, const DeviceInfo& info, const Overrides& overrides) {
  Result<Problem> problem = resolve_problem(desc);
  if (!problem) return problem.status();
  Result<PathChoice> path = choose_path(*problem, Pass::kForward, info, overrides);
  if (!path) return path.status();
  Result<FwdSpecConstants> spec = path->cm2 ? choose_cm2_fwd_tiles(*problem, info, overrides)
                                            : choose_fwd_tiles(*problem, path->coopmat, info, overrides);
  if (!spec && path->cm2 && automatic(desc, overrides)) {  // preferred, not asked for: the coopmat kernels
    path = choose_path(*problem, Pass::kForward, info, without_cm2(overrides));
    if (!path) return path.status();
    spec = choose_fwd_tiles(*problem, path->coopmat, info, overrides);
  }
  if (!spec) return spec.status();
  FwdVariant v{std::move(problem).value(), std::move(path).value(), spec.value(), ""};
  if (v.path.khr) v.spec.cm_a_from_acc = info.coopmat_khr_a_from_acc;  // the device's, not part of the name
  v.name = fwd_variant_name(v.spec, v.path.kernels());
  return v;
}

Result<FwdVariant> plan_cm2_fallback(const FwdVariant& cm2, const DeviceInfo& info) {
  Result<PathChoice> path = cm2_fallback_path(cm2.problem, Pass::kForward, info, cm2.path.reason);
  if (!path) return path.status();
  Result<FwdSpecConstants> spec = choose_fwd_tiles(cm2.problem, true, info, Overrides{});
  if (!spec) return spec.status();
  FwdVariant v{cm2.problem, std::move(path).value(), spec.value(), ""};
  if (v.path.khr) v.spec.cm_a_from_acc = info.coopmat_khr_a_from_acc;
  v.name = fwd_variant_name(v.spec, v.path.kernels());
  return v;
}

Result<BwdVariant> plan_cm2_fallback(const BwdVariant& cm2, const DeviceInfo& info) {
  Result<PathChoice> path = cm2_fallback_path(cm2.problem, Pass::kBackward, info, cm2.path.reason);
  if (!path) return path.status();
  Result<BwdSpecConstants> spec = choose_bwd_tiles(cm2.problem, true, info, Overrides{});
  if (!spec) return spec.status();
  BwdVariant v{cm2.problem, std::move(path).value(), spec.value(), ""};
  if (v.path.khr) v.spec.cm_a_from_acc = info.coopmat_khr_a_from_acc;
  v.name = bwd_variant_name(v.spec, v.path.kernels());
  return v;
}

Result<BwdVariant> plan_backward(const AttentionDesc& desc, const DeviceInfo& info, const Overrides& overrides) {
  if (desc.paged_kv.enabled()) {
    return invalid("desc.paged_kv.block_size = " + std::to_string(desc.paged_kv.block_size) +
                   ": the backward does not take a paged cache (it is an inference layout)");
  }
  AttentionDesc d = desc;
  d.write_lse = true;  // the backward reads the forward's LSE; the flag only matters to the forward
  Result<Problem> problem = resolve_problem(d);
  if (!problem) return problem.status();
  Result<PathChoice> path = choose_path(*problem, Pass::kBackward, info, overrides);
  if (!path) return path.status();
  Result<BwdSpecConstants> spec = path->cm2 ? choose_cm2_bwd_tiles(*problem, info, overrides)
                                            : choose_bwd_tiles(*problem, path->coopmat, info, overrides);
  if (!spec && path->cm2 && automatic(d, overrides)) {
    path = choose_path(*problem, Pass::kBackward, info, without_cm2(overrides));
    if (!path) return path.status();
    spec = choose_bwd_tiles(*problem, path->coopmat, info, overrides);
  }
  if (!spec) return spec.status();
  BwdVariant v{std::move(problem).value(), std::move(path).value(), spec.value(), ""};
  if (v.path.khr) v.spec.cm_a_from_acc = info.coopmat_khr_a_from_acc;  // the device's, not part of the name
  v.name = bwd_variant_name(v.spec, v.path.kernels());
  return v;
}

}  // namespace vkattn
