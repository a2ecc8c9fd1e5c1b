// The heatmap of svg.h: square cells on a viridis scale, the value written in each
// cell when it is large enough, a color bar at the right.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "lorasub/report/html.h"
#include "lorasub/report/svg.h"
#include "lorasub/report/svg_frame.h"

namespace lorasub::report {
namespace {

constexpr double kLeft = 64, kTop = 14, kBottom = 48, kBar = 14;
constexpr double kMaxWidth = 400, kMaxHeight = 300, kMaxCell = 56, kMinCell = 6;

struct Rgb {
  double r, g, b;
};

// Viridis at 9 evenly spaced stops.
Rgb viridis(double t) {
  static const Rgb stops[] = {{68, 1, 84},    {71, 45, 123}, {59, 82, 139},  {44, 114, 142}, {33, 145, 140},
                              {40, 174, 128}, {94, 201, 98}, {173, 220, 48}, {253, 231, 37}};
  t = t >= 0 ? std::min(t, 1.0) * 8 : 0;  // NaN -> 0
  const int k = std::min(static_cast<int>(t), 7);
  const double u = t - k;
  const Rgb& a = stops[k];
  const Rgb& b = stops[k + 1];
  return {a.r + (b.r - a.r) * u, a.g + (b.g - a.g) * u, a.b + (b.b - a.b) * u};
}

std::string hex(const Rgb& c) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "#%02x%02x%02x", static_cast<int>(std::lround(c.r)),
                static_cast<int>(std::lround(c.g)), static_cast<int>(std::lround(c.b)));
  return buf;
}

double scale(const Heatmap& m, double v) { return m.hi > m.lo ? (v - m.lo) / (m.hi - m.lo) : 0.5; }

// Row labels left of the cells (rows) or column labels under them; every k-th when cells are small.
std::string labels(const std::vector<std::string>& names, double cell, bool rows, double cells_bottom) {
  std::ostringstream o;
  const size_t every = cell >= 16 ? 1 : static_cast<size_t>(std::ceil(16 / cell));
  for (size_t k = 0; k < names.size(); k += every) {
    const double mid = (rows ? kTop : kLeft) + (static_cast<double>(k) + 0.5) * cell;
    if (rows)
      o << "<text class=\"tick\" x=\"" << kLeft - 6 << "\" y=\"" << fixed(mid, 1)
        << "\" text-anchor=\"end\" dy=\"0.32em\">" << escape(names[k]) << "</text>";
    else
      o << "<text class=\"tick\" x=\"" << fixed(mid, 1) << "\" y=\"" << fixed(cells_bottom + 16, 1)
        << "\" text-anchor=\"middle\">" << escape(names[k]) << "</text>";
  }
  return o.str();
}

std::string color_bar(const Heatmap& m, double x, double top, double height) {
  std::ostringstream o;
  constexpr int kSteps = 24;
  for (int s = 0; s < kSteps; ++s) {
    const double t0 = static_cast<double>(s) / kSteps;
    o << "<rect x=\"" << x << "\" y=\"" << fixed(top + height * (1 - t0 - 1.0 / kSteps), 1) << "\" width=\"" << kBar
      << "\" height=\"" << fixed(height / kSteps + 0.5, 1) << "\" fill=\"" << hex(viridis(t0 + 0.5 / kSteps)) << "\"/>";
  }
  const int dec = m.hi - m.lo >= 10 ? 0 : m.decimals;
  o << "<text class=\"tick\" x=\"" << x + kBar + 4 << "\" y=\"" << top + 4 << "\" dy=\"0.32em\">" << fixed(m.hi, dec)
    << "</text><text class=\"tick\" x=\"" << x + kBar + 4 << "\" y=\"" << fixed(top + height - 4, 1)
    << "\" dy=\"0.32em\">" << fixed(m.lo, dec) << "</text>";
  return o.str();
}

}  // namespace

std::string render(const Heatmap& m) {
  const size_t nrows = std::max<size_t>(m.rows.size(), 1);
  size_t ncols = m.col_labels.size();
  for (const auto& r : m.rows) ncols = std::max(ncols, r.size());
  ncols = std::max<size_t>(ncols, 1);
  const double cell = std::clamp(
      std::min(kMaxWidth / static_cast<double>(ncols), kMaxHeight / static_cast<double>(nrows)), kMinCell, kMaxCell);
  Frame f;
  f.left = kLeft;
  f.top = kTop;
  f.width = cell * static_cast<double>(ncols);
  f.height = cell * static_cast<double>(nrows);
  f.svg_width = kLeft + f.width + 24 + kBar + 40;
  f.svg_height = kTop + f.height + kBottom;
  std::ostringstream o;
  o << svg_open(m.plot, f);
  const bool write_values = cell >= 30;
  for (size_t r = 0; r < m.rows.size(); ++r)
    for (size_t c = 0; c < m.rows[r].size(); ++c) {
      const double v = m.rows[r][c];
      if (!std::isfinite(v)) continue;
      const double t = scale(m, v);
      const double x = kLeft + cell * static_cast<double>(c), y = kTop + cell * static_cast<double>(r);
      o << "<rect class=\"cell\" x=\"" << fixed(x, 1) << "\" y=\"" << fixed(y, 1) << "\" width=\"" << fixed(cell, 1)
        << "\" height=\"" << fixed(cell, 1) << "\" fill=\"" << hex(viridis(t)) << "\"><title>" << escape(m.y_label)
        << ' ' << escape(r < m.row_labels.size() ? m.row_labels[r] : std::to_string(r)) << ", " << escape(m.x_label)
        << ' ' << escape(c < m.col_labels.size() ? m.col_labels[c] : std::to_string(c)) << ": " << fixed(v, m.decimals)
        << escape(m.unit) << "</title></rect>";
      if (write_values)
        o << "<text class=\"value\" x=\"" << fixed(x + cell / 2, 1) << "\" y=\"" << fixed(y + cell / 2, 1)
          << "\" text-anchor=\"middle\" dy=\"0.32em\" fill=\"" << (t < 0.6 ? "#fff" : "#111") << "\">"
          << fixed(v, m.decimals) << "</text>";
    }
  o << labels(m.row_labels, cell, true, kTop + f.height) << labels(m.col_labels, cell, false, kTop + f.height)
    << "<text class=\"label\" transform=\"translate(16 " << fixed(kTop + f.height / 2, 1)
    << ") rotate(-90)\" text-anchor=\"middle\">" << escape(m.y_label) << "</text><text class=\"label\" x=\""
    << fixed(kLeft + f.width / 2, 1) << "\" y=\"" << fixed(kTop + f.height + 38, 1) << "\" text-anchor=\"middle\">"
    << escape(m.x_label) << "</text>" << color_bar(m, kLeft + f.width + 24, kTop, f.height) << "</svg>";
  return o.str();
}

}  // namespace lorasub::report
