// Typed C++ mirrors of the backward kernels' bindings and push constants, generated from the
// lists the shaders include (shaders/attn_bwd_push.inc, attn_bwd_pre_push.inc,
// attn_bwd_dparam_push.inc; specialization constants are in attn_spec.hpp).
#pragma once

#include <vulkan/vulkan_core.h>

#include <array>
#include <cstddef>
#include <cstdint>

#include "kernels/attn_bindings.hpp"
#include "kernels/attn_fwd_interface.hpp"
#include "kernels/attn_spec.hpp"

namespace vkattn {

struct BwdPushConstants {
  using uint = glsl::uint;
#define VKATTN_PC(T, name) T name = 0;
#include "attn_bwd_push.inc"
#undef VKATTN_PC
};
static_assert(sizeof(BwdPushConstants) <= 128, "push constants must fit the 128-byte minimum limit");

struct BwdParamPushConstants {
  using uint = glsl::uint;
#define VKATTN_PC(T, name) T name = 0;
#include "attn_bwd_dparam_push.inc"
#undef VKATTN_PC
};
static_assert(sizeof(BwdParamPushConstants) <= 128, "push constants must fit the 128-byte minimum limit");

struct BwdPrePushConstants {
  using uint = glsl::uint;
#define VKATTN_PC(T, name) T name = 0;
#include "attn_bwd_pre_push.inc"
#undef VKATTN_PC
};
static_assert(sizeof(BwdPrePushConstants) <= 128, "push constants must fit the 128-byte minimum limit");

}  // namespace vkattn
