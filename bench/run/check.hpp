// vkattn-run's --check and --tol: its outputs against reference .npy files.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "npy.hpp"
#include "vkattn/status.hpp"

namespace vkattn::run_tool {

// --tol=ATOL[,RTOL]: how far a checked output may be from its reference.
struct Tolerance {
  double atol = 0.0, rtol = 0.0;
};
Result<Tolerance> parse_tolerance(const std::string& text);

// --check=NAME=REF.npy[,...]: the references by output name, read before any work.
Result<std::map<std::string, npy::Array>> read_references(const std::string& list);

// Before anything is written: every reference names an output of this run and has its shape. The
// message lists the outputs, or gives both shapes.
Status check_references(const std::map<std::string, npy::Array>& checks,
                        const std::map<std::string, npy::Array>& outputs);

// Each named output against its reference (check_references passed). Prints the largest absolute
// error, the largest relative one (|out - ref| / |ref| where ref != 0), the elements where exactly
// one side is NaN, and those where the two differ and one is infinite (-inf against a finite LSE,
// say); with `tol`, also the elements beyond it (either mismatch, or |out - ref| > atol + rtol
// |ref|). Returns the number of outputs with any element beyond `tol` (0 without it).
int check_outputs(const std::map<std::string, npy::Array>& checks, const std::map<std::string, npy::Array>& outputs,
                  const std::optional<Tolerance>& tol);

}  // namespace vkattn::run_tool
