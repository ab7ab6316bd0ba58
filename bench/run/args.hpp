// vkattn-run's command line: --name=value flags and switches, and their values as numbers, with
// messages that name the flag.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "vkattn/status.hpp"

namespace vkattn::run_tool {

// The flags that name a .npy file (--q=q.npy ...), in the order they are read.
inline constexpr const char* kFileFlags[] = {"q",
                                             "k",
                                             "v",
                                             "do",
                                             "bias",
                                             "alibi-slopes",
                                             "rel-pos-table",
                                             "sinks",
                                             "doc-ids-q",
                                             "doc-ids-kv",
                                             "cu-seqlens-q",
                                             "cu-seqlens-k",
                                             "seq-lens-q",
                                             "seq-lens-kv",
                                             "q-norm-weight",
                                             "k-norm-weight",
                                             "q-positions",
                                             "k-positions",
                                             "block-table",
                                             "cache-lens"};

struct Args {
  std::map<std::string, std::string> values;  // by flag name without "--"; a switch that is on holds "1"
  bool has(const std::string& k) const { return values.count(k) != 0; }
  const std::string& get(const std::string& k) const { return values.at(k); }
};

// An input refused: the Status every check of the command line and the files returns (run()
// maps parse_args's to exit status 2, the others to 1).
Status fail(const std::string& message);

// The command line; a failure is a usage error (exit status 2): an unknown or repeated flag, a
// switch not 0 or 1, a flag without its value, --deterministic not 0 or 1, or --q/--k/--v missing.
Result<Args> parse_args(int argc, char** argv);

// Flag `key` as an integer, a float (softcap, scale, eps, dropout ...) or a double no larger in
// magnitude than `largest` (the range of `type`, "float" or "double"; an explicit "inf" passes to
// the plan, which checks each value's range; subnormals are taken).
Result<std::int64_t> integer(const Args& a, const std::string& key);
Result<float> real(const Args& a, const std::string& key);
Result<double> number(const Args& a, const std::string& key, double largest, const char* type);

}  // namespace vkattn::run_tool
