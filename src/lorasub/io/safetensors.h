// The safetensors format (huggingface/safetensors): an 8-byte little-endian header
// length N, N bytes of JSON {"name": {"dtype", "shape", "data_offsets": [begin, end]},
// "__metadata__": {str: str}}, then the data buffer the offsets point into.
// Torch-free: values are held as float32 whatever the stored dtype (I64 integers too,
// which must then be exactly representable: |v| <= 2^24, e.g. class ids).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace lorasub::io {

struct TensorData {
  std::string dtype = "F32";   // dtype as stored in the file (values are float32 anyway)
  std::vector<int64_t> shape;  // [] is a 0-d scalar holding one value
  std::vector<float> values;   // row-major, prod(shape) elements

  int64_t numel() const;
};

// A whole safetensors file read into memory. F32, F16, BF16, F64 and I64 tensors are
// converted to float32 (an I64 value float32 cannot hold exactly is a FormatError);
// any other dtype is a FormatError naming tensor and dtype.
class SafeTensorsFile {
 public:
  // Throws FormatError "'<path>': <what>" for an unreadable or malformed file.
  static SafeTensorsFile read(const std::string& path);

  const std::map<std::string, TensorData>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& path() const { return path_; }
  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  // Throws FormatError naming the missing tensor and a few of the available ones.
  const TensorData& at(const std::string& name) const&;
  // On a temporary (SafeTensorsFile::read(p).at(n)) the tensor is moved out, not dangling.
  TensorData at(const std::string& name) &&;

 private:
  std::string path_;
  std::map<std::string, TensorData> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Writes every tensor as F32, except those whose TensorData::dtype is "I64" (written
// as int64; their values must be integers), keys sorted, the header padded with spaces
// to a multiple of 8 bytes, through a temporary name + fsync + rename. Throws
// std::invalid_argument when values.size() != prod(shape), an I64 value is not an
// integer or a name is "__metadata__", std::runtime_error on I/O failure.
void write_safetensors(const std::string& path, const std::map<std::string, TensorData>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace lorasub::io
