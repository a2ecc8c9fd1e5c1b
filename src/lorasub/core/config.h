// The typed, validated run configuration. YAML sections mirror the modules.
// Every key lives in one schema (config.cpp) that drives parsing, validation,
// `--set` overrides, the resolved dump and the `--help-config` listing.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace lorasub {

struct RunConfig {
  std::string name = "demo";  // run directory name under dir
  std::string dir = "runs";   // parent of run directories
  uint64_t seed = 1993;       // the one seed all random streams derive from
};

struct DataConfig {
  // fashion-mnist | mnist-json | synthetic | imagenet-r | domainnet | cifar100
  std::string dataset = "fashion-mnist";
  std::string root;  // dataset location (dataset-specific)
  // imagenet-r: split lists in the CODA-Prompt yaml format; empty = seeded 80/20 split
  std::string split_train;
  std::string split_test;
  uint64_t split_seed = 1993;  // the seeded split (independent of run.seed)
  std::string domains = "clipart,infograph,painting,quickdraw,real,sketch";  // domainnet
  std::string on_bad_image = "error";                                        // error | skip (counted, grey image)
  std::string cache;               // `lorasub prepare` output; empty = decode files
  int64_t cache_short_side = 256;  // `lorasub prepare`: short side of cached images
  int64_t init_cls = 2;            // classes in task 0
  int64_t increment = 2;           // classes per later task (remainder -> extra task)
  int64_t num_tasks = 0;           // 0 = as many as init_cls/increment give
  bool shuffle = false;            // permute the class order with run.seed
  int64_t train_per_class = 0;     // 0 = all; else the first N of each class
  int64_t test_per_class = 0;      // 0 = all
  int64_t workers = 2;             // loader threads per rank
  int64_t prefetch = 4;            // batches ready ahead
  // Small-image train transform: random crop after zero padding, horizontal flip.
  int64_t crop_padding = 2;
  bool flip = true;
  // synthetic dataset only (tests, benchmarks)
  int64_t synthetic_classes = 10;
  int64_t synthetic_per_class = 64;
  int64_t synthetic_test_per_class = 16;
};

struct ModelConfig {
  std::string weights;  // backbone.safetensors (timm key names); empty = random init
  int64_t image_size = 28;
  int64_t channels = 1;
  int64_t patch = 7;
  int64_t dim = 64;
  int64_t depth = 4;
  int64_t heads = 4;
  int64_t mlp_dim = 128;
};

struct MethodConfig {
  std::string name = "lora-drs";  // lora-drs | seq-lora | ncm (frozen backbone, class means) | inflora | sd-lora
  std::string compat = "reference";
  int64_t rank = 10;  // LoRA rank r
};

// The drift-resistant space (lora-drs only). Ablation switches: subtract=false runs
// the covariance pass under the current weights W0 + sum of old deltas;
// project=false skips the covariance pass and the projection altogether.
struct DrsConfig {
  double energy = 0.99;  // kept-energy threshold of the eigenvalue spectrum
  bool subtract = true;  // covariance pass under W0 - sum of old deltas
  bool project = true;   // project the adapter Adam step onto the DRS
};

// InfLoRA's DualGPM memory (inflora only): the energy threshold after task t of T is
// lamb + (lame - lamb) * t / T [liangyanshuo/InfLoRA: 0.98 / 1.0 on ImageNet-R, 0.95 on CIFAR-100].
struct InfloraConfig {
  double lamb = 0.98;
  double lame = 1.0;
};

struct LossConfig {
  double atl_weight = 0.2;  // lambda
  double margin = 2.0;
};

