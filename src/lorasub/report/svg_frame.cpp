#include "lorasub/report/svg_frame.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "lorasub/report/html.h"

namespace lorasub::report {
namespace {

constexpr double kPlotWidth = 380, kPlotHeight = 220;
constexpr double kLeft = 64, kTop = 14, kRight = 18, kBottom = 48;
constexpr double kCharWidth = 7, kLegendRow = 18;
constexpr size_t kLegendChars = 30, kSlantedChars = 18;
constexpr double kSlant = 0.5;  // sin 30 degrees

// Characters that fit level under one category.
size_t level_chars(size_t categories) {
  return static_cast<size_t>(
      std::max(kPlotWidth / static_cast<double>(std::max<size_t>(categories, 1)) / kCharWidth, 1.0));
}

size_t longest(const std::vector<std::string>& names) {
  size_t n = 0;
  for (const std::string& s : names) n = std::max(n, s.size());
  return n;
}

// Tick labels: as many decimals as the step needs; %g for very small steps.
std::string tick_text(double t, const std::vector<double>& ticks) {
  const double step = ticks.size() < 2 ? 1 : std::fabs(ticks[1] - ticks[0]);
  if (step < 1e-3) return number(t, -1);
  return fixed(t, step >= 1 ? 0 : static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int count) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) return {0, 1};
  if (!(hi > lo)) hi = lo + 1;
  if (!std::isfinite(hi - lo) || !(hi > lo)) return {lo, hi};  // beyond double's range or precision
  const double raw = (hi - lo) / std::max(count - 1, 1);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw - 1e-12 * mag) {
      step = m * mag;
      break;
    }
  std::vector<double> ticks;
  const double first = std::floor(lo / step + 1e-9), last = std::ceil(hi / step - 1e-9);
  if (!(last - first < 64)) return {lo, hi};  // ticks too fine for double: keep the ends
  for (double k = first; k <= last; k += 1) ticks.push_back(k * step);
  return ticks;
}

double legend_width(const LegendEntries& entries) {
  size_t chars = 0;
  for (const auto& e : entries) chars = std::max(chars, std::min(e.first.size(), kLegendChars));
  return 30 + kCharWidth * static_cast<double>(chars);
}

// Short names (task numbers) stay level, every k-th of them when they are many.
bool level_names(const std::vector<std::string>& names) {
  const size_t n = longest(names);
  return n <= level_chars(names.size()) || n <= 4;
}

double category_label_room(const std::vector<std::string>& names) {
  const size_t n = longest(names);
  if (level_names(names)) return 0;
  return kCharWidth * static_cast<double>(std::min(n, kSlantedChars)) * kSlant;
}

std::string shorten(const std::string& text, size_t max_chars) {
  if (text.size() <= max_chars || max_chars < 4) return text;
  return text.substr(0, max_chars - 3) + "...";
}

Frame Frame::make(double legend_w, double extra_bottom) {
  Frame f;
  f.extra_bottom = extra_bottom;
  f.left = kLeft;
  f.top = kTop;
  f.width = kPlotWidth;
  f.height = kPlotHeight;
  f.svg_width = kLeft + kPlotWidth + kRight + legend_w;
  f.svg_height = kTop + kPlotHeight + kBottom + extra_bottom;
  return f;
}

void Frame::set_x(double lo, double hi) {
  x0 = lo;
  x1 = hi > lo ? hi : lo + 1;
}

void Frame::set_y(double lo, double hi) {
  y_ticks = nice_ticks(lo, hi, 6);
  y0 = y_ticks.front();
  y1 = y_ticks.back() > y0 ? y_ticks.back() : y0 + 1;
}

std::string Frame::y_axis(const std::string& label) const {
  std::ostringstream o;
  for (double t : y_ticks) {
    const std::string y = fixed(py(t), 1);
    o << "<line class=\"grid\" x1=\"" << left << "\" x2=\"" << left + width << "\" y1=\"" << y << "\" y2=\"" << y
      << "\"/><text class=\"tick\" x=\"" << left - 6 << "\" y=\"" << y << "\" text-anchor=\"end\" dy=\"0.32em\">"
      << tick_text(t, y_ticks) << "</text>";
  }
  o << "<line class=\"axis\" x1=\"" << left << "\" x2=\"" << left << "\" y1=\"" << top << "\" y2=\"" << top + height
    << "\"/><text class=\"label\" transform=\"translate(16 " << fixed(top + height / 2, 1)
    << ") rotate(-90)\" text-anchor=\"middle\">" << escape(label) << "</text>";
  return o.str();
}

