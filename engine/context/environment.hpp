// The VKATTN_* environment variables, read once when a context is created, into its options.
//
//   VKATTN_DEVICE=<index|name>     options.device, when empty (owned devices)
//   VKATTN_VALIDATION=1            options.enable_validation (owned devices)
//   VKATTN_PIPELINE_CACHE=off|<f>  options.pipeline_cache.persist = false (even with a path set in
//                                  code), or .path when persisting and the path is empty
//   VKATTN_PATH=auto|scalar|coopmat and VKATTN_CM_BLOCK_Q, VKATTN_CM_BLOCK_K, VKATTN_CM_SUBGROUPS,
//   VKATTN_CM_BWD_ROWS, VKATTN_CM_BWD_BLOCK_COLS: options.overrides, each where left at its default
#pragma once

#include "planning/overrides.hpp"
#include "vkattn/context.hpp"

namespace vkattn {

// Which variables apply: an adopted device is the host's, so VKATTN_DEVICE and VKATTN_VALIDATION
// (which choose and create a device) do not.
enum class EnvironmentFor { kOwnedDevice, kAdoptedDevice };

// `options` with the environment applied, and every variable taken named in from_environment
// ("NAME=value"; its incoming value is ignored, so options read back from one context and given
// to another hold the first context's values as if set in code). A malformed or disallowed value,
// of a variable or of an override set in code, is kInvalidArgument naming it and the value, e.g.
// `VKATTN_CM_BLOCK_K = "48" is not 16, 32 or 64`.
Result<ContextOptions> apply_environment(ContextOptions options, EnvironmentFor mode = EnvironmentFor::kOwnedDevice);

// options.overrides with the name each value was set under ("VKATTN_PATH" if from_environment
// lists it, else "options.overrides.path").
Overrides plan_overrides(const ContextOptions& options);

}  // namespace vkattn
