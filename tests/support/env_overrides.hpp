// For tests of the planner: the plan overrides a context created now would take from the
// environment (the same two steps Context::create runs).
#pragma once

#include "context/environment.hpp"
#include "planning/overrides.hpp"

namespace vkattn::test {

inline Result<Overrides> env_overrides() {
  Result<ContextOptions> o = apply_environment(ContextOptions{});
  if (!o) return o.status();
  return plan_overrides(o.value());
}

}  // namespace vkattn::test
