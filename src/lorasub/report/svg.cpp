#include "lorasub/report/svg.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "lorasub/report/html.h"
#include "lorasub/report/svg_frame.h"

namespace lorasub::report {
namespace {

std::string dash_attr(bool dashed) { return dashed ? " stroke-dasharray=\"6 4\"" : ""; }

void data_range(const std::vector<LineSeries>& series, double* x0, double* x1, double* y0, double* y1) {
  *x0 = *y0 = INFINITY;
  *x1 = *y1 = -INFINITY;
  for (const LineSeries& s : series)
    for (size_t k = 0; k < s.x.size() && k < s.y.size(); ++k) {
      if (!std::isfinite(s.y[k])) continue;
      *x0 = std::min(*x0, s.x[k]);
      *x1 = std::max(*x1, s.x[k]);
      *y0 = std::min(*y0, s.y[k]);
      *y1 = std::max(*y1, s.y[k]);
    }
  if (!std::isfinite(*x0)) *x0 = 0, *x1 = 1, *y0 = 0, *y1 = 1;
}

LegendEntries default_legend(const std::vector<LineSeries>& series) {
  LegendEntries out;
  if (series.size() < 2) return out;
  for (const LineSeries& s : series) out.emplace_back(s.name, s.color);
  return out;
}

}  // namespace

const std::string& palette(size_t i) {
  static const std::vector<std::string> colors = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                                  "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
  return colors[i % colors.size()];
}

std::string render(const LineChart& c) {
  double x0, x1, y0, y1;
  data_range(c.series, &x0, &x1, &y0, &y1);
  if (c.y_min < c.y_max)
    y0 = c.y_min, y1 = c.y_max;
  else
    y0 = std::min(y0, 0.0), y1 = std::max(y1, 0.0);
  if (!(y1 > y0)) y1 = y0 + 1;
  const LegendEntries legend = c.legend.empty() ? default_legend(c.series) : c.legend;
  Frame f = Frame::make(legend.empty() ? 0 : legend_width(legend));
  f.set_x(x0 - 0.5, x1 + 0.5);
  f.set_y(y0, y1);
  size_t points = 0;
  for (const LineSeries& s : c.series) points += s.y.size();
  const char* radius = points <= 200 ? "3" : "1.5";  // many points: the lines carry the shape
  std::ostringstream o;
  o << svg_open(c.plot, f) << f.y_axis(c.y_label) << f.x_axis(c.x_label, /*integer=*/true);
  for (const LineSeries& s : c.series) {
    std::ostringstream path;
    std::ostringstream dots;
    bool pen_down = false;
    for (size_t k = 0; k < s.x.size() && k < s.y.size(); ++k) {
      if (!std::isfinite(s.y[k])) {
        pen_down = false;
        continue;
      }
      path << (pen_down ? " L" : " M") << fixed(f.px(s.x[k]), 1) << ' ' << fixed(f.py(s.y[k]), 1);
      pen_down = true;
      dots << "<circle class=\"point\" cx=\"" << fixed(f.px(s.x[k]), 1) << "\" cy=\"" << fixed(f.py(s.y[k]), 1)
           << "\" r=\"" << radius << "\" fill=\"" << s.color << "\"><title>" << escape(s.name) << ": "
           << escape(c.x_label) << ' ' << fixed(s.x[k], 0) << ", " << number(s.y[k], c.decimals) << "</title></circle>";
    }
    o << "<path d=\"" << path.str() << "\" fill=\"none\" stroke=\"" << s.color << "\" stroke-width=\"2\""
      << dash_attr(s.dashed) << "/>" << dots.str();
  }
  o << f.legend(legend) << "</svg>";
  return o.str();
}

std::string render(const BarChart& c) {
  const size_t n = c.categories.size();
  double lo = 0, hi = 0;
  for (size_t k = 0; k < n; ++k) {
    double up = 0, down = 0;
    for (const BarSeries& s : c.series) {
      const double v = k < s.values.size() && std::isfinite(s.values[k]) ? s.values[k] : 0;
      if (c.stacked)
        (v >= 0 ? up : down) += v;
      else
        up = std::max(up, v), down = std::min(down, v);
    }
    hi = std::max(hi, up);
    lo = std::min(lo, down);
  }
  if (hi <= lo) hi = lo + 1;
  LegendEntries legend = c.legend;
  if (legend.empty() && c.series.size() > 1)
    for (const BarSeries& s : c.series) legend.emplace_back(s.name, s.color);
  Frame f = Frame::make(legend.empty() ? 0 : legend_width(legend), category_label_room(c.categories));
  f.set_x(-0.5, static_cast<double>(n) - 0.5);
  f.set_y(lo, hi);
  std::ostringstream o;
  o << svg_open(c.plot, f) << f.y_axis(c.y_label) << f.category_axis(c.x_label, c.categories);
  const double slot = f.width / static_cast<double>(std::max<size_t>(n, 1));
  const size_t lanes = c.stacked ? 1 : std::max<size_t>(c.series.size(), 1);
  const double bar = std::min(slot * 0.8 / static_cast<double>(lanes), 60.0);
  const bool write_values = !c.stacked && n * lanes <= 16;
  for (size_t k = 0; k < n; ++k) {
    double up = 0, down = 0;
    for (size_t s = 0; s < c.series.size(); ++s) {
      const BarSeries& b = c.series[s];
      if (k >= b.values.size() || !std::isfinite(b.values[k])) continue;
      const double v = b.values[k];
      double base = 0;
      if (c.stacked) base = v >= 0 ? up : down, (v >= 0 ? up : down) += v;
      const double lane = c.stacked ? 0 : static_cast<double>(s) - (static_cast<double>(lanes) - 1) / 2;
      const double x = f.px(static_cast<double>(k)) + lane * bar - bar / 2;
      const double ya = f.py(base + v), yb = f.py(base);
      const std::string& color = k < b.colors.size() ? b.colors[k] : b.color;
      o << "<rect class=\"bar\" x=\"" << fixed(x, 1) << "\" y=\"" << fixed(std::min(ya, yb), 1) << "\" width=\""
        << fixed(bar, 1) << "\" height=\"" << fixed(std::max(std::fabs(yb - ya), 0.5), 1) << "\" fill=\"" << color
        << "\"><title>" << escape(c.categories[k]) << (b.name.empty() ? "" : ", " + escape(b.name)) << ": "
        << number(v, c.decimals) << "</title></rect>";
      if (write_values)
        o << "<text class=\"value\" x=\"" << fixed(x + bar / 2, 1) << "\" y=\"" << fixed(v >= 0 ? ya - 4 : ya + 13, 1)
          << "\" text-anchor=\"middle\">" << number(v, c.decimals) << "</text>";
    }
  }
  o << f.zero_line() << f.legend(legend) << "</svg>";
  return o.str();
}

}  // namespace lorasub::report
