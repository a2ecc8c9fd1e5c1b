// One run's part of the report: what it is, its plots, its config.
#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "lorasub/report/html.h"
#include "lorasub/report/sections.h"
#include "lorasub/report/stats.h"
#include "lorasub/report/svg.h"

namespace lorasub::report {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<std::string> numbered(size_t n, size_t from = 1) {
  std::vector<std::string> out;
  for (size_t k = 0; k < n; ++k) out.push_back(std::to_string(k + from));
  return out;
}

std::string summary_table(const RunData& r) {
  const std::vector<std::pair<const char*, std::string>> cells = {
      {"method", escape(r.method)},
      {"dataset", escape(r.dataset)},
      {"seed", std::to_string(r.seed)},
      {"tasks", std::to_string(r.tasks.size())},
      {"ranks", std::to_string(r.ranks)},
      {"A_last", fixed(r.a_last, 2)},
      {"A_avg", fixed(r.a_avg, 2)},
      {"forgetting", fixed(r.forgetting, 2)},
      {"BWT", fixed(r.bwt, 2)},
      {"wall time", fixed(r.wall_seconds, 1) + " s"},
      {"train images/s", fixed(r.train_images_per_second, 0)}};
  std::ostringstream head, values;
  for (const auto& c : cells) {
    head << "<th>" << c.first << "</th>";
    values << "<td>" << c.second << "</td>";
  }
  return "<table class=\"summary\"><tr>" + head.str() + "</tr><tr>" + values.str() + "</tr></table>\n" +
         "<p class=\"note\">run directory <code>" + escape(r.dir) + "</code></p>\n";
}

std::string accuracy_heatmap(const RunData& r) {
  Heatmap m;
  m.plot = "accuracy-matrix";
  m.x_label = "task";
  m.y_label = "after task";
  m.row_labels = numbered(r.matrix.size());
  m.col_labels = numbered(r.matrix.size());
  m.rows = r.matrix;
  m.unit = " %";
  return figure("Accuracy matrix: % correct on task j after training task i", render(m));
}

std::string a_t_chart(const RunData& r) {
  LineChart c;
  c.plot = "a-t";
  c.x_label = "after task";
  c.y_label = "A_t (%)";
  c.y_min = 0;
  c.y_max = 100;
  LineSeries s{r.run.empty() ? r.method : r.run, palette(0), {}, {}};
  for (size_t t = 0; t < r.tasks.size(); ++t) {
    s.x.push_back(static_cast<double>(t + 1));
    s.y.push_back(r.tasks[t].overall);
  }
  c.series.push_back(s);
  return figure("A_t: accuracy on all classes seen so far", render(c),
                "A_last " + fixed(r.a_last, 2) + ", A_avg " + fixed(r.a_avg, 2));
}

std::string task_accuracy_chart(const RunData& r) {
  LineChart c;
  c.plot = "task-accuracy";
  c.x_label = "after task";
  c.y_label = "accuracy on task j (%)";
  c.y_min = 0;
  c.y_max = 100;
  for (size_t j = 0; j < r.matrix.size(); ++j) {
    LineSeries s{"task " + std::to_string(j + 1), palette(j), {}, {}};
    for (size_t i = j; i < r.matrix.size(); ++i) {
      s.x.push_back(static_cast<double>(i + 1));
      s.y.push_back(r.matrix[i][j]);
    }
    c.series.push_back(s);
  }
  return figure("Each task's accuracy over time", render(c));
}

std::string forgetting_chart(const RunData& r) {
  const std::vector<double> f = per_task_forgetting(r.matrix);
  if (f.empty()) return "";
  BarChart c;
  c.plot = "forgetting";
  c.x_label = "task";
  c.y_label = "forgetting (points)";
  c.categories = numbered(f.size());
  c.series.push_back({"forgetting", palette(2), f, {}});
  return figure("Forgetting per task: best earlier accuracy minus final", render(c),
                "mean " + fixed(r.forgetting, 2) + " (the last task has none)");
}

std::string drift_chart(const RunData& r, bool accuracy) {
  std::vector<LineSeries> series;
  for (const DriftPoint& d : r.drift) {
    if (accuracy && !d.has_accuracy_drop) continue;
    const std::string name = "task " + std::to_string(d.task + 1);
    auto s = std::find_if(series.begin(), series.end(), [&](const LineSeries& x) { return x.name == name; });
    if (s == series.end()) {
      series.push_back({name, palette(static_cast<size_t>(std::max<int64_t>(d.task, 0))), {}, {}});
      s = series.end() - 1;
    }
    s->x.push_back(static_cast<double>(d.after_task + 1));
    s->y.push_back(accuracy ? d.accuracy_drop : d.cosine_distance);
  }
  if (series.empty()) return "";
  LineChart c;
  c.plot = accuracy ? "drift-accuracy" : "drift-cosine";
  c.x_label = "after task";
  c.y_label = accuracy ? "stale-prototype loss (points)" : "mean cosine distance";
  c.decimals = accuracy ? 2 : -1;
  c.series = std::move(series);
  if (accuracy) return figure("Feature drift: NCM accuracy the stored class means lose", render(c));
  return figure("Feature drift: cosine distance of each task's class means from when it ended", render(c));
}

std::string kept_dims_heatmap(const RunData& r) {
  size_t blocks = 0;
  double hi = 0;
  for (const TaskRecord& t : r.tasks) {
    blocks = std::max(blocks, t.kept_dims.size());
    for (int64_t k : t.kept_dims) hi = std::max(hi, static_cast<double>(k));
  }
  if (blocks == 0) return "";
  Heatmap m;
  m.plot = "drs-kept-dims";
  m.x_label = "task";
  m.y_label = "block";
  m.row_labels = numbered(blocks);
  m.col_labels = numbered(r.tasks.size());
  m.rows.assign(blocks, std::vector<double>(r.tasks.size(), kNaN));
  for (size_t t = 0; t < r.tasks.size(); ++t)
    for (size_t b = 0; b < r.tasks[t].kept_dims.size(); ++b)
      m.rows[b][t] = static_cast<double>(r.tasks[t].kept_dims[b]);
  m.lo = 0;
  m.hi = hi > 0 ? hi : 1;
  m.decimals = 0;
  m.unit = " dims";
  return figure("DRS kept dimensions per block and task", render(m));
}

std::string phase_chart(const RunData& r) {
  BarChart c;
  c.plot = "phase-seconds";
  c.x_label = "task";
  c.y_label = "seconds";
  c.stacked = true;
  c.categories = numbered(r.tasks.size());
  const char* names[] = {"covariance", "train", "prototypes", "eval", "checkpoint", "drift"};
  for (size_t p = 0; p < 6; ++p) {
    BarSeries s{names[p], palette(p), {}, {}};
    for (const TaskRecord& t : r.tasks) {
      const PhaseSeconds& x = t.seconds;
      const double v[] = {x.covariance, x.train, x.prototypes, x.eval, x.checkpoint, x.drift};
      s.values.push_back(v[p]);
    }
    c.series.push_back(s);
  }
  return figure("Time per phase per task", render(c));
}

std::string throughput_chart(const RunData& r) {
  BarChart c;
  c.plot = "throughput";
  c.x_label = "task";
  c.y_label = "train images/s";
  c.decimals = 0;
  c.categories = numbered(r.tasks.size());
  BarSeries s{"images/s", palette(4), {}, {}};
  bool any = false;
  for (const TaskRecord& t : r.tasks) {
    const bool known = t.train_images >= 0 && t.seconds.train > 0;
    s.values.push_back(known ? t.train_images / t.seconds.train : kNaN);
    any = any || known;
  }
  if (!any) return "";
  c.series.push_back(s);
  return figure("Train throughput per task", render(c),
                "whole run: " + fixed(r.train_images_per_second, 0) + " images/s");
}

}  // namespace

