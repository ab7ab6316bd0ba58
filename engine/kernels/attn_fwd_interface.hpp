// Typed C++ mirrors of the forward kernels' bindings and push constants (attn_fwd.comp and
// attn_fwd_cm.comp share them), generated from the lists the shaders include
// (shaders/attn_fwd_push.inc; specialization constants are in attn_spec.hpp, the parameter
// buffer's attn_params.inc is mirrored in planning/attn_params.hpp).
#pragma once

#include <vulkan/vulkan_core.h>

#include <array>
#include <cstddef>
#include <cstdint>

#include "kernels/attn_bindings.hpp"
#include "kernels/attn_spec.hpp"

namespace vkattn {

namespace glsl {
using uint = std::uint32_t;
}  // namespace glsl

// The push-constant block, field for field.
struct FwdPushConstants {
  using uint = glsl::uint;
#define VKATTN_PC(T, name) T name = 0;
#include "attn_fwd_push.inc"
#undef VKATTN_PC
};
static_assert(sizeof(FwdPushConstants) % 4 == 0 && sizeof(FwdPushConstants) <= 128,
              "push constants must fit the 128-byte minimum limit");

}  // namespace vkattn
