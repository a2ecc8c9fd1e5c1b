#include "lorasub/core/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "lorasub/core/error.h"

namespace lorasub {
// Readable failure output for EXPECT_EQ on configs.
void PrintTo(const Config& cfg, std::ostream* os) { *os << "\n" << dump_config(cfg); }
}  // namespace lorasub

namespace lorasub {
namespace {

// Passes when `text` contains `part`; prints both otherwise.
::testing::AssertionResult Has(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << text << "' does not contain '" << part << "'";
}

// The ConfigError message of parse_config(text), or "" when it does not throw.
std::string parse_error(const std::string& text, const std::vector<std::string>& overrides = {}) {
  try {
    parse_config(text, "t.yaml", overrides);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

// A file under the gtest temp dir, removed when it goes out of scope.
class TempFile {
 public:
  explicit TempFile(const std::string& text) {
    path_ = ::testing::TempDir() + "lorasub_config_test_" + std::to_string(getpid()) + "_" +
            std::to_string(counter_++) + ".yaml";
    std::ofstream(path_) << text;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  std::string path_;
};

// Every field different from its default.
Config non_default() {
  Config c;
  c.run = {"exp \"1\": a#b", "/tmp/runs dir", std::numeric_limits<uint64_t>::max()};
  c.data.dataset = "synthetic";
  c.data.root = "null";  // a string that YAML would read as null unless quoted
  c.data.split_train = "lists/train.yaml";
  c.data.split_test = "lists/test.yaml";
  c.data.split_seed = 7;
  c.data.domains = "real,sketch";
  c.data.on_bad_image = "skip";
  c.data.cache = "/data/cache.h5";
  c.data.cache_short_side = 300;
  c.data.init_cls = 3;
  c.data.increment = 1;
  c.data.num_tasks = 5;
  c.data.shuffle = true;
  c.data.train_per_class = 100;
  c.data.test_per_class = 20;
  c.data.workers = 1;
  c.data.prefetch = 8;
  c.data.crop_padding = 0;
  c.data.flip = false;
  c.data.synthetic_classes = 7;
  c.data.synthetic_per_class = 9;
  c.data.synthetic_test_per_class = 0;
  c.model = {"w/backbone.safetensors", 32, 3, 4, 96, 6, 8, 384};
  c.method = {"seq-lora", "reference", 16};
  c.drs = {0.1, false, false};
  c.inflora = {0.9, 0.95};
  c.loss = {1.0 / 3.0, 0.5};
  c.train = {64, 2, 3, 2e-4, 1e-10, 0.1 + 0.2, 512, 1, 3, "cuda", "bf16", true, false, 13, true, 7, 1, "nan"};
  c.pretrain = {"fashion-mnist", "~/data", 5, 2.5e-3, 0.05, 32, "out.safetensors"};
  c.dist = {"nccl", 42.5};
  c.ckpt = {false, 100, 2.5, 5, false, 0};
  c.metrics = {true, 65535, "0.0.0.0", "/etc/lorasub/metrics.auth", "/var/lib/prometheus/lorasub"};
  return c;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// The dotted keys listed by describe_config.
std::vector<std::string> described_keys() {
  std::vector<std::string> keys;
  for (const auto& l : lines(describe_config())) {
    std::istringstream in(l);
    std::string key;
    in >> key;
    keys.push_back(key);
  }
  return keys;
}

// Aggregate field counting: T{any, any, ...} compiles up to the number of fields.
struct AnyField {
  template <class T>
  operator T() const;  // only used unevaluated
};
template <class T, class... A>
constexpr auto braces_ok(int) -> decltype(T{std::declval<A>()...}, true) {
  return true;
}
template <class T, class... A>
constexpr bool braces_ok(long) {
  return false;
}
template <class T, size_t... I>
constexpr bool init_with(std::index_sequence<I...>) {
  return braces_ok<T, decltype((void)I, AnyField{})...>(0);
}
template <class T, size_t N = 0>
constexpr size_t field_count() {
  if constexpr (!init_with<T>(std::make_index_sequence<N + 1>{})) {
    return N;
  } else {
    return field_count<T, N + 1>();
  }
}

size_t keys_in(const std::string& section) {
  size_t n = 0;
  for (const auto& k : described_keys()) n += k.rfind(section + ".", 0) == 0;
  return n;
}

TEST(Config, EmptyTextGivesDefaults) {
  EXPECT_EQ(parse_config("", "t.yaml"), Config{});
  EXPECT_EQ(parse_config("# only a comment\n", "t.yaml"), Config{});
  EXPECT_EQ(parse_config("train:\n", "t.yaml"), Config{});  // section with all keys commented
}

TEST(Config, LoadsFullValidFile) {
  TempFile f("run: {name: exp1, dir: out, seed: 7}\n"
             "data:\n  dataset: synthetic\n  root: /data/x\n  init_cls: 4\n  increment: 3\n"
             "  shuffle: true\n  synthetic_classes: 10\n"
             "model:\n  dim: 96\n  heads: 6\n  image_size: 32\n  patch: 4\n  channels: 3\n"
             "method:\n  name: seq-lora\n  rank: 8\ndrs:\n  energy: 0.95\n  subtract: false\n"
             "loss:\n  atl_weight: 0\n  margin: 1.5\n"
             "train:\n  batch_size: 64\n  init_lr: 1e-3\n  lrate: 0.0001\n  fail_step: -1\n"
             "pretrain:\n  dataset: mnist-json\n  weight_decay: 5e-5\n"
             "dist:\n  backend: mpi\nckpt:\n  task_end: false\n"
             "metrics:\n  enabled: true\n  port: 9500\n  bind: 0.0.0.0\n");
  const Config c = load_config(f.path());
  EXPECT_EQ(c.run.name, "exp1");
  EXPECT_EQ(c.run.seed, 7u);
  EXPECT_EQ(c.data.dataset, "synthetic");
  EXPECT_EQ(c.data.root, "/data/x");
  EXPECT_EQ(c.data.increment, 3);
  EXPECT_TRUE(c.data.shuffle);
  EXPECT_EQ(c.model.dim, 96);
  EXPECT_EQ(c.method.name, "seq-lora");
  EXPECT_DOUBLE_EQ(c.drs.energy, 0.95);
  EXPECT_FALSE(c.drs.subtract);
  EXPECT_EQ(c.loss.atl_weight, 0.0);
  EXPECT_EQ(c.train.batch_size, 64);
  EXPECT_EQ(c.train.init_lr, 1e-3);
  EXPECT_EQ(c.pretrain.weight_decay, 5e-5);
  EXPECT_EQ(c.dist.backend, "mpi");
  EXPECT_FALSE(c.ckpt.task_end);
  EXPECT_EQ(c.metrics.port, 9500);
  EXPECT_EQ(c.train.epochs, TrainConfig{}.epochs);  // untouched keys keep defaults
}

TEST(Config, AFileThatSetsNothingIsRefused) {
  for (const char* text : {"", "\n# only a comment\n"}) {
    TempFile f(text);
    try {
      load_config(f.path());
      ADD_FAILURE() << "an empty config file was accepted";
    } catch (const ConfigError& e) {
      EXPECT_TRUE(Has(e.what(), "config file '" + f.path() + "' sets nothing")) << e.what();
    }
  }
}

TEST(Config, ASecondYamlDocumentIsRefused) {
  EXPECT_TRUE(Has(parse_error("train:\n  batch_size: 4\n---\ntrain:\n  batch_size: 8\n"),
                  "t.yaml:3: a second YAML document ('---')"));
  EXPECT_TRUE(Has(parse_error("train:\n  batch_size: 4\n...\n# done\ndrs: {energy: 0.5}\n"),
                  "t.yaml:5: a second YAML document"));
  // One document, with its optional markers, is fine.
  EXPECT_EQ(parse_config("# c\n---\ntrain:\n  batch_size: 4\n...\n", "t").train.batch_size, 4);
}

TEST(Config, UnknownKeySuggestsNearest) {
  const std::string msg = parse_error("train:\n  batchsize: 4\n");
  EXPECT_TRUE(Has(msg, "t.yaml:2:3: unknown key 'train.batchsize'"));
  EXPECT_TRUE(Has(msg, "(did you mean 'train.batch_size'?)"));
  // A key of another section is found through the dotted names.
  EXPECT_TRUE(Has(parse_error("model:\n  rank: 4\n"), "did you mean 'method.rank'?"));
  EXPECT_TRUE(Has(parse_error("data:\n  epochs: 4\n"), "did you mean 'train.epochs'?"));
}

TEST(Config, UnknownKeyFarFromAllListsSectionKeys) {
  const std::string msg = parse_error("loss:\n  zzzzzzzzzz: 1\n");
  EXPECT_TRUE(Has(msg, "unknown key 'loss.zzzzzzzzzz'"));
  EXPECT_TRUE(Has(msg, "valid keys in 'loss': atl_weight, margin"));
}

TEST(Config, UnknownSection) {
  EXPECT_TRUE(
      Has(parse_error("trian:\n  batch_size: 4\n"), "t.yaml:1:1: unknown section 'trian' (did you mean 'train'?)"));
  EXPECT_TRUE(Has(parse_error("optimizer:\n  lr: 1\n"), "valid sections: run, data,"));
}

TEST(Config, WrongTypes) {
  EXPECT_TRUE(Has(parse_error("train:\n  batch_size: abc\n"),
                  "t.yaml:2:15: key 'train.batch_size' must be an integer, got 'abc'"));
  EXPECT_TRUE(
      Has(parse_error("data:\n  shuffle: yes\n"), "key 'data.shuffle' must be a boolean (true or false), got 'yes'"));
  EXPECT_TRUE(Has(parse_error("train:\n  batch_size: 1.5\n"), "must be an integer, got '1.5'"));
  EXPECT_TRUE(Has(parse_error("train:\n  init_lr: fast\n"), "must be a number, got 'fast'"));
  EXPECT_TRUE(Has(parse_error("train:\n  init_lr: .inf\n"), "must be a number"));
  EXPECT_TRUE(Has(parse_error("train:\n  batch_size: [1, 2]\n"), "got a list"));
  EXPECT_TRUE(Has(parse_error("run:\n  seed: -1\n"), "must be a non-negative integer"));
  EXPECT_TRUE(Has(parse_error("train:\n  batch_size: 99999999999999999999\n"), "does not fit in 64 bits"));
  EXPECT_TRUE(Has(parse_error("train:\n  init_lr: 1e999\n"), "not a finite double"));
}

TEST(Config, DoublesAcceptIntegersAndScientific) {
  const Config c = parse_config("train:\n  init_lr: 1\n  lrate: 5e-4\n  fc_lrate: 2.5E-3\n", "t");
  EXPECT_EQ(c.train.init_lr, 1.0);
  EXPECT_EQ(c.train.lrate, 5e-4);
  EXPECT_EQ(c.train.fc_lrate, 2.5e-3);
}

TEST(Config, OutOfRange) {
  EXPECT_TRUE(
      Has(parse_error("train:\n  batch_size: 0\n"), "key 'train.batch_size' = 0 is out of range (must be >= 1)"));
  EXPECT_TRUE(Has(parse_error("drs:\n  energy: 1.5\n"), "key 'drs.energy' = 1.5 is out of range (must be in (0, 1])"));
  EXPECT_TRUE(Has(parse_error("drs:\n  energy: 0\n"), "out of range"));
  EXPECT_EQ(parse_config("drs:\n  energy: 1\n", "t").drs.energy, 1.0);
  EXPECT_TRUE(Has(parse_error("metrics:\n  port: 70000\n"), "= 70000 is out of range (must be between 1 and 65535)"));
  EXPECT_TRUE(Has(parse_error("train:\n  fail_step: -2\n"), "(must be >= -1)"));
  EXPECT_TRUE(Has(parse_error("model:\n  channels: 5\n"), "out of range"));
  // Values no machine can run are refused with their key, not met later as a crash.
  EXPECT_TRUE(Has(parse_error("data:\n  workers: 20000\n"), "key 'data.workers' = 20000 is out of range"));
  EXPECT_TRUE(Has(parse_error("model:\n  dim: 65536\n"), "key 'model.dim' = 65536 is out of range"));
  EXPECT_TRUE(Has(parse_error("train:\n  threads: 5000\n"), "key 'train.threads' = 5000 is out of range"));
}

TEST(Config, EnumViolation) {
  const std::string msg = parse_error("data:\n  dataset: cifar\n");
  EXPECT_TRUE(Has(msg, "key 'data.dataset' must be one of: fashion-mnist, mnist-json, "
                       "synthetic"));
  EXPECT_TRUE(Has(msg, "cifar"));
  EXPECT_TRUE(Has(parse_error("dist:\n  backend: gloo\n"), "auto, mpi, nccl, local"));
}

TEST(Config, MissingFileNamesPath) {
  const std::string path = ::testing::TempDir() + "no_such_dir_xyz/config.yaml";
  try {
    load_config(path);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "cannot read config file '" + path + "': No such file or directory");
  }
}

TEST(Config, YamlSyntaxError) {
  const std::string msg = parse_error("train:\n  batch_size: [1, 2\n");
  EXPECT_TRUE(Has(msg, "t.yaml:"));
  EXPECT_TRUE(Has(msg, "YAML syntax error"));
}

TEST(Config, NullsAndNonMaps) {
  EXPECT_TRUE(Has(parse_error("train:\n  batch_size:\n"), "key 'train.batch_size' has no value"));
  EXPECT_TRUE(Has(parse_error("train: 5\n"), "section 'train' must be a map of keys"));
  EXPECT_TRUE(Has(parse_error("- a\n- b\n"), "the top level must be a map of sections"));
  EXPECT_TRUE(Has(parse_error("just text\n"), "the top level must be a map of sections"));
  EXPECT_TRUE(Has(parse_error("train:\n  epochs: 2\n  epochs: 3\n"), "duplicate key 'train.epochs'"));
}

TEST(Config, OverridesApplyAfterFileInOrder) {
  TempFile f("train:\n  batch_size: 64\n");
  EXPECT_EQ(load_config(f.path()).train.batch_size, 64);
  EXPECT_EQ(load_config(f.path(), {"train.batch_size=32"}).train.batch_size, 32);
  EXPECT_EQ(load_config(f.path(), {"train.batch_size=32", "train.batch_size=16"}).train.batch_size, 16);
  const Config c = parse_config(
      "", "t", {"data.root=/x", "train.init_lr=1e-3", "run.name = my run", "drs.subtract=false", "model.weights="});
  EXPECT_EQ(c.data.root, "/x");
  EXPECT_EQ(c.train.init_lr, 1e-3);
  EXPECT_EQ(c.run.name, "my run");
  EXPECT_FALSE(c.drs.subtract);
  EXPECT_EQ(c.model.weights, "");
  EXPECT_EQ(parse_config("data:\n  root: /a\n", "t", {"data.root="}).data.root, "");
  EXPECT_EQ(parse_config("", "t", {"run.name=a=b"}).run.name, "a=b");
}

TEST(Config, BadOverrides) {
  EXPECT_TRUE(Has(parse_error("", {"xyz"}), "--set 'xyz': expected section.key=value"));
  EXPECT_TRUE(Has(parse_error("", {"train=4"}), "--set 'train=4': expected section.key"));
  EXPECT_TRUE(Has(parse_error("", {".x=4"}), "expected section.key=value"));
  EXPECT_TRUE(Has(parse_error("", {"train.batchsize=4"}),
                  "--set: unknown key 'train.batchsize' (did you mean 'train.batch_size'?)"));
  EXPECT_TRUE(Has(parse_error("", {"trainn.epochs=4"}), "--set: unknown section 'trainn'"));
  EXPECT_TRUE(
      Has(parse_error("", {"train.batch_size=abc"}), "--set: key 'train.batch_size' must be an integer, got 'abc'"));
  EXPECT_TRUE(Has(parse_error("", {"train.batch_size="}), "must be an integer, got ''"));
  EXPECT_TRUE(Has(parse_error("", {"train.batch_size=0"}), "out of range"));
  EXPECT_TRUE(Has(parse_error("", {"run.name=null"}), "key 'run.name' has no value"));
}

TEST(Config, CrossKeyChecks) {
  const std::string msg = parse_error("model:\n  dim: 65\n  heads: 4\n");
  EXPECT_TRUE(Has(msg, "t.yaml: "));
  EXPECT_TRUE(Has(msg, "model.dim (65)"));
  EXPECT_TRUE(Has(msg, "model.heads (4)"));
  EXPECT_TRUE(Has(parse_error("model:\n  patch: 5\n"), "model.image_size (28)"));
  EXPECT_TRUE(Has(parse_error("method:\n  rank: 65\n"), "method.rank (65) must be <= model.dim"));
  // validate_config also covers configs built in code, by key.
  Config c;
  c.train.batch_size = 0;
  try {
    validate_config(c, "code");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_TRUE(Has(e.what(), "code: key 'train.batch_size' = 0 is out of range"));
  }
  EXPECT_NO_THROW(validate_config(Config{}, "defaults"));
}

TEST(Config, SchemaCoversEveryField) {
  EXPECT_EQ(keys_in("run"), field_count<RunConfig>());
  EXPECT_EQ(keys_in("data"), field_count<DataConfig>());
  EXPECT_EQ(keys_in("model"), field_count<ModelConfig>());
  EXPECT_EQ(keys_in("method"), field_count<MethodConfig>());
  EXPECT_EQ(keys_in("drs"), field_count<DrsConfig>());
  EXPECT_EQ(keys_in("inflora"), field_count<InfloraConfig>());
  EXPECT_EQ(keys_in("loss"), field_count<LossConfig>());
  EXPECT_EQ(keys_in("train"), field_count<TrainConfig>());
  EXPECT_EQ(keys_in("pretrain"), field_count<PretrainConfig>());
  EXPECT_EQ(keys_in("dist"), field_count<DistConfig>());
  EXPECT_EQ(keys_in("ckpt"), field_count<CkptConfig>());
  EXPECT_EQ(keys_in("metrics"), field_count<MetricsConfig>());
  EXPECT_EQ(field_count<Config>(), 12u);
}

TEST(Config, DumpOfDefaultsHasEveryDescribedKey) {
  const std::string dump = dump_config(Config{});
  const auto keys = described_keys();
  EXPECT_GT(keys.size(), 50u);
  for (const auto& key : keys) {
    const auto dot = key.find('.');
    const auto sec = dump.find(key.substr(0, dot) + ":\n");
    ASSERT_NE(sec, std::string::npos) << key;
    EXPECT_NE(dump.find("\n  " + key.substr(dot + 1) + ": ", sec), std::string::npos) << key;
  }
  EXPECT_EQ(parse_config(dump, "dump"), Config{});
}

TEST(Config, NonDefaultRoundTrip) {
  const Config c = non_default();
  ASSERT_NO_THROW(validate_config(c, "code"));
  // Every key but method.compat (a one-value enum) differs from its default.
  const auto mine = lines(dump_config(c)), defaults = lines(dump_config(Config{}));
  ASSERT_EQ(mine.size(), defaults.size());
  for (size_t i = 0; i < mine.size(); ++i) {
    if (mine[i].rfind("  ", 0) == 0 && mine[i] != "  compat: reference") {
      EXPECT_NE(mine[i], defaults[i]);
    }
  }
  const Config back = parse_config(dump_config(c), "dump");
  EXPECT_EQ(back, c);
  EXPECT_EQ(back.loss.atl_weight, 1.0 / 3.0);  // exact, not just close
  EXPECT_EQ(back.train.fc_lrate, 0.1 + 0.2);
  EXPECT_EQ(back.run.seed, std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(back.run.name, c.run.name);
  EXPECT_EQ(back.data.root, "null");
  EXPECT_NE(back, Config{});
}

TEST(Config, DumpPrintsShortDoubles) {
  Config c;
  c.drs.energy = 0.1;
  c.train.lrate = 1e-10;
  const std::string dump = dump_config(c);
  EXPECT_TRUE(Has(dump, "  init_lr: 0.0005\n"));
  EXPECT_TRUE(Has(dump, "  energy: 0.1\n"));
  EXPECT_TRUE(Has(dump, "  margin: 2.0\n"));
  EXPECT_TRUE(Has(dump, "  lrate: 1e-10\n"));
  EXPECT_TRUE(Has(dump, "  root: \"\"\n"));
  EXPECT_TRUE(Has(dump, "  bind: 127.0.0.1\n"));
  EXPECT_EQ(parse_config(dump, "dump"), c);
}

TEST(Config, StringsWithSpecialCharactersRoundTrip) {
  for (const std::string s : {"", "null", "~", "true", "-x", "a: b", "# c", " pad ", "q\"\\", "line\nbreak\ttab",
                              "caf\xc3\xa9", "[x]", "{y}", "*z", "&a", "!t"}) {
    Config c;
    c.run.name = s;
    EXPECT_EQ(parse_config(dump_config(c), "dump").run.name, s) << dump_config(c);
  }
}

TEST(Config, DescribeListsAlignedColumns) {
  const auto ls = lines(describe_config());
  ASSERT_FALSE(ls.empty());
  size_t type_col = std::string::npos;
  bool found = false;
  for (const auto& l : ls) {
    ASSERT_EQ(l.rfind("  ", 0), 0u) << l;
    const size_t col = l.find("  ", l.find_first_not_of(' ')) + 2;
    const size_t this_col = l.find_first_not_of(' ', col);
    if (type_col == std::string::npos) type_col = this_col;
    EXPECT_EQ(this_col, type_col) << l;
    if (l.rfind("  train.batch_size ", 0) == 0) {
      found = true;
      EXPECT_TRUE(Has(l, " int "));
      EXPECT_TRUE(Has(l, " 128 "));
      EXPECT_TRUE(Has(l, "global batch (all ranks together)"));
    }
  }
  EXPECT_TRUE(found);
}

TEST(Config, HashIsStableAndKeySensitive) {
  const Config a;
  const std::string h = config_hash(a);
  ASSERT_EQ(h.size(), 16u);
  EXPECT_EQ(h.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(config_hash(Config{}), h);
  EXPECT_EQ(config_hash(parse_config(dump_config(a), "dump")), h);
  Config b;
  b.train.batch_size = 129;
  EXPECT_NE(config_hash(b), h);
  Config d;
  d.drs.energy = 0.990000001;
  EXPECT_NE(config_hash(d), h);
  EXPECT_NE(config_hash(b), config_hash(d));
}

}  // namespace
}  // namespace lorasub

namespace lorasub {
namespace {

// Every shipped config loads and validates, and names the method its file name says.
TEST(Config, EveryShippedConfigLoads) {
  const std::string dir = std::string(LORASUB_TEST_SOURCE_DIR) + "/configs";
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".yaml") files.push_back(e.path().string());
  ASSERT_GE(files.size(), 20u);
  for (const std::string& f : files) {
    Config c;
    ASSERT_NO_THROW(c = load_config(f)) << f;
    const std::string base = std::filesystem::path(f).filename().string();
    for (const char* m : {"inflora", "sd-lora"}) {
      if (base.rfind(std::string(m) + "-", 0) == 0) {
        EXPECT_EQ(c.method.name, m) << f;
      }
    }
  }
}

}  // namespace
}  // namespace lorasub
