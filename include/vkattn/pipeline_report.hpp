// vkattn/pipeline_report.hpp — what the driver's compiler says about each pipeline vkattn built
// (VK_KHR_pipeline_executable_properties): registers, spills, shared memory, ... as the driver
// names them. Requested with ContextOptions::capture_pipeline_statistics; read with
// Context::pipeline_reports().
#pragma once

#include <string>
#include <vector>

namespace vkattn {

// One statistic of one executable, e.g. {"Register Count", "...", 128}. Booleans read 0 or 1.
struct PipelineStatistic {
  std::string name;
  std::string description;
  double value = 0.0;
};

struct PipelineReport {
  std::string name;        // the procedural variant name of the pipeline (e.g. "attn_fwd_..._coopmat")
  std::string executable;  // the driver's name of the executable (one per shader stage here)
  std::vector<PipelineStatistic> statistics;  // empty where the driver reports none
};

}  // namespace vkattn
