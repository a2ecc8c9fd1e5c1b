#include "lorasub/report/report.h"

#include <sys/stat.h>

#include <sstream>
#include <stdexcept>

#include "lorasub/core/error.h"
#include "lorasub/io/atomic_file.h"
#include "lorasub/report/html.h"
#include "lorasub/report/sections.h"

namespace lorasub::report {
namespace {

const char* const kStyle = R"(
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; margin: 24px;
       color: #222; background: #fafafa; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; }
h2 .method { font-weight: normal; color: #666; font-size: 15px; margin-left: 8px; }
section { border-top: 2px solid #ddd; }
.plots { display: flex; flex-wrap: wrap; gap: 14px; align-items: flex-start; }
figure { width: min-content; margin: 0; padding: 8px 10px; background: #fff; border: 1px solid #ddd; border-radius: 4px; }
figcaption { font-size: 13px; font-weight: 600; margin-bottom: 4px; max-width: 600px; }
svg text { font-size: 12px; fill: #222; }
svg text.tick { fill: #555; font-size: 11px; } svg text.value { font-size: 11px; }
svg text.label { font-size: 12px; fill: #333; } svg text.legend { font-size: 12px; }
svg .grid { stroke: #e6e6e6; } svg .axis { stroke: #666; }
.note { font-size: 12px; color: #666; margin: 4px 0; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0 12px; background: #fff; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
table.summary th { background: #f3f3f3; font-weight: 600; }
table.compare td:nth-child(n+2):nth-child(-n+6) { text-align: right; font-variant-numeric: tabular-nums; }
.swatch { display: inline-block; width: 12px; height: 12px; margin-right: 6px; vertical-align: -1px; }
pre { background: #fff; border: 1px solid #ddd; padding: 8px; font-size: 12px; max-height: 480px; overflow: auto; }
nav a { margin-right: 12px; }
)";

std::string display_name(const RunData& r) { return r.run.empty() ? r.dir : r.run; }

bool exists(const std::string& path, bool* is_dir) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  *is_dir = S_ISDIR(st.st_mode);
  return true;
}

}  // namespace

std::string render_report(const std::vector<RunData>& runs) {
  std::ostringstream o;
  const std::string title = runs.size() == 1 ? "lorasub report: " + display_name(runs[0])
                                             : "lorasub report: " + std::to_string(runs.size()) + " runs";
  o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    << "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
    << "<meta name=\"generator\" content=\"lorasub " << LORASUB_VERSION << "\">\n<title>" << escape(title)
    << "</title>\n<style>" << kStyle << "</style></head>\n<body>\n<h1>" << escape(title) << "</h1>\n";
  if (runs.size() > 1) {
    o << "<nav><a href=\"#comparison\">comparison</a>";
    for (size_t i = 0; i < runs.size(); ++i)
      o << "<a href=\"#run-" << i + 1 << "\">" << escape(display_name(runs[i])) << "</a>";
    o << "</nav>\n" << compare_section(runs);
  }
  for (size_t i = 0; i < runs.size(); ++i) o << run_section(runs[i], i, runs.size() == 1);
  o << "<p class=\"note\">Written by lorasub " << LORASUB_VERSION
    << " (lorasub report). Hover a mark for its value.</p>\n</body></html>\n";
  return o.str();
}

int count_plots(const std::string& html) {
  int n = 0;
  for (size_t p = html.find("<svg "); p != std::string::npos; p = html.find("<svg ", p + 1))
    if (html.find("data-plot=", p) < html.find('>', p)) ++n;
  return n;
}

int write_report(const std::vector<std::string>& run_dirs, const std::string& out, bool overwrite) {
  if (run_dirs.empty()) throw ConfigError("lorasub report: give at least one run directory");
  bool is_dir = false;
  if (exists(out, &is_dir)) {
    if (is_dir) throw ConfigError("report output '" + out + "' is a directory; give a file name (-o DIR/report.html)");
    if (!overwrite) throw ConfigError("report output '" + out + "' exists; pass --overwrite to replace it");
  }
  const std::string parent = io::parent_dir(out);
  if (!exists(parent, &is_dir) || !is_dir)
    throw ConfigError("report output '" + out + "': directory '" + parent + "' does not exist");
  std::vector<RunData> runs;
  for (const std::string& d : run_dirs) runs.push_back(load_run(d));
  const std::string html = render_report(runs);
  try {
    io::write_file_atomic(out, html);
  } catch (const std::runtime_error& e) {
    throw ConfigError("report output '" + out + "' not written: " + e.what());
  }
  return count_plots(html);
}

std::string write_run_report(const std::string& run_dir) {
  const std::string out = run_dir + "/report.html";
  io::write_file_atomic(out, render_report({load_run(run_dir)}));
  return out;
}

}  // namespace lorasub::report
