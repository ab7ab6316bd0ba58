// The planner: one AttentionDesc in, everything a plan builds from out — the resolved problem,
// the kernel path with its reason, the kernels' specialization constants and the variant name.
// Each plan calls it once; forward_variant_name() and the tests call the same functions.
#pragma once

#include <string>

#include "kernels/attn_spec.hpp"
#include "planning/kernel_path.hpp"
#include "planning/overrides.hpp"
#include "planning/problem.hpp"
#include "vkattn/device.hpp"

namespace vkattn {

struct FwdVariant {
  Problem problem;
  PathChoice path;
  FwdSpecConstants spec;
  std::string name;  // fwd_variant_name(spec, path.kernels())
};

struct BwdVariant {
  Problem problem;  // resolved with write_lse = true: the backward reads the forward's LSE
  PathChoice path;
  BwdSpecConstants spec;  // dq and dkdv; bwd_pre_spec and bwd_param_spec derive the others
  std::string name;
};

Result<FwdVariant> plan_forward(const AttentionDesc& desc, const DeviceInfo& info, const Overrides& overrides);
// The coopmat forward a coopmat2 plan runs for calls the cooperative-matrix-2 kernel cannot address
// (views off 16 bytes): `cm2`'s problem on the KHR build (the NV build where KHR cannot run it),
// with the automatic tiles (the tile overrides tune the coopmat2 kernel in such a plan).
Result<FwdVariant> plan_cm2_fallback(const FwdVariant& cm2, const DeviceInfo& info);
// The same for a coopmat2 backward plan.
Result<BwdVariant> plan_cm2_fallback(const BwdVariant& cm2, const DeviceInfo& info);
Result<BwdVariant> plan_backward(const AttentionDesc& desc, const DeviceInfo& info, const Overrides& overrides);

}  // namespace vkattn
