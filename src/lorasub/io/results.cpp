#include "lorasub/io/results.h"

#include <cstdio>
#include <stdexcept>

namespace lorasub::io {

std::string accuracy_matrix_csv(const std::vector<std::vector<double>>& r) {
  const size_t tasks = r.size();
  std::string csv = "after_task";
  for (size_t j = 0; j < tasks; ++j) csv += ",task_" + std::to_string(j);
  csv += "\n";
  for (size_t i = 0; i < tasks; ++i) {
    if (r[i].size() < i + 1 || r[i].size() > tasks) {
      throw std::invalid_argument("accuracy matrix row " + std::to_string(i) + " has " + std::to_string(r[i].size()) +
                                  " values, expected " + std::to_string(i + 1) + ".." + std::to_string(tasks));
    }
    csv += std::to_string(i);
    for (size_t j = 0; j < tasks; ++j) {
      csv += ",";
      if (j > i) continue;
      char cell[64];
      std::snprintf(cell, sizeof cell, "%.2f", r[i][j]);
      csv += cell;
    }
    csv += "\n";
  }
  return csv;
}

void write_json(const RunDir& run, const std::string& rel, const nlohmann::json& value) {
  run.write_text_atomic(rel, value.dump(2) + "\n");
}

}  // namespace lorasub::io