std::string figure(const std::string& caption, const std::string& svg, const std::string& note) {
  return "<figure><figcaption>" + escape(caption) + "</figcaption>" + svg +
         (note.empty() ? "" : "<p class=\"note\">" + escape(note) + "</p>") + "</figure>\n";
}

std::string run_section(const RunData& r, size_t index, bool config_open) {
  std::ostringstream o;
  o << "<section class=\"run\" id=\"run-" << index + 1 << "\"><h2>" << escape(r.run.empty() ? r.dir : r.run)
    << " <span class=\"method\">" << escape(r.method) << "</span></h2>\n"
    << summary_table(r) << "<div class=\"plots\">\n"
    << accuracy_heatmap(r) << a_t_chart(r) << task_accuracy_chart(r) << forgetting_chart(r) << drift_chart(r, false)
    << drift_chart(r, true) << kept_dims_heatmap(r) << phase_chart(r) << throughput_chart(r) << "</div>\n";
  if (r.tasks.size() < 2) o << "<p class=\"note\">One task: no forgetting to plot.</p>";
  if (r.drift.empty()) o << "<p class=\"note\">No feature drift recorded in results.json.</p>";
  o << "<details" << (config_open ? " open" : "") << "><summary>config.yaml</summary><pre>"
    << (r.config_yaml.empty() ? "(no config.yaml in the run directory)" : escape(r.config_yaml))
    << "</pre></details></section>\n";
  return o.str();
}

}  // namespace lorasub::report
