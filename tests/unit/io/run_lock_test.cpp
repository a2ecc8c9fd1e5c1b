// The run directory lock and the earlier-run bookkeeping behind `lorasub train`'s
// refusal to overwrite results.
#include "lorasub/io/run_lock.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "lorasub/core/error.h"
#include "lorasub/io/run_dir.h"
#include "unit/io/temp_dir.h"

namespace lorasub::io {
namespace {
using test::TempDir;

void touch(const std::string& path) { std::ofstream(path) << "x"; }

TEST(RunLock, SecondHolderIsRefusedWithThePidUntilTheFirstLetsGo) {
  TempDir tmp;
  const std::string dir = tmp.path() + "/runs/a";
  {
    RunLock first(dir);  // creates the directory
    EXPECT_EQ(::access(dir.c_str(), W_OK), 0);
    try {
      RunLock second(dir);  // another open file description: flock conflicts in-process too
      FAIL() << "a second lock was granted";
    } catch (const ConfigError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("'" + dir + "' is in use by another lorasub (pid " + std::to_string(::getpid()) + ")"),
                std::string::npos)
          << msg;
    }
  }
  EXPECT_NO_THROW(RunLock again(dir));
}

TEST(RunLock, AFileInTheWayIsAConfigErrorNamingIt) {
  TempDir tmp;
  touch(tmp.path() + "/file");
  try {
    RunLock lock(tmp.path() + "/file/run");
    FAIL() << "locked a directory under a file";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot create directory '" + tmp.path() + "/file/run'"), std::string::npos)
        << e.what();
  }
}

TEST(RunOutputs, ListsResultsAndCheckpointsNotTemporariesAndRemovesThem) {
  TempDir tmp;
  const std::string dir = tmp.path() + "/run";
  EXPECT_TRUE(run_outputs(dir).empty());  // missing directory
  make_dirs(dir + "/checkpoints");
  EXPECT_TRUE(run_outputs(dir).empty());  // fresh directory
  touch(dir + "/results.json");
  touch(dir + "/config.yaml");
  touch(dir + "/checkpoints/task_000.h5");
  touch(dir + "/checkpoints/step_000000012.h5.tmp-123");
  touch(dir + "/results.json.tmp-99");
  touch(dir + "/notes.txt");  // the user's own file is not ours to remove
  EXPECT_EQ(run_outputs(dir),
            (std::vector<std::string>{dir + "/results.json", dir + "/config.yaml", dir + "/checkpoints/task_000.h5"}));
  remove_stale_temporaries(dir);
  EXPECT_TRUE(list_files(dir, ".tmp-").empty());
  EXPECT_TRUE(list_files(dir + "/checkpoints", ".tmp-").empty());
  EXPECT_EQ(run_outputs(dir).size(), 3u);
  remove_run_outputs(dir);
  EXPECT_TRUE(run_outputs(dir).empty());
  EXPECT_EQ(::access((dir + "/notes.txt").c_str(), F_OK), 0);
}

}  // namespace
}  // namespace lorasub::io
