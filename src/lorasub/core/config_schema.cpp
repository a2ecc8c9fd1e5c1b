// The schema table: every Config field with its type, range/choices and description.
#include "lorasub/core/config_schema.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <type_traits>

namespace lorasub::config_detail {
namespace {

template <class T>
constexpr Kind kind_of() {
  if constexpr (std::is_same_v<T, std::string>)
    return Kind::kString;
  else if constexpr (std::is_same_v<T, bool>)
    return Kind::kBool;
  else if constexpr (std::is_same_v<T, double>)
    return Kind::kDouble;
  else if constexpr (std::is_same_v<T, int64_t>)
    return Kind::kInt;
  else {
    static_assert(std::is_same_v<T, uint64_t>, "unsupported config field type");
    return Kind::kUint;
  }
}

// One schema entry for the field `mem` of the section `sec`.
template <class S, class T>
Key field(const char* full, S Config::*sec, T S::*mem, const char* desc) {
  Key k;
  k.full = full;
  const auto dot = k.full.find('.');
  k.section = k.full.substr(0, dot);
  k.name = k.full.substr(dot + 1);
  k.kind = kind_of<T>();
  k.get = [sec, mem](const Config& c) { return Value(std::in_place_type<T>, (c.*sec).*mem); };
  k.set = [sec, mem](Config& c, const Value& v) { (c.*sec).*mem = std::get<T>(v); };
  k.desc = desc;
  return k;
}

const std::vector<std::string> kDatasets = {"fashion-mnist", "mnist-json", "synthetic",
                                            "imagenet-r",    "domainnet",  "cifar100"};

std::vector<Key> build_run_data() {
  using C = Config;
  using D = DataConfig;
  return {
      field("run.name", &C::run, &RunConfig::name, "run directory name under run.dir"),
      field("run.dir", &C::run, &RunConfig::dir, "parent of run directories"),
      field("run.seed", &C::run, &RunConfig::seed, "the one seed all random streams derive from"),
      field("data.dataset", &C::data, &D::dataset, "dataset to train and test on").one_of(kDatasets),
      field("data.root", &C::data, &D::root,
            "dataset location (dataset-specific; cifar100: the cifar-100-python folder (train, test, meta) or "
            "the cifar-100-binary folder (train.bin, test.bin); data/README.md)"),
      field("data.split_train", &C::data, &D::split_train,
            "imagenet-r: train list (CODA-Prompt yaml: data, targets = the folder's rank among the sorted wnids); "
            "empty = seeded 80/20 split"),
      field("data.split_test", &C::data, &D::split_test, "imagenet-r: test list (same format)"),
      field("data.split_seed", &C::data, &D::split_seed, "seed of the 80/20 split when no lists are given"),
      field("data.domains", &C::data, &D::domains, "domainnet: comma-separated domains to use"),
      field("data.on_bad_image", &C::data, &D::on_bad_image,
            "an unreadable image: stop with an error naming it, or skip it (counted, grey image)")
          .one_of({"error", "skip"}),
      field("data.cache", &C::data, &D::cache,
            "pre-decoded images written by `lorasub prepare`; empty = decode the image files"),
      field("data.cache_short_side", &C::data, &D::cache_short_side,
            "lorasub prepare: resize images to this short side before caching")
          .at_least(1),
      field("data.init_cls", &C::data, &D::init_cls, "classes in task 0").at_least(1),
      field("data.increment", &C::data, &D::increment, "classes per later task (remainder -> extra task)").at_least(1),
      field("data.num_tasks", &C::data, &D::num_tasks, "tasks to run; 0 = as many as init_cls/increment give")
          .at_least(0),
      field("data.shuffle", &C::data, &D::shuffle, "permute the class order with run.seed"),
      field("data.train_per_class", &C::data, &D::train_per_class, "train images per class; 0 = all, else the first N")
          .at_least(0),
      field("data.test_per_class", &C::data, &D::test_per_class, "test images per class; 0 = all, else the first N")
          .at_least(0),
      field("data.workers", &C::data, &D::workers, "loader threads per rank").range(1, 256),
      field("data.prefetch", &C::data, &D::prefetch, "batches ready ahead").range(1, 1024),
      field("data.crop_padding", &C::data, &D::crop_padding, "zero padding before the random train crop").at_least(0),
      field("data.flip", &C::data, &D::flip, "random horizontal flip of train images"),
      field("data.synthetic_classes", &C::data, &D::synthetic_classes, "classes of the synthetic dataset").at_least(1),
      field("data.synthetic_per_class", &C::data, &D::synthetic_per_class,
            "train images per class of the synthetic dataset")
          .at_least(0),
      field("data.synthetic_test_per_class", &C::data, &D::synthetic_test_per_class,
            "test images per class of the synthetic dataset")
          .at_least(0),
  };
}

std::vector<Key> build_model_method_loss() {
  using C = Config;
  using M = ModelConfig;
  using X = MethodConfig;
  return {
      field("model.weights", &C::model, &M::weights, "backbone.safetensors (timm key names); empty = random init"),
      field("model.image_size", &C::model, &M::image_size, "input image side (pixels)").range(1, 4096),
      field("model.channels", &C::model, &M::channels, "input image channels").range(1, 4),
      field("model.patch", &C::model, &M::patch, "ViT patch side (pixels)").range(1, 4096),
      field("model.dim", &C::model, &M::dim, "ViT embedding width").range(1, 16384),
      field("model.depth", &C::model, &M::depth, "ViT transformer blocks").range(1, 256),
      field("model.heads", &C::model, &M::heads, "attention heads per block").range(1, 1024),
      field("model.mlp_dim", &C::model, &M::mlp_dim, "ViT MLP hidden width").range(1, 65536),
      field("method.name", &C::method, &X::name,
            "continual-learning method: lora-drs (LoRA- with the DRS), seq-lora, ncm (frozen backbone), inflora, "
            "sd-lora (docs/method.md)")
          .one_of({"lora-drs", "seq-lora", "ncm", "inflora", "sd-lora"}),
      field("method.compat", &C::method, &X::compat, "behaviour to match").one_of({"reference"}),
      field("method.rank", &C::method, &X::rank, "LoRA rank r").at_least(1),
      field("drs.energy", &C::drs, &DrsConfig::energy, "DRS kept-energy threshold").above(0).at_most(1),
      field("drs.subtract", &C::drs, &DrsConfig::subtract,
            "covariance pass under W0 - sum of old deltas (false: under the current weights)"),
      field("drs.project", &C::drs, &DrsConfig::project,
            "project the adapter Adam step onto the DRS (false: plain Adam)"),
      field("inflora.lamb", &C::inflora, &InfloraConfig::lamb,
            "inflora: DualGPM energy threshold after the first task (grows linearly to inflora.lame)")
          .above(0)
          .at_most(1),
      field("inflora.lame", &C::inflora, &InfloraConfig::lame,
            "inflora: the threshold the growth aims at (after task T)")
          .above(0)
          .at_most(1),
      field("loss.atl_weight", &C::loss, &LossConfig::atl_weight, "angular triplet loss weight (lambda)").at_least(0),
      field("loss.margin", &C::loss, &LossConfig::margin, "triplet margin").at_least(0),
  };
}

std::vector<Key> build_train() {
  using C = Config;
  using T = TrainConfig;
  return {
      field("train.batch_size", &C::train, &T::batch_size, "global batch (all ranks together)").at_least(1),
      field("train.init_epochs", &C::train, &T::init_epochs, "epochs of task 0").at_least(1),
      field("train.epochs", &C::train, &T::epochs,
            "epochs of later tasks; also K of the cosine schedule in every task (inflora: init_epochs in task 0; "
            "sd-lora: a constant rate)")
          .at_least(1),
      field("train.init_lr", &C::train, &T::init_lr,
            "adapter learning rate, task 0 (inflora, sd-lora: heads and magnitudes too)")
          .at_least(0),
      field("train.lrate", &C::train, &T::lrate,
            "adapter learning rate, later tasks (inflora, sd-lora: heads and magnitudes too)")
          .at_least(0),
      field("train.fc_lrate", &C::train, &T::fc_lrate,
            "head learning rate (lora-drs, seq-lora; inflora and sd-lora train the head at the adapters' rate, as "
            "their code does)")
          .at_least(0),
      field("train.eval_batch_size", &C::train, &T::eval_batch_size, "evaluation batch").at_least(1),
      field("train.log_every", &C::train, &T::log_every, "steps between progress lines when not a terminal")
          .at_least(1),
      field("train.threads", &C::train, &T::threads, "intra-op threads per rank; 0 = cores / local ranks")
          .range(0, 1024),
      field("train.device", &C::train, &T::device,
            "auto: cuda when LibTorch has CUDA and a GPU is visible, else cpu; one GPU per rank")
          .one_of({"auto", "cpu", "cuda"}),
      field("train.precision", &C::train, &T::precision,
            "ViT forward/backward precision (autocast); adapters, optimizer, covariance stay fp32/fp64")
          .one_of({"fp32", "bf16"}),
      field("train.tf32", &C::train, &T::tf32, "CUDA: allow TF32 for fp32 matmuls and convolutions"),
      field("train.drift", &C::train, &T::drift,
            "after each task, measure the feature drift of earlier tasks and what their stale prototypes cost"),
      field("train.drift_sample", &C::train, &T::drift_sample,
            "training images per earlier class the stale-prototype measurement reads, the same ones at every "
            "task (0 = auto: up to 64, within 1% of the plan's training compute)")
          .at_least(0),
      field("train.drift_full", &C::train, &T::drift_full,
            "stale-prototype measurement over every earlier training image (exact; cost grows with tasks^2)"),
      field("train.fail_step", &C::train, &T::fail_step, "fault injection: global step to throw at (-1 = off)")
          .at_least(-1),
      field("train.fail_rank", &C::train, &T::fail_rank, "fault injection: rank that fails").at_least(0),
      field("train.fail_kind", &C::train, &T::fail_kind,
            "fault injection: throw, make the loss NaN, or send itself SIGUSR1")
          .one_of({"throw", "nan", "signal"}),
  };
}

std::vector<Key> build_rest() {
  using C = Config;
  using P = PretrainConfig;
  return {
      field("pretrain.dataset", &C::pretrain, &P::dataset, "backbone pretraining dataset").one_of(kDatasets),
      field("pretrain.root", &C::pretrain, &P::root, "pretraining dataset location"),
      field("pretrain.epochs", &C::pretrain, &P::epochs, "pretraining epochs").at_least(1),
      field("pretrain.lr", &C::pretrain, &P::lr, "pretraining learning rate").at_least(0),
      field("pretrain.weight_decay", &C::pretrain, &P::weight_decay, "pretraining weight decay").at_least(0),
      field("pretrain.batch_size", &C::pretrain, &P::batch_size, "pretraining batch").at_least(1),
      field("pretrain.output", &C::pretrain, &P::output, "where pretraining writes the backbone"),
      field("dist.backend", &C::dist, &DistConfig::backend,
            "communicator: auto = nccl when train.device is cuda, else mpi (local for one rank)")
          .one_of({"auto", "mpi", "nccl", "local"}),
      field("dist.timeout_seconds", &C::dist, &DistConfig::timeout_seconds,
            "nccl: abort the job when a collective has not completed after this long")
          .at_least(1),
      field("ckpt.task_end", &C::ckpt, &CkptConfig::task_end, "checkpoint at every task end (checkpoints/task_TTT.h5)"),
      field("ckpt.every_steps", &C::ckpt, &CkptConfig::every_steps, "also checkpoint every N global steps (0 = off)")
          .at_least(0),
      field("ckpt.every_minutes", &C::ckpt, &CkptConfig::every_minutes,
            "also checkpoint every M minutes of training (0 = off)")
          .at_least(0),
      field("ckpt.keep", &C::ckpt, &CkptConfig::keep, "step checkpoints kept (oldest pruned first)").at_least(1),
      field("ckpt.keep_task_ends", &C::ckpt, &CkptConfig::keep_task_ends,
            "never prune task-end checkpoints (false: they count towards ckpt.keep)"),
      field("ckpt.stop_deadline_seconds", &C::ckpt, &CkptConfig::stop_deadline_seconds,
            "after a stop signal, exit (code 76) if the agreed stop has not finished by then; 0 = no limit")
          .at_least(0),
      field("metrics.enabled", &C::metrics, &MetricsConfig::enabled, "serve Prometheus metrics"),
      field("metrics.port", &C::metrics, &MetricsConfig::port, "rank r serves on port + local_rank").range(1, 65535),
      field("metrics.bind", &C::metrics, &MetricsConfig::bind,
            "metrics listen address, or a network (e.g. 10.0.0.0/8): this host's address in it"),
      field("metrics.auth_file", &C::metrics, &MetricsConfig::auth_file,
            "file holding user:password for HTTP basic auth on /metrics (\"\" = no auth)"),
      field("metrics.file_sd_dir", &C::metrics, &MetricsConfig::file_sd_dir,
            "rank 0 writes a Prometheus file_sd target file for every rank here (\"\" = none)"),
  };
}

std::vector<Key> build_schema() {
  std::vector<Key> all;
  for (auto part : {build_run_data(), build_model_method_loss(), build_train(), build_rest()}) {
    for (auto& k : part) all.push_back(std::move(k));
  }
  return all;
}

// Fewest significant digits (%g style, "0.0005" not "5e-04") that read back to exactly `d`.
std::string shortest(double d) {
  char buf[64];
  std::string s;
  for (int prec = 1; prec <= std::numeric_limits<double>::max_digits10; ++prec) {
    const auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::general, prec);
    s.assign(buf, res.ptr);
    double back = 0;
    std::from_chars(s.data(), s.data() + s.size(), back);
    if (back == d || !std::isfinite(d)) break;
  }
  // "1e-05" -> "1e-5"
  const auto e = s.find('e');
  if (e != std::string::npos && e + 2 < s.size() && s[e + 2] == '0') s.erase(e + 2, 1);
  return s;
}

// Plain when that reads back as the same string, else double-quoted with escapes.
std::string yaml_string(const std::string& s) {
  static const char* const kWords[] = {"~", "null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE"};
  bool plain = !s.empty() && s[0] != '-' && s[0] != '+';
  for (const char* w : kWords) plain = plain && s != w;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    plain = plain && (std::isalnum(u) || (c != 0 && std::strchr("_./+-", c) != nullptr));
  }
  if (plain) return s;
  std::string out = "\"";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace

const std::vector<Key>& schema() {
  static const std::vector<Key> keys = build_schema();
  return keys;
}

const std::vector<std::string>& sections() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& k : schema()) {
      if (out.empty() || out.back() != k.section) out.push_back(k.section);
    }
    return out;
  }();
  return names;
}

