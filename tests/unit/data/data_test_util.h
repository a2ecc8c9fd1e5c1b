// Helpers shared by the data tests: a scratch directory and IDX file writers.
#pragma once
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace lorasub::data::testing {

namespace fs = std::filesystem;

// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "lorasub_data_XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes, bool gz) {
  if (gz) {
    gzFile f = gzopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr) << path;
    if (!bytes.empty()) {
      ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
    }
    ASSERT_EQ(gzclose(f), Z_OK);
  } else {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    ASSERT_TRUE(out.good()) << path;
  }
}

inline void put_be32(std::vector<uint8_t>& v, uint32_t x) {
  for (int s = 24; s >= 0; s -= 8) v.push_back(static_cast<uint8_t>(x >> s));
}

// IDX image file bytes: header (magic, n, h, w) then `payload`.
inline std::vector<uint8_t> idx_images(uint32_t n, uint32_t h, uint32_t w, const std::vector<uint8_t>& payload,
                                       uint32_t magic = 0x00000803u) {
  std::vector<uint8_t> v;
  put_be32(v, magic);
  put_be32(v, n);
  put_be32(v, h);
  put_be32(v, w);
  v.insert(v.end(), payload.begin(), payload.end());
  return v;
}

inline std::vector<uint8_t> idx_labels(const std::vector<uint8_t>& labels, uint32_t magic = 0x00000801u,
                                       int64_t count = -1) {
  std::vector<uint8_t> v;
  put_be32(v, magic);
  put_be32(v, count < 0 ? static_cast<uint32_t>(labels.size()) : static_cast<uint32_t>(count));
  v.insert(v.end(), labels.begin(), labels.end());
  return v;
}

// Expects `text` to contain `part` (gmock is not linked).
#define EXPECT_CONTAINS(text, part)                          \
  EXPECT_NE(std::string(text).find(part), std::string::npos) \
      << "expected to find \"" << (part) << "\" in \"" << (text) << "\""

// The repository root: $LORASUB_SOURCE_DIR (set by ctest), else derived from this file.
inline fs::path source_dir() {
  if (const char* env = std::getenv("LORASUB_SOURCE_DIR"); env && *env) return env;
  return fs::path(__FILE__).parent_path().parent_path().parent_path().parent_path();
}

}  // namespace lorasub::data::testing
