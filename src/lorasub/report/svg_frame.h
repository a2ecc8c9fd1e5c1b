// Internal to svg.cpp and svg_heatmap.cpp: the plot area of one chart, its data-to-
// pixel mapping, axes, grid and legend.
#pragma once
#include <string>
#include <vector>

#include "lorasub/report/svg.h"

namespace lorasub::report {

// Width of a legend column fitting these labels (capped; long labels are shortened).
double legend_width(const LegendEntries& entries);
// Extra room under the plot that category names need when they must be slanted to fit
// (0 when they fit level).
double category_label_room(const std::vector<std::string>& names);
// `text` cut to `max_chars` characters with a trailing "..." (bytes; names are ASCII).
std::string shorten(const std::string& text, size_t max_chars);

struct Frame {
  double svg_width = 0, svg_height = 0;
  double left = 0, top = 0, width = 0, height = 0;  // the plot area, in pixels
  double x0 = 0, x1 = 1, y0 = 0, y1 = 1;            // the data range it shows
  double extra_bottom = 0;                          // below the standard x axis: slanted category names
  std::vector<double> y_ticks;

  // A chart of the standard size with room for a legend column `legend_w` wide.
  static Frame make(double legend_w, double extra_bottom = 0);
  void set_x(double lo, double hi);
  // Widened to the outer ticks of nice_ticks(lo, hi).
  void set_y(double lo, double hi);
  double px(double x) const { return left + (x - x0) / (x1 - x0) * width; }
  double py(double y) const { return top + height - (y - y0) / (y1 - y0) * height; }

  std::string y_axis(const std::string& label) const;                // grid, ticks, label
  std::string x_axis(const std::string& label, bool integer) const;  // numeric ticks
  std::string category_axis(const std::string& label, const std::vector<std::string>& names) const;
  std::string zero_line() const;                           // when 0 is inside
  std::string legend(const LegendEntries& entries) const;  // right of the plot
};

// <svg data-plot="plot" ...> of the frame's size.
std::string svg_open(const std::string& plot, const Frame& f);

}  // namespace lorasub::report
