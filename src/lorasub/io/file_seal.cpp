#include "lorasub/io/file_seal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "lorasub/core/error.h"

namespace lorasub::io {
namespace {

constexpr char kMagic[] = "LORASUB-SEAL 1\n";

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// CRC-32 of [from, size) of fd; false (errno set) on a read error.
bool crc_from(int fd, uint64_t from, uint64_t size, uint32_t* out) {
  std::vector<unsigned char> buf(1 << 20);
  uLong crc = crc32(0L, Z_NULL, 0);
  for (uint64_t at = from; at < size;) {
    const ssize_t n =
        ::pread(fd, buf.data(), static_cast<size_t>(std::min<uint64_t>(buf.size(), size - at)), static_cast<off_t>(at));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    crc = crc32(crc, buf.data(), static_cast<uInt>(n));
    at += static_cast<uint64_t>(n);
  }
  *out = static_cast<uint32_t>(crc);
  return true;
}

}  // namespace

void seal_file(const std::string& path) {
  Fd f;
  f.fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  struct stat st {};
  uint32_t crc = 0;
  if (f.fd < 0 || ::fstat(f.fd, &st) != 0 || !crc_from(f.fd, kSealBytes, static_cast<uint64_t>(st.st_size), &crc))
    throw std::runtime_error("'" + path + "': cannot seal: " + std::strerror(errno));
  char block[kSealBytes] = {0};
  std::snprintf(block, sizeof(block), "%sbytes %" PRIu64 "\ncrc32 %08" PRIx32 "\n", kMagic,
                static_cast<uint64_t>(st.st_size), crc);
  if (::pwrite(f.fd, block, sizeof(block), 0) != static_cast<ssize_t>(sizeof(block)))
    throw std::runtime_error("'" + path + "': cannot seal: " + std::strerror(errno ? errno : EIO));
}

void verify_seal(const std::string& path, const std::string& what) {
  auto bad = [&](const std::string& why) { throw FormatError("'" + path + "': damaged " + what + ": " + why); };
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw FormatError("'" + path + "': cannot open: " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) throw FormatError("'" + path + "' is a directory, not a " + what + " file");
  if (!S_ISREG(st.st_mode)) throw FormatError("'" + path + "' is not a regular file");
  Fd f;
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f.fd < 0) throw FormatError("'" + path + "': cannot open: " + std::strerror(errno));
  char block[kSealBytes + 1] = {0};
  const ssize_t n = ::pread(f.fd, block, kSealBytes, 0);
  if (n < static_cast<ssize_t>(sizeof(kMagic) - 1) || std::memcmp(block, kMagic, sizeof(kMagic) - 1) != 0) {
    // HDF5's signature sits at 0, or after a user block (512, 1024, ...).
    char sig[8] = {0};
    const bool hdf5 = (n >= 8 && std::memcmp(block, "\x89HDF\r\n\x1a\n", 8) == 0) ||
                      (::pread(f.fd, sig, 8, kSealBytes) == 8 && std::memcmp(sig, "\x89HDF\r\n\x1a\n", 8) == 0);
    if (hdf5)
      throw FormatError("'" + path +
                        "': an HDF5 file without lorasub's seal (written by another program or a "
                        "lorasub before format 3); it cannot be checked safely, so it is not read");
    throw FormatError("'" + path + "': not a " + what + " (no seal" +
                      (n < static_cast<ssize_t>(kSealBytes) ? ", truncated?" : "") + ")");
  }
  uint64_t bytes = 0;
  unsigned int crc = 0;
  if (std::sscanf(block + sizeof(kMagic) - 1, "bytes %" SCNu64 "\ncrc32 %8x\n", &bytes, &crc) != 2)
    bad("unreadable seal");
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size != bytes)
    bad("the file has " + std::to_string(size) + " bytes, its seal says " + std::to_string(bytes) +
        (size < bytes ? " (truncated or a torn write)" : ""));
  uint32_t actual = 0;
  if (!crc_from(f.fd, kSealBytes, size, &actual)) bad(std::string("read error: ") + std::strerror(errno));
  if (actual != crc) {
    char msg[96];
    std::snprintf(msg, sizeof(msg), "whole-file checksum mismatch (crc32 %08x, sealed %08x)", actual, crc);
    bad(msg);
  }
}

}  // namespace lorasub::io
