// Result files of a run directory. The accuracy metrics themselves belong to method/;
// this only formats and writes them.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lorasub/io/run_dir.h"

namespace lorasub::io {

// r[i][j] = accuracy (%) on task j's classes after training task i, for j <= i.
// Header "after_task,task_0,...,task_{T-1}" (T = r.size()), one row per task, values
// with 2 decimals, empty cells for j > i. Each row needs i+1..T values
// (std::invalid_argument otherwise); values past j = i are not written.
std::string accuracy_matrix_csv(const std::vector<std::vector<double>>& r);

// Pretty-printed (2-space indent, trailing newline), written atomically to run.file(rel).
void write_json(const RunDir& run, const std::string& rel, const nlohmann::json& value);

}  // namespace lorasub::io