const Key* find_key(const std::string& full) {
  for (const auto& k : schema()) {
    if (k.full == full) return &k;
  }
  return nullptr;
}

const char* kind_noun(Kind kind) {
  switch (kind) {
    case Kind::kString:
      return "a string";
    case Kind::kInt:
      return "an integer";
    case Kind::kUint:
      return "a non-negative integer";
    case Kind::kDouble:
      return "a number";
    case Kind::kBool:
      return "a boolean (true or false)";
  }
  return "?";
}

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::kString:
      return "string";
    case Kind::kInt:
      return "int";
    case Kind::kUint:
      return "uint";
    case Kind::kDouble:
      return "double";
    case Kind::kBool:
      return "bool";
  }
  return "?";
}

std::string constraint_text(const Key& k) {
  if (!k.choices.empty()) {
    std::string s = "one of: ";
    for (size_t i = 0; i < k.choices.size(); ++i) s += (i ? ", " : "") + k.choices[i];
    return s;
  }
  const bool has_lo = std::isfinite(k.lo), has_hi = std::isfinite(k.hi);
  if (has_lo && has_hi && k.lo_open) return "in (" + shortest(k.lo) + ", " + shortest(k.hi) + "]";
  if (has_lo && has_hi) return "between " + shortest(k.lo) + " and " + shortest(k.hi);
  if (has_lo) return (k.lo_open ? "> " : ">= ") + shortest(k.lo);
  if (has_hi) return "<= " + shortest(k.hi);
  return "";
}

