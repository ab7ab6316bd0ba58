// The C++ enums of the kernels' storage-buffer bindings, made from the lists the shaders declare
// them from (shaders/attn_fwd_bindings.inc, attn_bwd_bindings.inc, attn_bwd_pre_bindings.inc;
// shaders/attn_buffers.glsl turns the same entries into `layout(set = 0, binding = N)`
// declarations). Each list must number its bindings 0, 1, 2... in order: checked below.
#pragma once

#include <cstdint>
#include <initializer_list>

namespace vkattn {

// Bindings of attn_fwd.comp and attn_fwd_cm.comp: kFwdQ, kFwdK, ... kFwdDocsK, kFwdBindingCount.
enum FwdBinding : std::uint32_t {
#define VKATTN_BUFFER(binding, Name, Block, access, member) kFwd##Name = binding,
#define VKATTN_PARAMS(binding, Name) kFwd##Name = binding,
#include "attn_fwd_bindings.inc"
#undef VKATTN_BUFFER
#undef VKATTN_PARAMS
  kFwdBindingCount
};

// Bindings of attn_bwd_dq/dkdv (and _cm) and attn_bwd_dparam: kBwdQ ... kBwdSinks, kBwdBindingCount.
enum BwdBinding : std::uint32_t {
#define VKATTN_BUFFER(binding, Name, Block, access, member) kBwd##Name = binding,
#define VKATTN_PARAMS(binding, Name) kBwd##Name = binding,
#include "attn_bwd_bindings.inc"
#undef VKATTN_BUFFER
#undef VKATTN_PARAMS
  kBwdBindingCount
};

// Bindings of attn_bwd_pre.comp: kPreO, kPreDo, kPreLse, kPreParams, kPreWork, kPreBindingCount.
enum BwdPreBinding : std::uint32_t {
#define VKATTN_BUFFER(binding, Name, Block, access, member) kPre##Name = binding,
#define VKATTN_PARAMS(binding, Name) kPre##Name = binding,
#include "attn_bwd_pre_bindings.inc"
#undef VKATTN_BUFFER
#undef VKATTN_PARAMS
  kPreBindingCount
};

namespace detail {
// True if `ids` is 0, 1, 2, ... (a list's bindings are dense and in order, so the last enum
// value, the count, is the number of buffers the pipeline layout declares).
constexpr bool dense_in_order(std::initializer_list<std::uint32_t> ids) {
  std::uint32_t next = 0;
  for (std::uint32_t id : ids) {
    if (id != next++) return false;
  }
  return true;
}
}  // namespace detail

#define VKATTN_BUFFER(binding, Name, Block, access, member) binding,
#define VKATTN_PARAMS(binding, Name) binding,
static_assert(detail::dense_in_order({
#include "attn_fwd_bindings.inc"
              }),
              "shaders/attn_fwd_bindings.inc must number its bindings 0, 1, 2... in order");
static_assert(detail::dense_in_order({
#include "attn_bwd_bindings.inc"
              }),
              "shaders/attn_bwd_bindings.inc must number its bindings 0, 1, 2... in order");
static_assert(detail::dense_in_order({
#include "attn_bwd_pre_bindings.inc"
              }),
              "shaders/attn_bwd_pre_bindings.inc must number its bindings 0, 1, 2... in order");
#undef VKATTN_BUFFER
#undef VKATTN_PARAMS

}  // namespace vkattn
