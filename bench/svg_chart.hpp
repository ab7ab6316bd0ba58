// A line chart as a standalone SVG document (no dependencies): x on a log2 axis (sequence
// lengths), y linear from 0, one coloured line per series with a legend.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace vkattn::bench {

struct ChartSeries {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x > 0, y), any order
};

std::string svg_line_chart(const std::string& title, const std::string& x_label, const std::string& y_label,
                           const std::vector<ChartSeries>& series);

}  // namespace vkattn::bench
