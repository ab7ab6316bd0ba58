// vkattn-run's problem: the AttentionDesc, dropout stream and backward options that the flags and
// the files (read_inputs) describe. The plans check the rest (ranges, tables' block ids ...).
#pragma once

#include "run/args.hpp"
#include "run/inputs.hpp"
#include "vkattn/vkattn.hpp"

namespace vkattn::run_tool {

struct Problem {
  AttentionDesc desc;
  DropoutRng rng;               // --seed, --offset
  BackwardOptions bwd_options;  // --deterministic
};

Result<Problem> problem_of(const Args& a, const Inputs& in);

}  // namespace vkattn::run_tool
