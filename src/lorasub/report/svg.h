// Small inline-SVG plots for the HTML report: line chart, bar chart (grouped or
// stacked) and heatmap, each with axes, labels, a legend and a <title> tooltip on
// every mark. Each returns one <svg data-plot="..."> element; no scripts.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace lorasub::report {

// Categorical colors (Tableau 10), cycled.
const std::string& palette(size_t i);

using LegendEntries = std::vector<std::pair<std::string, std::string>>;  // (label, color)

struct LineSeries {
  std::string name, color;
  std::vector<double> x, y;  // same length; points with a non-finite y are skipped
  bool dashed = false;
};

struct LineChart {
  std::string plot;  // data-plot attribute: what the plot shows
  std::string x_label, y_label;
  std::vector<LineSeries> series;
  double y_min = 0, y_max = 0;  // fixed y range when y_min < y_max, else from the data (and 0)
  int decimals = 2;             // of values in tooltips; < 0: 3 significant digits
  LegendEntries legend;         // default: one entry per series when there are several
};

struct BarSeries {
  std::string name, color;
  std::vector<double> values;       // one per category
  std::vector<std::string> colors;  // per-bar colors overriding `color` (optional)
};

struct BarChart {
  std::string plot, x_label, y_label;
  std::vector<std::string> categories;
  std::vector<BarSeries> series;
  bool stacked = false;  // stacked: values add up per category (non-negative values)
  int decimals = 2;      // of values in tooltips and, on few unstacked bars, above them
  LegendEntries legend;  // default: one entry per series when there are several
};

struct Heatmap {
  std::string plot, x_label, y_label;
  std::vector<std::string> row_labels, col_labels;
  std::vector<std::vector<double>> rows;  // ragged: row r covers columns 0 .. rows[r].size()-1
  double lo = 0, hi = 100;                // color scale range
  int decimals = 1;
  std::string unit;  // appended to values in tooltips
};

std::string render(const LineChart& chart);
std::string render(const BarChart& chart);
// Every cell is a <rect class="cell">, so the number of those is the number of values.
std::string render(const Heatmap& map);

// Tick positions covering [lo, hi] with 1/2/5 x 10^k steps, about `count` of them.
std::vector<double> nice_ticks(double lo, double hi, int count);

}  // namespace lorasub::report
