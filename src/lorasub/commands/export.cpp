#include "lorasub/commands/export.h"

#include <sys/stat.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <regex>
#include <vector>

#include "lorasub/core/config.h"
#include "lorasub/core/error.h"
#include "lorasub/core/sha256.h"
#include "lorasub/data/image_transforms.h"
#include "lorasub/io/atomic_file.h"
#include "lorasub/io/run_dir.h"
#include "lorasub/io/safetensors.h"
#include "lorasub/data/task_plan.h"
#include "lorasub/dist/communicator.h"
#include "lorasub/method/learner.h"
#include "lorasub/model/vit.h"
#include "lorasub/train/checkpoint.h"

namespace lorasub::commands {
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
    if (!req.overwrite) throw ConfigError("'" + req.output + "' exists; pass --overwrite to replace it");
  }
  const std::string parent = io::parent_dir(req.output);
  if (!exists(parent, &dir) || !dir)
    throw ConfigError("cannot write '" + req.output + "': directory '" + parent + "' does not exist");
}

// The checkpoint of the requested task (the last finished one by default).
std::string pick_checkpoint(const ExportRequest& req, int64_t* task) {
  bool dir = false;
  if (!exists(req.run_dir, &dir) || !dir) throw ConfigError("run directory '" + req.run_dir + "' does not exist");
  const std::map<int64_t, std::string> done = task_end_checkpoints(req.run_dir);
  if (done.empty()) throw ConfigError("'" + req.run_dir + "' holds no finished task (no checkpoints/task_TTT.h5)");
  const int64_t last = done.rbegin()->first;
  *task = req.task < 0 ? last : req.task;
  const auto it = done.find(*task);
  if (it == done.end()) {
    std::string have;
    for (const auto& [t, path] : done) have += (have.empty() ? "" : ", ") + std::to_string(t);
    throw ConfigError("--task " + std::to_string(req.task) + " is not a finished task of '" + req.run_dir +
                      "' (task-end checkpoints: " + have + "; tasks count from 0)");
  }
  return it->second;
}

