// The comparison part of a report over several runs: one row per group of repeated
// runs (stats.h: group_runs) with mean +- sample std, and every run's curves overlaid.
#include <sstream>

#include "lorasub/report/html.h"
#include "lorasub/report/sections.h"
#include "lorasub/report/stats.h"
#include "lorasub/report/svg.h"

namespace lorasub::report {
namespace {

std::string mean_std(const std::vector<double>& values) {
  return fixed(mean(values), 2) + " &plusmn; " + fixed(sample_std(values), 2);
}

std::string swatch(const std::string& color) {
  return "<span class=\"swatch\" style=\"background:" + color + "\"></span>";
}

std::string group_table(const std::vector<RunData>& runs, const std::vector<Group>& groups) {
  std::ostringstream html;
  html << "<table class=\"compare\"><tr><th>group</th><th>n</th><th>A_last</th><th>A_avg</th><th>forgetting</th>"
          "<th>train images/s</th><th>runs</th></tr>";
  for (size_t g = 0; g < groups.size(); ++g) {
    std::vector<double> last, avg, forget, speed;
    std::string names;
    for (size_t i : groups[g].runs) {
      last.push_back(runs[i].a_last);
      avg.push_back(runs[i].a_avg);
      forget.push_back(runs[i].forgetting);
      speed.push_back(runs[i].train_images_per_second);
      names += (names.empty() ? "" : ", ") + escape(runs[i].run.empty() ? runs[i].dir : runs[i].run);
    }
    html << "<tr><td>" << swatch(palette(g)) << escape(groups[g].label) << "</td><td>" << groups[g].runs.size()
         << "</td><td>" << mean_std(last) << "</td><td>" << mean_std(avg) << "</td><td>" << mean_std(forget)
         << "</td><td>" << fixed(mean(speed), 0) << "</td><td>" << names << "</td></tr>";
  }
  html << "</table><p class=\"note\">mean &plusmn; sample standard deviation (n &minus; 1) over the runs of a group; "
          "&ndash; with one run. A group is the runs of one method whose configs differ only in bookkeeping "
          "(seed, names, paths, threads, checkpoints, metrics); keys that set a method's groups apart are in "
          "the label.</p>";
  return html.str();
}

// The group index of every run.
std::vector<size_t> group_of(const std::vector<RunData>& runs, const std::vector<Group>& groups) {
  std::vector<size_t> out(runs.size(), 0);
  for (size_t g = 0; g < groups.size(); ++g)
    for (size_t i : groups[g].runs) out[i] = g;
  return out;
}

LegendEntries group_legend(const std::vector<Group>& groups) {
  LegendEntries legend;
  for (size_t g = 0; g < groups.size(); ++g) legend.emplace_back(groups[g].label, palette(g));
  return legend;
}

std::string overlay_a_t(const std::vector<RunData>& runs, const std::vector<Group>& groups) {
  const std::vector<size_t> group = group_of(runs, groups);
  LineChart chart;
  chart.plot = "compare-a-t";
  chart.x_label = "after task";
  chart.y_label = "A_t (%)";
  chart.y_min = 0;
  chart.y_max = 100;
  chart.legend = group_legend(groups);
  for (size_t i = 0; i < runs.size(); ++i) {
    LineSeries series{runs[i].run.empty() ? runs[i].dir : runs[i].run, palette(group[i]), {}, {}};
    for (size_t t = 0; t < runs[i].tasks.size(); ++t) {
      series.x.push_back(static_cast<double>(t + 1));
      series.y.push_back(runs[i].tasks[t].overall);
    }
    chart.series.push_back(series);
  }
  return figure("A_t of every run, colored by group", render(chart));
}

std::string overlay_throughput(const std::vector<RunData>& runs, const std::vector<Group>& groups) {
  const std::vector<size_t> group = group_of(runs, groups);
  BarChart chart;
  chart.plot = "compare-throughput";
  chart.x_label = "run";
  chart.y_label = "train images/s";
  chart.decimals = 0;
  chart.legend = group_legend(groups);
  BarSeries series{"", palette(0), {}, {}};
  for (size_t i = 0; i < runs.size(); ++i) {
    chart.categories.push_back(runs[i].run.empty() ? runs[i].dir : runs[i].run);
    series.values.push_back(runs[i].train_images_per_second);
    series.colors.push_back(palette(group[i]));
  }
  chart.series.push_back(series);
  return figure("Train throughput of every run", render(chart));
}

}  // namespace

std::string compare_section(const std::vector<RunData>& runs) {
  const std::vector<Group> groups = group_runs(runs);
  std::ostringstream html;
  html << "<section class=\"comparison\" id=\"comparison\"><h2>Comparison: " << runs.size() << " runs, "
       << groups.size() << (groups.size() == 1 ? " group" : " groups") << "</h2>\n"
       << group_table(runs, groups) << "<div class=\"plots\">\n"
       << overlay_a_t(runs, groups) << overlay_throughput(runs, groups) << "</div></section>\n";
  return html.str();
}

}  // namespace lorasub::report
