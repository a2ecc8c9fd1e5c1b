// A whole-file seal in an HDF5 user block, checked before HDF5 parses anything.
// libhdf5 (1.10) is not hardened against damaged files: a flipped bit in its metadata can
// crash it (fuzzing found SEGVs and use-after-frees under attribute reads). So every file
// lorasub writes with HDF5 reserves the first kSealBytes as a user block, and after HDF5
// has closed it, the block receives
//   "LORASUB-SEAL 1\n" "bytes <file size>\n" "crc32 <8 hex digits>\n"   (NUL-padded)
// where the CRC-32 (zlib) covers every byte after the block. A reader verifies the size
// and the CRC first: a bit flip, a truncation or a torn write is "damaged", never a crash.
#pragma once
#include <cstddef>
#include <string>

namespace lorasub::io {

constexpr size_t kSealBytes = 512;  // an HDF5 user block size (a power of two >= 512)

// Writes the seal of `path`, a closed HDF5 file created with a kSealBytes user block.
void seal_file(const std::string& path);
// FormatError "'<path>': damaged <what>: <reason>" (or not a file, unreadable, unsealed)
// unless the seal matches the file's size and contents. Reads the whole file.
void verify_seal(const std::string& path, const std::string& what);

}  // namespace lorasub::io
