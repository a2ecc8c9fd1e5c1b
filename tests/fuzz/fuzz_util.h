// Shared by the libFuzzer harnesses: a per-process scratch directory in memory
// (/dev/shm when there is one) for parsers that read files, and the one rule every
// harness checks: bad input is an exception, never a crash, a hang or UB (the
// sanitizers and libFuzzer's timeout/RSS limits catch the rest).
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "lorasub/core/error.h"

// What a parser may throw for bad input: a FormatError or ConfigError naming the file or
// key. Anything else (a YAML, std::out_of_range or bad_alloc escaping a parser) is a
// finding: it propagates, and libFuzzer reports the input.
#define LORASUB_FUZZ_BAD_INPUT_IS_FINE  \
  catch (const lorasub::FormatError&) { \
  }                                     \
  catch (const lorasub::ConfigError&) { \
  }

namespace lorasub::fuzz {

inline const std::string& scratch() {
  // Never destroyed: the atexit clean-up below runs after static destructors would.
  static const std::string* dir = [] {
    const std::string base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
    auto* d = new std::string(base + "/lorasub-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(*d);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratch(), ec);
    });
    return d;
  }();
  return *dir;
}

// Writes bytes to scratch()/name and returns the path.
inline std::string write_file(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = scratch() + "/" + name;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  return path;
}

}  // namespace lorasub::fuzz
