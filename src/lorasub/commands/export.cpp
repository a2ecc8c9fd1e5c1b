#include "lorasub/train/export.h"

#include <sys/stat.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <regex>
#include <vector>

#include "lorasub/core/config.h"
#include "lorasub/core/error.h"
#include "lorasub/core/sha256.h"
#include "lorasub/data/image_transforms.h"
#include "lorasub/io/atomic_file.h"
#include "lorasub/io/run_dir.h"
#include "lorasub/io/safetensors.h"
#include "lorasub/model/lora_bank.h"
#include "lorasub/model/vit.h"
#include "lorasub/train/checkpoint.h"

namespace lorasub::train {
namespace {

bool exists(const std::string& p, bool* is_dir = nullptr) {
  struct stat st {};
  if (stat(p.c_str(), &st) != 0) return false;
  if (is_dir) *is_dir = S_ISDIR(st.st_mode);
  return true;
}

// Refuses an output that would replace something unasked or land nowhere, before any work.
void check_output(const ExportRequest& req) {
  if (req.output.empty()) throw ConfigError("give the output file with -o FILE");
  bool dir = false;
  if (exists(req.output, &dir)) {
    if (dir) throw ConfigError("'" + req.output + "' is a directory; give a file name");
    if (!req.overwrite)
      throw ConfigError("'" + req.output + "' exists; pass --overwrite to replace it");
  }
  const std::string parent = io::parent_dir(req.output);
  if (!exists(parent, &dir) || !dir)
    throw ConfigError("cannot write '" + req.output + "': directory '" + parent + "' does not exist");
}

// The checkpoint of the requested task (the last finished one by default).
std::string pick_checkpoint(const ExportRequest& req, int64_t* task) {
  bool dir = false;
  if (!exists(req.run_dir, &dir) || !dir)
    throw ConfigError("run directory '" + req.run_dir + "' does not exist");
  const std::map<int64_t, std::string> done = task_end_checkpoints(req.run_dir);
  if (done.empty())
    throw ConfigError("'" + req.run_dir + "' holds no finished task (no checkpoints/task_TTT.h5)");
  const int64_t last = done.rbegin()->first;
  *task = req.task < 0 ? last : req.task;
  const auto it = done.find(*task);
  if (it == done.end()) {
    std::string have;
    for (const auto& [t, path] : done) have += (have.empty() ? "" : ", ") + std::to_string(t);
    throw ConfigError("--task " + std::to_string(req.task) + " is not a finished task of '" +
                      req.run_dir + "' (task-end checkpoints: " + have + "; tasks count from 0)");
  }
  return it->second;
}

// The backbone the run trained on, checked against the checkpoint's SHA-256.
model::Vit load_backbone(const Config& cfg, const Checkpoint& c, const std::string& override_path,
                         const model::VitShape& shape, std::string* used) {
  if (c.backbone_sha256 == "random-init" && override_path.empty()) {
    *used = "random-init";
    return model::Vit::random(shape, cfg.run.seed);  // as the trainer made it: seeded, reproducible
  }
  const std::string path = override_path.empty() ? cfg.model.weights : override_path;
  const std::string whence = override_path.empty() ? " (the run's model.weights; pass --backbone FILE if it moved)"
                                                    : " (--backbone)";
  bool dir = false;
  if (!exists(path, &dir) || dir)
    throw ConfigError("backbone '" + path + "'" + whence + " does not exist");
  const std::string sha = sha256_file(path);
  if (sha != c.backbone_sha256)
    throw ConfigError("backbone '" + path + "'" + whence + " has SHA-256 " + sha +
                      ", but the run was trained on " + c.backbone_sha256);
  *used = path;
  return model::Vit::load(path, shape);
}

io::TensorData tensor_data(const at::Tensor& t) {
  const at::Tensor c = t.detach().to(at::kCPU).contiguous().to(at::kFloat);
  io::TensorData td;
  td.shape = c.sizes().vec();
  td.values.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  return td;
}

io::TensorData int_data(const std::vector<int64_t>& v) {
  io::TensorData td;
  td.dtype = "I64";
  td.shape = {static_cast<int64_t>(v.size())};
  for (int64_t x : v) td.values.push_back(static_cast<float>(x));
  return td;
}

// What predict needs to turn an image into the model's input as the run's evaluation did.
std::string transform_json(const Config& cfg) {
  const auto names = data::pipeline_names();
  nlohmann::json t = {{"image_size", cfg.model.image_size}, {"channels", cfg.model.channels},
                      {"pixels", "uint8 / 255 in [0, 1], no mean/std normalisation"}};
  if (std::find(names.begin(), names.end(), cfg.data.dataset) != names.end()) {
    const data::ImagePipeline p = data::make_pipeline(cfg.data.dataset, cfg.model.image_size);
    t["kind"] = "pipeline";
    t["pipeline"] = p.name;
    t["resize_short"] = p.resize_short;  // test: Resize(short side) + CenterCrop(image_size)
  } else {
    t["kind"] = "identity";  // the small-image test transform: the pixels as they are
  }
  return t.dump();
}

std::map<std::string, std::string> export_metadata(const Config& cfg, const Checkpoint& c, int64_t task,
                                                   int64_t classes, double accuracy) {
  const nlohmann::json shape = {{"image_size", cfg.model.image_size}, {"channels", cfg.model.channels},
                                {"patch", cfg.model.patch},           {"dim", cfg.model.dim},
                                {"depth", cfg.model.depth},           {"heads", cfg.model.heads},
                                {"mlp_dim", cfg.model.mlp_dim}};
  char acc[64];
  std::snprintf(acc, sizeof(acc), "%.17g", accuracy);
  return {{"format", "pt"},  // what timm/transformers writers put here
          {"lorasub.format", kExportFormat},
          {"lorasub.format_version", std::to_string(kExportFormatVersion)},
          {"lorasub.version", LORASUB_VERSION},
          {"lorasub.run", cfg.run.name},
          {"lorasub.method", cfg.method.name},
          {"lorasub.dataset", cfg.data.dataset},
          {"lorasub.task", std::to_string(task)},
          {"lorasub.tasks", std::to_string(c.task_sizes.size())},
          {"lorasub.classes", std::to_string(classes)},
          {"lorasub.accuracy", acc},
          {"lorasub.model", shape.dump()},
          {"lorasub.transform", transform_json(cfg)},
          {"lorasub.feature", "CLS token after the final norm"},
          {"lorasub.ncm", "cosine: features and prototypes L2-normalised (eps 1e-8), nearest prototype"},
          {"lorasub.precision", cfg.train.precision},
          {"lorasub.eval_batch_size", std::to_string(cfg.train.eval_batch_size)},
          {"lorasub.backbone_sha256", c.backbone_sha256},
          {"lorasub.config_hash", c.config_hash}};
}

}  // namespace

std::map<int64_t, std::string> task_end_checkpoints(const std::string& run_dir) {
  static const std::regex name(R"(task_(\d{3,9})\.h5)");
  std::map<int64_t, std::string> out;
  for (const std::string& path : io::list_files(run_dir + "/checkpoints", "task_")) {
    std::smatch m;
    const std::string base = path.substr(path.find_last_of('/') + 1);
    if (std::regex_match(base, m, name)) out[std::stoll(m[1].str())] = path;
  }
  return out;
}

ExportSummary export_model(const ExportRequest& req) {
  check_output(req);
  ExportSummary s;
  s.checkpoint = pick_checkpoint(req, &s.task);
  const Checkpoint c = read_checkpoint(s.checkpoint);  // FormatError: damaged
  if (c.kind != "task_end" || !c.pos.task_done || c.pos.task != s.task)
    throw FormatError("'" + s.checkpoint + "': not the task-end checkpoint of task " + std::to_string(s.task) +
                      " (kind " + c.kind + ", task " + std::to_string(c.pos.task) + ")");
  const Config cfg = parse_config(c.config_yaml, "the config of '" + s.checkpoint + "'");
  const model::VitShape shape{cfg.model.image_size, cfg.model.channels, cfg.model.patch, cfg.model.dim,
                              cfg.model.depth,      cfg.model.heads,    cfg.model.mlp_dim};
  const model::Vit vit = load_backbone(cfg, c, req.backbone, shape, &s.backbone);

  // The evaluation weights: LoraBank folds the deltas of tasks 0..T as the learner does.
  const method::LearnerState& l = c.learner;
  model::LoraBank bank(vit, l.adapters.empty() ? std::min<int64_t>(cfg.method.rank, shape.dim)
                                               : l.adapters.front().blocks.front().a_k.size(0));
  for (const auto& a : l.adapters) bank.add_task(a);
  const std::vector<at::Tensor> qkv = bank.folded_qkv(bank.num_tasks(), +1);

  std::map<std::string, io::TensorData> tensors;
  for (const auto& [name, t] : vit.named_tensors()) tensors.emplace(name, tensor_data(t));
  for (int64_t i = 0; i < shape.depth; ++i)
    tensors["blocks." + std::to_string(i) + ".attn.qkv.weight"] = tensor_data(qkv[static_cast<size_t>(i)]);

  for (int64_t t = 0; t <= s.task; ++t) s.classes += c.task_sizes.at(static_cast<size_t>(t));
  for (int64_t k = 0; k < s.classes; ++k)
    if (l.proto_counts.at(static_cast<size_t>(k)) <= 0)
      throw FormatError("'" + s.checkpoint + "': class position " + std::to_string(k) + " has no prototype");
  tensors.emplace(kExportPrototypes, tensor_data(l.prototypes.narrow(0, 0, s.classes)));
  tensors.emplace(kExportClassOrder, int_data({c.class_order.begin(), c.class_order.begin() + s.classes}));
  tensors.emplace(kExportPrototypeCounts, int_data({l.proto_counts.begin(), l.proto_counts.begin() + s.classes}));

  s.accuracy = c.summary.accuracy.overall().at(static_cast<size_t>(s.task));
  check_output(req);  // again: nothing appeared there meanwhile
  io::write_safetensors(req.output, tensors, export_metadata(cfg, c, s.task, s.classes, s.accuracy));
  s.output = req.output;
  return s;
}

}  // namespace lorasub::train
