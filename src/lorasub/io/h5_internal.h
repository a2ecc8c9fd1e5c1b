// Private helpers shared by the HDF5 writer and reader (not installed, not for other modules).
#pragma once
#include <hdf5.h>

#include <cstddef>
#include <mutex>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>

namespace lorasub::io::detail {

static_assert(std::is_same_v<hid_t, int64_t>, "h5file.h stores hid_t as int64_t");

// The serial HDF5 library is not thread-safe: every call into it (H5Writer, H5Reader,
// the image cache read by loader threads) holds this lock.
std::recursive_mutex& hdf5_mutex();

// Turns HDF5's automatic error printing off; our checks report the stack instead.
void silence_hdf5_errors();
// The current HDF5 error stack as one line ("" when empty); clears it.
std::string take_error_stack();
// Throws std::runtime_error (or FormatError when `format_error`) with the call, file:line,
// the path and the HDF5 error stack.
[[noreturn]] void throw_h5(const char* call, const char* file, int line, const std::string& path, bool format_error);

template <class T>
T h5_check(T result, const char* call, const char* file, int line, const std::string& path, bool format_error) {
  if (result < 0) throw_h5(call, file, line, path, format_error);
  return result;
}

// Writing: an HDF5 failure is an I/O failure (std::runtime_error).
#define LORASUB_H5(call, path) ::lorasub::io::detail::h5_check((call), #call, __FILE__, __LINE__, (path), false)
// Reading: an HDF5 failure means the file is malformed (FormatError).
#define LORASUB_H5_READ(call, path) ::lorasub::io::detail::h5_check((call), #call, __FILE__, __LINE__, (path), true)

// Owns one HDF5 id and closes it with the matching H5?close.
class Handle {
 public:
  Handle() = default;
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Handle() {
    if (id_ >= 0 && close_) close_(id_);
  }
  Handle(Handle&& o) noexcept : id_(std::exchange(o.id_, -1)), close_(o.close_) {}
  Handle& operator=(Handle&&) = delete;
  Handle(const Handle&) = delete;
  hid_t get() const { return id_; }

 private:
  hid_t id_ = -1;
  herr_t (*close_)(hid_t) = nullptr;
};

// True when `name` is an existing object (dataset or group); "/" always is.
bool object_exists(hid_t file, const std::string& name);
// "float32", "int64", "uint8", "string", "variable-length string", "compound", ...
std::string type_name(hid_t type);
// zlib CRC-32 of any number of bytes.
uint32_t crc32_bytes(const void* data, size_t size);
// A scalar (rank 0) or simple dataspace.
Handle make_space(const int64_t* dims, int rank, const std::string& path);
// A string type: fixed `size` bytes NUL-terminated, or variable length when size == 0.
Handle string_type(size_t size, const std::string& path);

}  // namespace lorasub::io::detail
