// A small RAII layer over the HDF5 C API for checkpoints (docs/checkpoint-format.md).
// Datasets are contiguous (never chunked or compressed) and carry a "crc32" attribute:
// the zlib CRC-32 of their raw little-endian bytes. Files are written under a
// temporary name and renamed into place on commit (invariant 4).
// Neither class is thread-safe: the serial HDF5 library is not.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace lorasub::io {

// Names may hold '/' (groups, created as needed by the writer); a leading '/' is optional.
class H5Writer {
 public:
  // Creates "<path>.tmp-<pid>"; `path` itself is not touched before commit().
  explicit H5Writer(const std::string& path);
  // Not committed: closes and removes the temporary file. Never throws.
  ~H5Writer();
  H5Writer(const H5Writer&) = delete;
  H5Writer& operator=(const H5Writer&) = delete;

  // `data` holds prod(shape) elements; shape [] is a scalar. Each dataset is written once.
  void write(const std::string& name, const std::vector<int64_t>& shape, const float* data);
  void write(const std::string& name, const std::vector<int64_t>& shape, const double* data);
  void write(const std::string& name, const std::vector<int64_t>& shape, const int64_t* data);
  void write(const std::string& name, const std::vector<int64_t>& shape, const uint8_t* data);
  template <class T>
  void write(const std::string& name, const std::vector<int64_t>& shape, const std::vector<T>& data) {
    if (static_cast<int64_t>(data.size()) != numel(shape)) {
      throw std::invalid_argument("'" + path_ + "': dataset '" + name + "' has " + std::to_string(data.size()) +
                                  " values for its shape");
    }
    write(name, shape, data.data());
  }
  // A scalar fixed-length UTF-8 string (NUL-terminated; h5py reads it as bytes).
  void write_string(const std::string& name, const std::string& value);

  // Scalar attributes on a dataset or group; "/" is the file root. Strings are
  // variable-length UTF-8 (h5py reads str). "crc32" is reserved.
  void set_attr(const std::string& object, const std::string& key, const std::string& value);
  void set_attr(const std::string& object, const std::string& key, const char* value) {
    set_attr(object, key, std::string(value));
  }
  void set_attr(const std::string& object, const std::string& key, int64_t value);
  // Any other integer type (int, size_t, ...) is stored as int64.
  template <class T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  void set_attr(const std::string& object, const std::string& key, T value) {
    set_attr(object, key, static_cast<int64_t>(value));
  }
  void set_attr(const std::string& object, const std::string& key, double value);

  // Closes the file, fsyncs it, renames it to `path`, fsyncs the directory.
  void commit();
  const std::string& path() const { return path_; }

 private:
  static int64_t numel(const std::vector<int64_t>& shape);
  void write_raw(const std::string& name, const std::vector<int64_t>& shape, int64_t file_type, int64_t mem_type,
                 const void* data, size_t elem_size);
  void write_attr(const std::string& object, const std::string& key, int64_t file_type, int64_t mem_type,
                  const void* value);
  void check_open() const;

  std::string path_;
  std::string tmp_;
  int64_t file_ = -1;  // hid_t
  bool committed_ = false;
};

// Every failure is a FormatError "'<path>': ..." (a missing or mistyped dataset, a
// corrupt file, an HDF5 error while reading). The file's seal (io/file_seal.h) is
// verified before HDF5 reads a byte of it; `what` names the kind of file in messages.
class H5Reader {
 public:
  explicit H5Reader(const std::string& path, const std::string& what = "lorasub HDF5 file");
  ~H5Reader();
  H5Reader(H5Reader&& other) noexcept;
  H5Reader(const H5Reader&) = delete;
  H5Reader& operator=(const H5Reader&) = delete;
  H5Reader& operator=(H5Reader&&) = delete;

  bool has(const std::string& name) const;  // a dataset or group
  std::vector<int64_t> shape(const std::string& name) const;
  // The stored element type: "float32", "float64", "int64", "uint8" (or another name).
  std::string type(const std::string& name) const;
  // Each read requires the stored type to match exactly (float32, float64, int64, uint8).
  std::vector<float> read_f32(const std::string& name) const;
  std::vector<double> read_f64(const std::string& name) const;
  std::vector<int64_t> read_i64(const std::string& name) const;
  std::vector<uint8_t> read_u8(const std::string& name) const;
  std::string read_string(const std::string& name) const;  // fixed or variable length

  bool has_attr(const std::string& object, const std::string& key) const;
  std::string attr_string(const std::string& object, const std::string& key) const;
  int64_t attr_int(const std::string& object, const std::string& key) const;
  double attr_double(const std::string& object, const std::string& key) const;

  // Names of the direct members of a group, sorted.
  std::vector<std::string> list(const std::string& group = "/") const;
  // Recomputes every dataset's CRC-32 and compares it with its "crc32" attribute.
  void verify() const;
  const std::string& path() const { return path_; }

 private:
  template <class T>
  std::vector<T> read_numeric(const std::string& name, const char* type, int64_t mem_type) const;
  int64_t open_attr(const std::string& object, const std::string& key) const;

  std::string path_;
  int64_t file_ = -1;       // hid_t
  int64_t file_bytes_ = 0;  // no dataset can hold more (every allocation is checked against it)
  // Bytes of dataset `dset` in elements of `elem_size`, refused (FormatError) when they
  // overflow or exceed the file: what a dataset declares is never allocated blindly.
  size_t checked_bytes(int64_t dset, size_t elem_size, const std::string& name) const;
};

}  // namespace lorasub::io
