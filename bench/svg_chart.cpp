#include "svg_chart.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>

namespace vkattn::bench {
namespace {

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

// A "nice" step (1, 2 or 5 times a power of ten) giving about `ticks` intervals up to `max`.
double nice_step(double max, int ticks) {
  const double raw = max / ticks;
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * p >= raw) return m * p;
  }
  return 10 * p;
}

}  // namespace

std::string svg_line_chart(const std::string& title, const std::string& x_label, const std::string& y_label,
                           const std::vector<ChartSeries>& series) {
  const double width = 960, height = 540, left = 70, right = 300, top = 50, bottom = 60;
  const double pw = width - left - right, ph = height - top - bottom;
  std::set<double> xs;
  double y_max = 0;
  for (const ChartSeries& s : series) {
    for (const auto& [x, y] : s.points) {
      if (x > 0) xs.insert(x);
      y_max = std::max(y_max, y);
    }
  }
  if (xs.empty()) xs.insert(1);
  const double lx0 = std::log2(*xs.begin()), lx1 = std::max(std::log2(*xs.rbegin()), lx0 + 1);
  const double step = nice_step(y_max > 0 ? y_max : 1, 5);
  const double y_top = std::max(step, std::ceil((y_max > 0 ? y_max : 1) / step) * step);
  auto px = [&](double x) { return left + (std::log2(x) - lx0) / (lx1 - lx0) * pw; };
  auto py = [&](double y) { return top + ph - y / y_top * ph; };

  static const char* colors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
    << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  o << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o << "<text x=\"" << left + pw / 2 << "\" y=\"28\" text-anchor=\"middle\" font-size=\"16\">" << escape(title)
    << "</text>\n";
  for (double y = 0; y <= y_top + 1e-9; y += step) {  // horizontal grid and y ticks
    o << "<line x1=\"" << left << "\" x2=\"" << left + pw << "\" y1=\"" << py(y) << "\" y2=\"" << py(y)
      << "\" stroke=\"#ddd\"/>\n";
    o << "<text x=\"" << left - 8 << "\" y=\"" << py(y) + 4 << "\" text-anchor=\"end\">" << number(y) << "</text>\n";
  }
  for (double x : xs) {  // x ticks at the measured lengths
    o << "<line x1=\"" << px(x) << "\" x2=\"" << px(x) << "\" y1=\"" << top + ph << "\" y2=\"" << top + ph + 5
      << "\" stroke=\"black\"/>\n";
    o << "<text x=\"" << px(x) << "\" y=\"" << top + ph + 20 << "\" text-anchor=\"middle\">" << number(x)
      << "</text>\n";
  }
  o << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << pw << "\" height=\"" << ph
    << "\" fill=\"none\" stroke=\"black\"/>\n";
  o << "<text x=\"" << left + pw / 2 << "\" y=\"" << height - 15 << "\" text-anchor=\"middle\">" << escape(x_label)
    << "</text>\n";
  o << "<text transform=\"translate(18," << top + ph / 2 << ") rotate(-90)\" text-anchor=\"middle\">" << escape(y_label)
    << "</text>\n";
  for (std::size_t n = 0; n < series.size(); ++n) {
    const ChartSeries& s = series[n];
    const char* color = colors[n % (sizeof colors / sizeof colors[0])];
    std::vector<std::pair<double, double>> pts = s.points;
    std::sort(pts.begin(), pts.end());
    o << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"2\" points=\"";
    for (const auto& [x, y] : pts) o << px(x) << "," << py(y) << " ";
    o << "\"/>\n";
    for (const auto& [x, y] : pts) {
      o << "<circle cx=\"" << px(x) << "\" cy=\"" << py(y) << "\" r=\"3\" fill=\"" << color << "\"><title>"
        << escape(s.name) << ": " << number(y) << " at " << number(x) << "</title></circle>\n";
    }
    const double ly = top + 10 + 18 * static_cast<double>(n);
    o << "<line x1=\"" << left + pw + 15 << "\" x2=\"" << left + pw + 40 << "\" y1=\"" << ly << "\" y2=\"" << ly
      << "\" stroke=\"" << color << "\" stroke-width=\"2\"/>\n";
    o << "<text x=\"" << left + pw + 46 << "\" y=\"" << ly + 4 << "\">" << escape(s.name) << "</text>\n";
  }
  o << "</svg>\n";
  return o.str();
}

}  // namespace vkattn::bench
