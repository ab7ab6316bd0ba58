// What every plan holds besides its kernels: the context it belongs to, counted among the
// context's live children for as long as the plan lives, and the variant the planner chose.
#pragma once

#include <utility>

#include "context/context_state.hpp"
#include "planning/problem.hpp"
#include "vkattn/context.hpp"

namespace vkattn {

template <class Variant>
struct PlanCore {
  PlanCore(Context& c, Variant v) : ctx(&c), variant(std::move(v)) { context_state(c).live_children.fetch_add(1); }
  PlanCore(const PlanCore&) = delete;  // `problem` refers into `variant`
  PlanCore& operator=(const PlanCore&) = delete;
  ~PlanCore() { context_state(*ctx).live_children.fetch_sub(1); }

  Context* ctx;
  Variant variant;  // problem, path, spec constants and name, planned once
  const Problem& problem = variant.problem;
};

}  // namespace vkattn