std::string check_value(const Key& k, const Value& v) {
  if (!k.choices.empty()) {
    const auto& s = std::get<std::string>(v);
    for (const auto& c : k.choices) {
      if (s == c) return "";
    }
    return "must be " + constraint_text(k) + " (got '" + s + "')";
  }
  double x = 0;
  if (k.kind == Kind::kInt)
    x = static_cast<double>(std::get<int64_t>(v));
  else if (k.kind == Kind::kUint)
    x = static_cast<double>(std::get<uint64_t>(v));
  else if (k.kind == Kind::kDouble)
    x = std::get<double>(v);
  else
    return "";
  const bool finite = std::isfinite(x);
  const bool ok = finite && (k.lo_open ? x > k.lo : x >= k.lo) && x <= k.hi;
  if (ok) return "";
  std::string want = constraint_text(k);
  if (!finite) want = want.empty() ? "finite" : "finite and " + want;
  return "= " + format_value(v) + " is out of range (must be " + want + ")";
}

std::string format_value(const Value& v) {
  struct Visitor {
    std::string operator()(const std::string& s) const { return yaml_string(s); }
    std::string operator()(int64_t i) const { return std::to_string(i); }
    std::string operator()(uint64_t u) const { return std::to_string(u); }
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(double d) const {
      std::string s = shortest(d);
      // Keep doubles looking like doubles: "2.0", not "2".
      if (std::isfinite(d) && s.find_first_of(".e") == std::string::npos) s += ".0";
      return s;
    }
  };
  return std::visit(Visitor{}, v);
}

}  // namespace lorasub::config_detail
