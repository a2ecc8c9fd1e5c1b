#include "lorasub/io/run_dir.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "lorasub/core/error.h"
#include "unit/io/temp_dir.h"

namespace lorasub::io {
namespace {

using test::read_bytes;
using test::TempDir;
namespace fs = std::filesystem;

TEST(RunDir, CreatesNestedDirectoriesTwice) {
  TempDir dir;
  RunDir run(dir / "runs/sweep", "seed1");
  EXPECT_EQ(run.path(), dir / "runs/sweep/seed1");
  run.create();
  run.create();  // idempotent
  EXPECT_TRUE(fs::is_directory(run.path()));
  EXPECT_EQ(run.checkpoints_dir(), run.path() + "/checkpoints");
  EXPECT_TRUE(fs::is_directory(run.checkpoints_dir()));
  EXPECT_EQ(run.file("results.json"), run.path() + "/results.json");
  EXPECT_EQ(RunDir(dir.path() + "/", "x").path(), dir / "x");
}

TEST(RunDir, UncreatableDirectoryNamesPathAndReason) {
  TempDir dir;
  test::write_bytes(dir / "plain_file", "x");
  RunDir run(dir / "plain_file/runs", "demo");
  try {
    run.create();
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("cannot create directory '" + run.path() + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("mkdir '" + (dir / "plain_file") + "': Not a directory"), std::string::npos) << msg;
  }
}

TEST(RunDir, RejectsEscapingNames) {
  TempDir dir;
  EXPECT_THROW(RunDir(dir.path(), ""), ConfigError);
  EXPECT_THROW(RunDir(dir.path(), "../elsewhere"), ConfigError);
  RunDir run(dir.path(), "r");
  EXPECT_THROW(run.file("/etc/passwd"), std::invalid_argument);
  EXPECT_THROW(run.file("a/../../x"), std::invalid_argument);
  EXPECT_NO_THROW(run.file("..hidden"));
}

TEST(RunDir, AtomicWritesLeaveNoTemporaries) {
  TempDir dir;
  RunDir run(dir.path(), "r");
  run.create();
  run.write_text_atomic("events.jsonl", "first\n");
  run.write_text_atomic("events.jsonl", "second\n");
  run.write_text_atomic("plots/loss.svg", "<svg/>");
  EXPECT_EQ(read_bytes(run.file("events.jsonl")), "second\n");
  EXPECT_EQ(read_bytes(run.file("plots/loss.svg")), "<svg/>");
  EXPECT_EQ(dir.entries("r"), (std::set<std::string>{"checkpoints", "events.jsonl", "plots"}));
  EXPECT_EQ(dir.entries("r/plots"), std::set<std::string>{"loss.svg"});
}

}  // namespace
}  // namespace lorasub::io
