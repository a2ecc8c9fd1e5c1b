// Every file under configs/ loads and validates (no config ships untested), and the
// benchmark configs carry the reference hyperparameters of docs/method.md.
#include <dirent.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "lorasub/core/config.h"
#include "lorasub/core/error.h"

namespace lorasub {
namespace {

std::string source_dir() {
  const char* s = std::getenv("LORASUB_SOURCE_DIR");
  return s != nullptr ? s : LORASUB_TEST_SOURCE_DIR;
}

std::vector<std::string> config_files() {
  std::vector<std::string> out;
  const std::string dir = source_dir() + "/configs";
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      const std::string n = e->d_name;
      if (n.size() > 5 && n.compare(n.size() - 5, 5, ".yaml") == 0) out.push_back(dir + "/" + n);
    }
    closedir(d);
  }
  return out;
}

TEST(Configs, EveryShippedConfigLoads) {
  const auto files = config_files();
  ASSERT_GE(files.size(), 11u) << "configs/ not found under " << source_dir();
  for (const auto& f : files) {
    EXPECT_NO_THROW(load_config(f)) << f;
  }
}

struct Bench {
  const char* file;
  const char* dataset;
  int64_t tasks, classes, init_epochs, epochs, rank;
  double fc_lrate, margin, lambda;
};

TEST(Configs, BenchmarksCarryTheReferenceHyperparameters) {
  const Bench benches[] = {
      {"imagenet-r-5", "imagenet-r", 5, 200, 40, 50, 10, 5e-4, 2.0, 0.2},
      {"imagenet-r-10", "imagenet-r", 10, 200, 40, 50, 10, 5e-4, 2.0, 0.2},
      {"imagenet-r-20", "imagenet-r", 20, 200, 40, 50, 10, 5e-4, 2.0, 0.2},
      {"imagenet-r-25", "imagenet-r", 25, 200, 40, 50, 10, 5e-4, 2.0, 0.2},
      {"imagenet-r-50", "imagenet-r", 50, 200, 40, 50, 10, 5e-4, 2.0, 0.2},
      {"domainnet-5", "domainnet", 5, 345, 5, 5, 40, 1e-3, 2.0, 0.1},
      {"cifar100-10", "cifar100", 10, 100, 20, 20, 10, 2e-3, 1.0, 0.05},
      {"cifar100-20", "cifar100", 20, 100, 20, 20, 10, 2e-3, 1.0, 0.05},
      {"cifar100-50", "cifar100", 50, 100, 20, 20, 10, 2e-3, 1.0, 0.05},
  };
  for (const Bench& b : benches) {
    const Config c = load_config(source_dir() + "/configs/" + b.file + ".yaml");
    SCOPED_TRACE(b.file);
    EXPECT_EQ(c.data.dataset, b.dataset);
    EXPECT_EQ(c.data.init_cls * b.tasks, b.classes);
    EXPECT_EQ(c.data.increment, c.data.init_cls);
    EXPECT_EQ(c.train.batch_size, 128);
    EXPECT_EQ(c.train.init_epochs, b.init_epochs);
    EXPECT_EQ(c.train.epochs, b.epochs);
    EXPECT_EQ(c.train.init_lr, 5e-4);
    EXPECT_EQ(c.train.lrate, 5e-4);
    EXPECT_EQ(c.train.fc_lrate, b.fc_lrate);
    EXPECT_EQ(c.loss.margin, b.margin);
    EXPECT_EQ(c.loss.atl_weight, b.lambda);
    EXPECT_EQ(c.method.rank, b.rank);
    EXPECT_EQ(c.method.name, "lora-drs");
    EXPECT_EQ(c.drs.energy, 0.99);
    EXPECT_EQ(c.model.dim, 768);
    EXPECT_EQ(c.model.depth, 12);
    EXPECT_EQ(c.model.patch, 16);
    EXPECT_EQ(c.model.image_size, 224);
  }
}

TEST(Configs, RgbDatasetsNeedThreeChannels) {
  try {
    parse_config("data: {dataset: cifar100}\nmodel: {channels: 1}\n", "t.yaml");
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("model.channels must be 3"), std::string::npos) << e.what();
  }
  try {
    parse_config("data: {split_train: a.yaml}\n", "t.yaml");
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("go together"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace lorasub
