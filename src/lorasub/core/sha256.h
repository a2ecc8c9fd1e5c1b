// SHA-256 (FIPS 180-4) of a byte stream or a file, as lowercase hex: identifies the
// backbone a checkpoint was trained on.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace lorasub {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t n);
  std::string hex();  // finishes; the object is spent afterwards

 private:
  void block(const uint8_t* p);
  std::array<uint32_t, 8> h_;
  std::array<uint8_t, 64> buf_{};
  size_t used_ = 0;
  uint64_t bytes_ = 0;
};

std::string sha256_hex(const std::string& bytes);
// Throws FormatError naming the file when it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace lorasub