// The backbone the run trained on, checked against the checkpoint's SHA-256.
model::Vit load_backbone(const Config& cfg, const train::Checkpoint& c, const std::string& override_path,
                         const model::VitShape& shape, std::string* used) {
  if (c.backbone_sha256 == "random-init" && override_path.empty()) {
    *used = "random-init";
    return model::Vit::random(shape, cfg.run.seed);  // as the trainer made it: seeded, reproducible
  }
  const std::string path = override_path.empty() ? cfg.model.weights : override_path;
  const std::string whence =
      override_path.empty() ? " (the run's model.weights; pass --backbone FILE if it moved)" : " (--backbone)";
  bool dir = false;
  if (!exists(path, &dir) || dir) throw ConfigError("backbone '" + path + "'" + whence + " does not exist");
  const std::string sha = sha256_file(path);
  if (sha != c.backbone_sha256)
    throw ConfigError("backbone '" + path + "'" + whence + " has SHA-256 " + sha + ", but the run was trained on " +
                      c.backbone_sha256);
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

// What predict needs to turn an image into the model's input as the run's evaluation did.
TestTransform test_transform(const Config& cfg) {
  TestTransform t;
  t.image_size = cfg.model.image_size;
  t.channels = cfg.model.channels;
  const auto names = data::pipeline_names();
  if (std::find(names.begin(), names.end(), cfg.data.dataset) != names.end()) {
    const data::ImagePipeline p = data::make_pipeline(cfg.data.dataset, cfg.model.image_size);
    t.pipeline = true;
    t.pipeline_name = p.name;
    t.resize_short = p.resize_short;
  }
  return t;
}

// The export's prototypes, class order and provenance for `task` (its first `classes`
// class positions).
ExportInfo export_info(const Config& cfg, const train::Checkpoint& c, const ExportSummary& s) {
  const method::LearnerState& l = c.learner;
  for (int64_t k = 0; k < s.classes; ++k)
    if (l.proto_counts.at(static_cast<size_t>(k)) <= 0)
      throw FormatError("'" + s.checkpoint + "': class position " + std::to_string(k) + " has no prototype");
  ExportInfo m;
  m.shape = model::model_shape(cfg.model);
  m.transform = test_transform(cfg);
  m.precision = cfg.train.precision;
  m.eval_batch_size = cfg.train.eval_batch_size;
  m.prototypes = tensor_data(l.prototypes.narrow(0, 0, s.classes));
  m.class_order.assign(c.class_order.begin(), c.class_order.begin() + s.classes);
  m.prototype_counts.assign(l.proto_counts.begin(), l.proto_counts.begin() + s.classes);
  m.run = cfg.run.name;
  m.method = cfg.method.name;
  m.dataset = cfg.data.dataset;
  m.backbone_sha256 = c.backbone_sha256;
  m.config_hash = c.config_hash;
  m.task = s.task;
  m.tasks = static_cast<int64_t>(c.task_sizes.size());
  m.accuracy = s.accuracy;
  return m;
}

// The run's learner at the checkpoint: its plan rebuilt from the task sizes (labels are
// class-order positions, so the order itself does not matter to the learner).
std::unique_ptr<method::Learner> learner_at(const model::Vit& vit, const Config& cfg, const train::Checkpoint& c,
                                            dist::Communicator& comm, std::unique_ptr<data::TaskPlan>* plan) {
  const std::vector<int64_t>& sizes = c.task_sizes;
  int64_t classes = 0;
  for (int64_t n : sizes) classes += n;
  *plan = std::make_unique<data::TaskPlan>(data::TaskPlan::make(
      classes, sizes.at(0), sizes.size() > 1 ? sizes[1] : sizes[0], static_cast<int64_t>(sizes.size()), false, 0));
  if ((*plan)->task_sizes() != sizes) throw FormatError("checkpoint: its task sizes cannot be rebuilt into a plan");
  std::unique_ptr<method::Learner> learner = method::make_learner(vit, cfg, **plan, comm);
  learner->restore(c.learner);
  return learner;
}

// The backbone with the qkv weights the learner evaluates with (the deltas of tasks 0..T
// folded as the method folds them), and the heads for methods that predict with them.
std::map<std::string, io::TensorData> merged_backbone(const model::Vit& vit, const method::Learner& learner,
                                                      ExportInfo* info) {
  const std::vector<at::Tensor> qkv = learner.evaluation_qkv();
  std::map<std::string, io::TensorData> tensors;
  for (const auto& [name, t] : vit.named_tensors()) tensors.emplace(name, tensor_data(t));
  for (int64_t i = 0; i < vit.shape().depth; ++i)
    tensors["blocks." + std::to_string(i) + ".attn.qkv.weight"] = tensor_data(qkv[static_cast<size_t>(i)]);
  if (learner.predicts_with_heads()) {
    std::vector<at::Tensor> w, b;
    for (const auto& h : learner.heads()) {
      w.push_back(h.weight.detach().to(at::kCPU));
      b.push_back(h.bias.detach().to(at::kCPU));
    }
    info->head_weight = tensor_data(at::cat(w, 0));
    info->head_bias = tensor_data(at::cat(b, 0));
  }
  return tensors;
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
  const train::Checkpoint c = train::read_checkpoint(s.checkpoint);  // FormatError: damaged
  if (c.kind != "task_end" || !c.pos.task_done || c.pos.task != s.task)
    throw FormatError("'" + s.checkpoint + "': not the task-end checkpoint of task " + std::to_string(s.task) +
                      " (kind " + c.kind + ", task " + std::to_string(c.pos.task) + ")");
  const Config cfg = parse_config(c.config_yaml, "the config of '" + s.checkpoint + "'");
  const model::VitShape shape = model::model_shape(cfg.model);
  const model::Vit vit = load_backbone(cfg, c, req.backbone, shape, &s.backbone);
  for (int64_t t = 0; t <= s.task; ++t) s.classes += c.task_sizes.at(static_cast<size_t>(t));
  s.accuracy = c.trainer.summary.accuracy.overall().at(static_cast<size_t>(s.task));
  ExportInfo info = export_info(cfg, c, s);
  dist::LocalCommunicator local;
  std::unique_ptr<data::TaskPlan> plan;
  const std::unique_ptr<method::Learner> learner = learner_at(vit, cfg, c, local, &plan);
  const auto backbone = merged_backbone(vit, *learner, &info);
  check_output(req);  // again: nothing appeared there meanwhile
  write_export(req.output, backbone, info);
  s.output = req.output;
  return s;
}

}  // namespace lorasub::commands
