// SHA-256 against the FIPS 180-4 / NIST example vectors and sha256sum.
#include "lorasub/core/sha256.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "lorasub/core/error.h"

namespace lorasub {
namespace {

TEST(Sha256, NistVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, IncrementalEqualsOneShot) {
  std::string s;
  for (int i = 0; i < 1000; ++i) s += static_cast<char>(i * 7);
  for (size_t split : {0u, 1u, 55u, 56u, 63u, 64u, 65u, 999u}) {
    Sha256 h;
    h.update(s.data(), split);
    h.update(s.data() + split, s.size() - split);
    EXPECT_EQ(h.hex(), sha256_hex(s)) << split;
  }
}

TEST(Sha256, FileAndMissingFile) {
  const std::string path = testing::TempDir() + "/sha256_test.bin";
  std::ofstream(path, std::ios::binary) << "abc";
  EXPECT_EQ(sha256_file(path), sha256_hex("abc"));
  std::remove(path.c_str());
  try {
    sha256_file(path);
    FAIL() << "no error for a missing file";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
  }
}

}  // namespace
}  // namespace lorasub
