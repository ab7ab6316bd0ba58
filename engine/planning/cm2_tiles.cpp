#include "planning/cm2_tiles.hpp"

#include <algorithm>

#include "base/vk_util.hpp"
#include "planning/feature_spec.hpp"
#include "planning/fwd_tiles.hpp"

namespace vkattn {

FwdSpecConstants cm2_fwd_tiles(const FeatureSpecConstants& features, const Overrides& o) {
  FwdSpecConstants spec;
  spec.features = features;
  const std::uint32_t widest = std::max(cm_padded_dim(features.head_dim), cm_padded_dim(features.head_dim_v));
  spec.block_q = o.cm_block_q.value != 0 ? o.cm_block_q.value : 64;
  spec.block_k = o.cm_block_k.value != 0 ? o.cm_block_k.value : widest <= 128 ? 64 : 32;
  spec.workgroup_size = 32 * (o.cm_subgroups.value != 0 ? o.cm_subgroups.value : 4);
  spec.key_step = 1;  // unused by attn_fwd_cm2.comp
  return spec;
}

Result<FwdSpecConstants> choose_cm2_fwd_tiles(const Problem& p, const DeviceInfo& info, const Overrides& o) {
  FwdSpecConstants spec = cm2_fwd_tiles(feature_spec(p), o);
  spec.write_lse = p.desc.write_lse ? 1u : 0u;
  if (spec.workgroup_size > info.max_workgroup_invocations) {
    return unsupported(o.cm_subgroups.text() + " needs " + num(spec.workgroup_size) +
                       " invocations per workgroup, more than maxComputeWorkGroupInvocations = " +
                       num(info.max_workgroup_invocations));
  }
  VKATTN_TRY(check_fwd_grid(p, spec, info));
  return spec;
}

}  // namespace vkattn
