// vkattn-bench's console output: each result on one line with its counters as plain numbers in
// their units (TFLOP/s=171.4 GB/s=82.6), and at the end a compact table of the medians (case,
// median ms, TFLOP/s, GB/s, with the decode preset's K/V GB/s and fraction of the copy bandwidth,
// variant). Files written with --benchmark_out stay Google Benchmark's.
#pragma once

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

namespace vkattn::bench {

class TableReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override;
  void Finalize() override;

 private:
  struct Row {
    std::string name, variant;
    double ms = 0, tflops = 0, gbps = 0;
    double kv_gbps = 0, of_copy = 0;  // decode preset: K/V read, and its fraction of the copy bandwidth
  };
  std::vector<Row> rows_;  // the median of each case (or its single run without repetitions)
};

// A counter's value as the reporter prints it: up to four significant digits, no SI prefix.
std::string plain_number(double v);

}  // namespace vkattn::bench
