// The VKATTN_* environment variables, read once when a context is created, into its options.
//
//   VKATTN_DEVICE=<index|name>     options.device, when empty
//   VKATTN_VALIDATION=1            options.enable_validation
//   VKATTN_PIPELINE_CACHE=off|<f>  options.pipeline_cache.persist = false, or .path when empty
//   VKATTN_PATH=auto|scalar|coopmat and VKATTN_CM_BLOCK_Q, VKATTN_CM_BLOCK_K, VKATTN_CM_SUBGROUPS,
//   VKATTN_CM_BWD_ROWS, VKATTN_CM_BWD_BLOCK_COLS: options.overrides, each where left at its default
#pragma once

#include "planning/overrides.hpp"
#include "vkattn/context.hpp"

namespace vkattn {

// `options` with the environment applied, and every variable taken named in from_environment
// ("NAME=value"). A malformed or disallowed value, of a variable or of an override set in code,
// is kInvalidArgument naming it and the value, e.g. `VKATTN_CM_BLOCK_K = "48" is not 16, 32 or 64`.
Result<ContextOptions> apply_environment(ContextOptions options);

// options.overrides with the name each value was set under ("VKATTN_PATH" if from_environment
// lists it, else "options.overrides.path").
Overrides plan_overrides(const ContextOptions& options);

}  // namespace vkattn