std::string Frame::x_axis(const std::string& label, bool integer) const {
  std::vector<double> ticks = nice_ticks(x0, x1, 8);
  if (integer && ticks.size() > 1 && ticks[1] - ticks[0] < 1) {
    ticks.clear();
    for (double t = std::ceil(x0); t <= x1; t += 1) ticks.push_back(t);
  }
  std::ostringstream o;
  const double base = top + height;
  for (double t : ticks) {
    if (t < x0 - 1e-9 || t > x1 + 1e-9) continue;
    const std::string x = fixed(px(t), 1);
    o << "<line class=\"axis\" x1=\"" << x << "\" x2=\"" << x << "\" y1=\"" << base << "\" y2=\"" << base + 5
      << "\"/><text class=\"tick\" x=\"" << x << "\" y=\"" << base + 18 << "\" text-anchor=\"middle\">"
      << (integer ? fixed(t, 0) : tick_text(t, ticks)) << "</text>";
  }
  o << "<line class=\"axis\" x1=\"" << left << "\" x2=\"" << left + width << "\" y1=\"" << base << "\" y2=\"" << base
    << "\"/><text class=\"label\" x=\"" << fixed(left + width / 2, 1) << "\" y=\"" << base + 38
    << "\" text-anchor=\"middle\">" << escape(label) << "</text>";
  return o.str();
}

std::string Frame::category_axis(const std::string& label, const std::vector<std::string>& names) const {
  std::ostringstream o;
  const double base = top + height;
  const double slot = width / static_cast<double>(std::max<size_t>(names.size(), 1));
  const bool slanted = !level_names(names);
  // Every k-th name when they would overlap: level ones need their width, slanted ones 14 px.
  const double need = slanted ? 14 : kCharWidth * static_cast<double>(longest(names)) + 8;
  const size_t every = slot < need ? static_cast<size_t>(std::ceil(need / slot)) : 1;
  for (size_t k = 0; k < names.size(); k += every) {
    const std::string x = fixed(px(static_cast<double>(k)), 1);
    o << "<text class=\"tick\" ";
    if (slanted)
      o << "transform=\"translate(" << x << ' ' << base + 14 << ") rotate(-30)\" text-anchor=\"end\">"
        << escape(shorten(names[k], kSlantedChars));
    else
      o << "x=\"" << x << "\" y=\"" << base + 18 << "\" text-anchor=\"middle\">" << escape(names[k]);
    o << "<title>" << escape(names[k]) << "</title></text>";
  }
  o << "<line class=\"axis\" x1=\"" << left << "\" x2=\"" << left + width << "\" y1=\"" << base << "\" y2=\"" << base
    << "\"/><text class=\"label\" x=\"" << fixed(left + width / 2, 1) << "\" y=\"" << base + 38 + extra_bottom
    << "\" text-anchor=\"middle\">" << escape(label) << "</text>";
  return o.str();
}

std::string Frame::zero_line() const {
  if (!(y0 < 0 && y1 > 0)) return "";
  const std::string y = fixed(py(0), 1);
  return "<line class=\"axis\" x1=\"" + fixed(left, 1) + "\" x2=\"" + fixed(left + width, 1) + "\" y1=\"" + y +
         "\" y2=\"" + y + "\"/>";
}

std::string Frame::legend(const LegendEntries& entries) const {
  std::ostringstream o;
  const double x = left + width + kRight;
  const size_t rows = static_cast<size_t>(height / kLegendRow);
  for (size_t k = 0; k < entries.size(); ++k) {
    const double y = top + kLegendRow * static_cast<double>(k);
    if (k + 1 == rows && entries.size() > rows) {
      o << "<text class=\"legend\" x=\"" << x << "\" y=\"" << y + 10 << "\">+" << entries.size() - k << " more</text>";
      break;
    }
    o << "<rect x=\"" << x << "\" y=\"" << y << "\" width=\"12\" height=\"12\" fill=\"" << entries[k].second
      << "\"/><text class=\"legend\" x=\"" << x + 18 << "\" y=\"" << y + 10 << "\">"
      << escape(shorten(entries[k].first, kLegendChars)) << "<title>" << escape(entries[k].first) << "</title></text>";
  }
  return o.str();
}

std::string svg_open(const std::string& plot, const Frame& f) {
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" data-plot=\"" << escape(plot) << "\" width=\""
    << fixed(f.svg_width, 0) << "\" height=\"" << fixed(f.svg_height, 0) << "\" viewBox=\"0 0 " << fixed(f.svg_width, 0)
    << ' ' << fixed(f.svg_height, 0) << "\" role=\"img\">";
  return o.str();
}

}  // namespace lorasub::report