struct TrainConfig {
  int64_t batch_size = 128;  // global batch (all ranks together)
  int64_t init_epochs = 1;   // task 0
  int64_t epochs = 1;        // later tasks; also K of the schedule in every task [ref]
  double init_lr = 5e-4;     // adapters, task 0
  double lrate = 5e-4;       // adapters, later tasks
  double fc_lrate = 5e-4;    // heads
  int64_t eval_batch_size = 256;
  int64_t log_every = 10;  // steps between progress lines when not a terminal
  int64_t threads = 0;     // intra-op threads per rank; 0 = cores / local ranks
  // auto = cuda when LibTorch has CUDA and a device is visible, else cpu; one GPU per
  // rank, chosen by local rank among the visible ones
  std::string device = "auto";     // auto | cpu | cuda
  std::string precision = "fp32";  // fp32 | bf16 (autocast for the ViT forward/backward)
  bool tf32 = false;               // CUDA: TF32 matmuls/convolutions for fp32 (off: fidelity)
  // after every task: how far earlier tasks' test-feature class means moved (from the
  // evaluation pass) and the NCM accuracy their stale prototypes lose (train/drift.h)
  bool drift = true;
  // stale-prototype measurement: the same seeded drift_sample training images of every
  // earlier class at every task (0 = auto: the most, up to 64, that keep the pass within
  // 1% of the plan's training compute); drift_full: every earlier training image instead
  // (the cost grows with the square of the task count)
  int64_t drift_sample = 0;
  bool drift_full = false;
  // fault injection for tests: at global step fail_step (-1 = off) rank fail_rank
  // throws (fail_kind throw), makes its loss NaN (nan) or sends itself SIGUSR1 (signal)
  int64_t fail_step = -1;
  int64_t fail_rank = 0;
  std::string fail_kind = "throw";
};

struct PretrainConfig {
  std::string dataset = "mnist-json";
  std::string root;
  int64_t epochs = 3;
  double lr = 1e-3;
  double weight_decay = 0.0;
  int64_t batch_size = 128;
  std::string output = "backbone.safetensors";
};

struct DistConfig {
  std::string backend = "auto";  // auto (nccl on cuda, else mpi) | mpi | nccl | local
  // nccl: a collective that has not completed after this long aborts the job (a hung or
  // dead peer must never hang the others)
  double timeout_seconds = 600;
};

struct CkptConfig {
  bool task_end = true;                // checkpoint at every task end (task_TTT.h5)
  int64_t every_steps = 0;             // and every N global steps (0 = off)
  double every_minutes = 30;           // and every M minutes of training (0 = off)
  int64_t keep = 3;                    // step checkpoints kept (oldest pruned first)
  bool keep_task_ends = true;          // task-end checkpoints are never pruned
  double stop_deadline_seconds = 120;  // after a stop signal, force an exit if the agreed
                                       // stop has not finished by then (0 = wait forever)
};

struct MetricsConfig {
  bool enabled = false;
  int64_t port = 9400;  // rank r serves on port + local_rank
  std::string bind = "127.0.0.1";
  std::string auth_file;    // "user:password" for HTTP basic auth ("" = none)
  std::string file_sd_dir;  // rank 0 writes a Prometheus file_sd target file here ("" = none)
};

struct Config {
  RunConfig run;
  DataConfig data;
  ModelConfig model;
  MethodConfig method;
  DrsConfig drs;
  InfloraConfig inflora;
  LossConfig loss;
  TrainConfig train;
  PretrainConfig pretrain;
  DistConfig dist;
  CkptConfig ckpt;
  MetricsConfig metrics;
};

// Loads `path` (YAML), applies `overrides` ("a.b=c", in order) and validates.
// Throws ConfigError naming the file, key and reason.
Config load_config(const std::string& path, const std::vector<std::string>& overrides = {});
// Same, from YAML text; `origin` names the source in messages.
Config parse_config(const std::string& yaml_text, const std::string& origin,
                    const std::vector<std::string>& overrides = {});
// The fully resolved configuration as YAML (every key, in schema order).
std::string dump_config(const Config& cfg);
// One line per key: "section.key  type  default  description" (for --help-config).
std::string describe_config();
// Cross-key checks (e.g. heads divide dim); throws ConfigError.
void validate_config(const Config& cfg, const std::string& origin);
// FNV-1a 64 of dump_config, as 16 hex digits.
std::string config_hash(const Config& cfg);

// "section.key: <a's value> -> <b's value>" for every schema key that differs, in schema order.
std::vector<std::string> config_differences(const Config& a, const Config& b);

// Equal when every schema key (every field) has the same value.
bool operator==(const Config& a, const Config& b);
inline bool operator!=(const Config& a, const Config& b) { return !(a == b); }

}  // namespace lorasub
