// vkattn-bench --info: the device, each kernel path with why it is or is not available, and the
// kernels (variant names, tiles in them) and path reasons the planner picks for given shapes.
#pragma once

#include <cstdio>
#include <vector>

#include "bench_cases.hpp"
#include "vkattn/context.hpp"

namespace vkattn::bench {

// Prints to `out`; 0, or 1 when planning a shape failed for another reason than the path.
int print_info(Context& ctx, const std::vector<Shape>& shapes, std::FILE* out);

}  // namespace vkattn::bench
