#include "lorasub/io/atomic_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "unit/io/temp_dir.h"

namespace lorasub::io {
namespace {

using test::read_bytes;
using test::TempDir;

TEST(AtomicFile, PathHelpers) {
  EXPECT_EQ(tmp_path_for("a/b.h5"), "a/b.h5.tmp-" + std::to_string(::getpid()));
  EXPECT_EQ(parent_dir("a/b/c.txt"), "a/b");
  EXPECT_EQ(parent_dir("c.txt"), ".");
  EXPECT_EQ(parent_dir("/c.txt"), "/");
}

TEST(AtomicFile, CommitReplacesContentAndLeavesNoTemporary) {
  TempDir dir;
  write_file_atomic(dir / "f.txt", "old");
  write_file_atomic(dir / "f.txt", "new content");
  EXPECT_EQ(read_bytes(dir / "f.txt"), "new content");
  EXPECT_EQ(dir.entries(), std::set<std::string>{"f.txt"});
}

TEST(AtomicFile, UncommittedKeepsPreviousAndRemovesTemporary) {
  TempDir dir;
  write_file_atomic(dir / "f.txt", "old");
  {
    AtomicFile file(dir / "f.txt");
    file.write("half-writ");
    EXPECT_EQ(dir.entries().size(), 2u);  // f.txt and its temporary
    EXPECT_EQ(read_bytes(dir / "f.txt"), "old");
  }
  EXPECT_EQ(read_bytes(dir / "f.txt"), "old");
  EXPECT_EQ(dir.entries(), std::set<std::string>{"f.txt"});
}

TEST(AtomicFile, MissingDirectoryNamesThePath) {
  TempDir dir;
  try {
    AtomicFile file(dir / "no/such/f.txt");
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("no/such/f.txt.tmp-"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("No such file or directory"), std::string::npos) << e.what();
  }
}

TEST(AtomicFile, WriteAfterCommitIsALogicError) {
  TempDir dir;
  AtomicFile file(dir / "f.txt");
  file.commit();
  EXPECT_THROW(file.write("x"), std::logic_error);
  EXPECT_THROW(file.commit(), std::logic_error);
}

}  // namespace
}  // namespace lorasub::io
