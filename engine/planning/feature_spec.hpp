// The problem's specialization constants (shaders/attn_feature_spec.inc), filled once per plan
// and shared by every kernel of both passes, and the procedural variant names built from them.
#pragma once

#include <string>

#include "kernels/attn_spec.hpp"
#include "planning/problem.hpp"

namespace vkattn {

FeatureSpecConstants feature_spec(const Problem& p);

// "d64_f16_causal_br_alibi_sink_varlen": every feature constant that is set (the alignment only
// where something measures from the diagonal).
std::string feature_name(const FeatureSpecConstants& f);

// "attn_fwd_<feature_name>_bq64_bk64_ks2_lse_scalar", "..._bq128_bk64_qsh_sg4_lse_coopmat": every
// spec constant and the path appear (the coopmat kernels' subgroups where the scalar kernel's key
// step would be; _coopmat_khr for the KHR build), so equal names mean equal pipelines on one
// device (CM_A_FROM_ACC, the device's fragment order, is left out).
std::string fwd_variant_name(const FwdSpecConstants& spec, KernelPath kernels);

// "attn_bwd_<feature_name>_br64_bc32_st2_scalar" (or _br64_bc64_st1_coopmat).
std::string bwd_variant_name(const BwdSpecConstants& spec, KernelPath kernels);

}  // namespace vkattn
