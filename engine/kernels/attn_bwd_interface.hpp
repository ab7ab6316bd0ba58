// Typed C++ mirrors of the backward kernels' bindings and push constants, generated from the
// lists the shaders include (shaders/attn_bwd_push.inc, attn_bwd_pre_push.inc,
// attn_bwd_dparam_push.inc; specialization constants are in attn_spec.hpp).
#pragma once

#include <vulkan/vulkan_core.h>

#include <array>
#include <cstddef>
#include <cstdint>

#include "kernels/attn_fwd_interface.hpp"
#include "kernels/attn_spec.hpp"

namespace vkattn {

// Bindings of attn_bwd_dq.comp, attn_bwd_dkdv.comp, their _cm versions, and attn_bwd_dparam.comp
// (shaders/attn_bwd_bindings.glsl).
enum BwdBinding : std::uint32_t {
  kBwdQ = 0,
  kBwdK,
  kBwdV,
  kBwdDo,
  kBwdOut0,  // dQ, or dK
  kBwdOut1,  // unused, or dV
  kBwdParams,
  kBwdWork,
  kBwdBias,
  kBwdSlopes,
  kBwdTable,
  kBwdDocsQ,
  kBwdDocsK,
  kBwdSinks,
  kBwdBindingCount,
};

// Bindings of attn_bwd_pre.comp.
enum BwdPreBinding : std::uint32_t { kPreO = 0, kPreDo, kPreLse, kPreParams, kPreWork, kPreBindingCount };

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
