#include "table_reporter.hpp"

#include <algorithm>
#include <cstdio>

namespace vkattn::bench {

std::string plain_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

namespace {

double counter(const benchmark::BenchmarkReporter::Run& r, const char* name) {
  const auto it = r.counters.find(name);
  return it == r.counters.end() ? 0.0 : it->second.value;
}

// The decode preset's K/V bandwidth and its fraction of the copy bandwidth, where measured.
std::string kv_columns(const benchmark::BenchmarkReporter::Run& r) {
  if (r.counters.find("KV_GB/s") == r.counters.end()) return "";
  return " KV_GB/s=" + plain_number(counter(r, "KV_GB/s")) + " of_copy=" + plain_number(counter(r, "of_copy"));
}

double milliseconds(const benchmark::BenchmarkReporter::Run& r) {
  const double t = r.GetAdjustedRealTime();
  switch (r.time_unit) {
    case benchmark::kNanosecond:
      return t * 1e-6;
    case benchmark::kMicrosecond:
      return t * 1e-3;
    case benchmark::kMillisecond:
      return t;
    case benchmark::kSecond:
      return t * 1e3;
  }
  return t;
}

}  // namespace

void TableReporter::ReportRuns(const std::vector<Run>& runs) {
  for (const Run& r : runs) {
    const std::string name = r.benchmark_name();
    if (r.error_occurred) {
      std::printf("%-64s ERROR: %s\n", name.c_str(), r.error_message.c_str());
      continue;
    }
    if (r.run_type == Run::RT_Aggregate && r.aggregate_name == "cv") {  // ratios, not times or rates
      const double ratio = r.GetAdjustedRealTime() / benchmark::GetTimeUnitMultiplier(r.time_unit);
      std::printf("%-64s %10s %%  (coefficient of variation of the time)\n", name.c_str(),
                  plain_number(100.0 * ratio).c_str());
      continue;
    }
    std::printf("%-64s %10s ms  TFLOP/s=%s GB/s=%s%s  %s\n", name.c_str(), plain_number(milliseconds(r)).c_str(),
                plain_number(counter(r, "TFLOP/s")).c_str(), plain_number(counter(r, "GB/s")).c_str(),
                kv_columns(r).c_str(), r.report_label.c_str());
    const bool median = r.run_type == Run::RT_Aggregate && r.aggregate_name == "median";
    if (median || (r.run_type == Run::RT_Iteration && r.repetitions <= 1)) {
      std::string base = name.substr(0, name.find("/manual_time"));
      rows_.push_back({base, r.report_label, milliseconds(r), counter(r, "TFLOP/s"), counter(r, "GB/s"),
                       counter(r, "KV_GB/s"), counter(r, "of_copy")});
    }
  }
  std::fflush(stdout);
}

void TableReporter::Finalize() {
  if (rows_.empty()) return;
  std::size_t width = 4;
  for (const Row& r : rows_) width = std::max(width, r.name.size());
  const bool kv = std::any_of(rows_.begin(), rows_.end(), [](const Row& r) { return r.kv_gbps > 0; });
  std::printf("\n%-*s %10s %9s %9s%s  %s\n", static_cast<int>(width), "case", "median ms", "TFLOP/s", "GB/s",
              kv ? "   KV GB/s  of copy" : "", "variant");
  for (const Row& r : rows_) {
    std::printf("%-*s %10.4g %9.4g %9.4g", static_cast<int>(width), r.name.c_str(), r.ms, r.tflops, r.gbps);
    if (kv) std::printf(" %10.4g %8.3f", r.kv_gbps, r.of_copy);
    std::printf("  %s\n", r.variant.c_str());
  }
  std::fflush(stdout);
}

}  // namespace vkattn::bench
