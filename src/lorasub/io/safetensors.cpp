#include "lorasub/io/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <sys/stat.h>
#include <tuple>
#include <utility>

#include "lorasub/core/error.h"
#include "lorasub/io/atomic_file.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.cpp assumes a little-endian host (the format is little-endian)"
#endif

namespace lorasub::io {
namespace {

using json = nlohmann::json;
constexpr uint64_t kMaxHeaderBytes = 100ull * 1000 * 1000;  // as the reference reader

// Throws FormatError "'<path>': <prefix><what>"; [[noreturn]] so checks read as guards.
struct Fail {
  std::string prefix;
  [[noreturn]] void operator()(const std::string& what) const { throw FormatError(prefix + what); }
};

struct Entry {
  std::string name;
  TensorData tensor;
  uint64_t begin = 0;
  uint64_t end = 0;
};

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

int64_t dtype_size(const std::string& dtype) {
  if (dtype == "F32") return 4;
  if (dtype == "F16" || dtype == "BF16") return 2;
  if (dtype == "F64" || dtype == "I64") return 8;
  return 0;
}

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);  // inf / nan
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;  // signed zero
  } else {        // subnormal: normalise
    int e = -1;
    do {
      ++e;
      mant <<= 1;
    } while ((mant & 0x400u) == 0);
    bits = sign | (static_cast<uint32_t>(112 - e) << 23) | ((mant & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

void convert(const std::string& dtype, const unsigned char* src, size_t n, float* dst, const Fail& fail) {
  if (n == 0) return;  // an empty vector's data() may be null
  if (dtype == "F32") {
    std::memcpy(dst, src, n * 4);
  } else if (dtype == "I64") {
    for (size_t i = 0; i < n; ++i) {
      int64_t v;
      std::memcpy(&v, src + 8 * i, 8);
      constexpr int64_t kExact = int64_t{1} << 24;  // float32 holds every integer up to 2^24
      if (v > kExact || v < -kExact)
        fail("I64 element " + std::to_string(i) + " = " + std::to_string(v) + " is beyond 2^24 (not exact as float32)");
      dst[i] = static_cast<float>(v);
    }
  } else if (dtype == "F64") {
    for (size_t i = 0; i < n; ++i) {
      double d;
      std::memcpy(&d, src + 8 * i, 8);
      dst[i] = static_cast<float>(d);
    }
  } else {
    const bool bf16 = dtype == "BF16";
    for (size_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, src + 2 * i, 2);
      if (bf16) {
        const uint32_t bits = static_cast<uint32_t>(h) << 16;
        std::memcpy(&dst[i], &bits, 4);
      } else {
        dst[i] = half_to_float(h);
      }
    }
  }
}

// Reads the whole file; throws FormatError on any I/O problem.
std::string read_all(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))  // ifstream opens a directory and fails on read
    throw FormatError("'" + path +
                      "' is a directory, not a safetensors file (model.weights names the file, "
                      "e.g. '" +
                      path + "/model.safetensors')");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FormatError("'" + path + "': cannot open: " + std::strerror(errno));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw FormatError("'" + path + "': read failed");
  return bytes;
}

json parse_header(const std::string& bytes, uint64_t& n, const Fail& fail) {
  if (bytes.size() < 8) fail("file shorter than 8 bytes (" + std::to_string(bytes.size()) + " bytes)");
  std::memcpy(&n, bytes.data(), 8);
  if (n > kMaxHeaderBytes) fail("header length " + std::to_string(n) + " exceeds the 100 MB limit");
  if (n > bytes.size() - 8) {
    fail("header length " + std::to_string(n) + " larger than the file (" + std::to_string(bytes.size()) + " bytes)");
  }
  json header = json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<int64_t>(n), nullptr,
                            /*allow_exceptions=*/false);
  if (header.is_discarded()) fail("header is not valid JSON");
  if (!header.is_object()) fail("header is not a JSON object");
  return header;
}

std::vector<int64_t> parse_shape(const json& v, const Fail& fail) {
  if (!v.is_array()) fail("'shape' is not an array");
  std::vector<int64_t> shape;
  for (const json& d : v) {
    if (!d.is_number_integer()) fail("'shape' holds a non-integer");
    if (d.get<int64_t>() < 0) fail("negative dimension " + std::to_string(d.get<int64_t>()) + " in shape");
    shape.push_back(d.get<int64_t>());
  }
  return shape;
}

// Parses one header entry and checks its byte count against dtype and shape.
Entry parse_entry(const std::string& name, const json& v, uint64_t buffer_size, const Fail& file_fail) {
  const Fail fail{file_fail.prefix + "tensor '" + name + "': "};
  if (!v.is_object()) fail("entry is not an object");
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    if (!v.contains(key)) fail(std::string("missing '") + key + "'");
  }
  if (!v["dtype"].is_string()) fail("'dtype' is not a string");
  Entry e;
  e.name = name;
  e.tensor.dtype = v["dtype"].get<std::string>();
  e.tensor.shape = parse_shape(v["shape"], fail);
  const json& off = v["data_offsets"];
  if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned()) {
    fail("'data_offsets' is not [begin, end] of non-negative integers");
  }
  e.begin = off[0].get<uint64_t>();
  e.end = off[1].get<uint64_t>();
  const std::string range = "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "]";
  if (e.end < e.begin) fail(range + " end before begin");
  if (e.end > buffer_size) fail(range + " out of bounds of the " + std::to_string(buffer_size) + "-byte data buffer");
  const int64_t size = dtype_size(e.tensor.dtype);
  if (size == 0) fail("unsupported dtype '" + e.tensor.dtype + "' (supported: F32, F16, BF16, F64, I64)");
  uint64_t expected = static_cast<uint64_t>(size);
  for (int64_t d : e.tensor.shape) {
    if (d != 0 && expected > std::numeric_limits<uint64_t>::max() / static_cast<uint64_t>(d)) fail("shape too large");
    expected *= static_cast<uint64_t>(d);
  }
  if (e.end - e.begin != expected) {
    fail(range + " hold " + std::to_string(e.end - e.begin) + " bytes but shape " + shape_str(e.tensor.shape) + " of " +
         e.tensor.dtype + " needs " + std::to_string(expected));
  }
  return e;
}

// The buffer must be covered exactly: no overlaps, no gaps, nothing left over.
void check_coverage(std::vector<Entry*> entries, uint64_t buffer_size, const Fail& fail) {
  std::sort(entries.begin(), entries.end(), [](const Entry* a, const Entry* b) {
    return std::tie(a->begin, a->end, a->name) < std::tie(b->begin, b->end, b->name);
  });
  uint64_t pos = 0;
  const Entry* prev = nullptr;
  for (const Entry* e : entries) {
    if (e->begin < pos) fail("tensor '" + e->name + "' overlaps tensor '" + prev->name + "' in the data buffer");
    if (e->begin > pos) {
      fail("gap of " + std::to_string(e->begin - pos) + " bytes in the data buffer before tensor '" + e->name + "'");
    }
    pos = e->end;
    prev = e;
  }
  if (pos != buffer_size) {
    fail(std::to_string(buffer_size - pos) + " bytes at the end of the data buffer belong to no tensor");
  }
}

void parse_metadata(const json& v, std::map<std::string, std::string>& out, const Fail& fail) {
  if (!v.is_object()) fail("'__metadata__' is not an object");
  for (const auto& [key, value] : v.items()) {
    if (!value.is_string()) fail("'__metadata__' value for '" + key + "' is not a string");
    out[key] = value.get<std::string>();
  }
}

}  // namespace

int64_t TensorData::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

SafeTensorsFile SafeTensorsFile::read(const std::string& path) {
  const Fail fail{"'" + path + "': "};
  const std::string bytes = read_all(path);
  uint64_t header_len = 0;
  const json header = parse_header(bytes, header_len, fail);
  const uint64_t data_start = 8 + header_len;
  const uint64_t buffer_size = bytes.size() - data_start;

  SafeTensorsFile file;
  file.path_ = path;
  std::vector<Entry> entries;
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      parse_metadata(value, file.metadata_, fail);
    } else {
      entries.push_back(parse_entry(name, value, buffer_size, fail));
    }
  }
  std::vector<Entry*> ptrs;
  for (Entry& e : entries) ptrs.push_back(&e);
  check_coverage(ptrs, buffer_size, fail);
  for (Entry& e : entries) {
    const auto* src = reinterpret_cast<const unsigned char*>(bytes.data() + data_start + e.begin);
    e.tensor.values.resize(static_cast<size_t>(e.tensor.numel()));
    convert(e.tensor.dtype, src, e.tensor.values.size(), e.tensor.values.data(),
            Fail{fail.prefix + "tensor '" + e.name + "': "});
    file.tensors_.emplace(e.name, std::move(e.tensor));
  }
  return file;
}

const TensorData& SafeTensorsFile::at(const std::string& name) const& {
  const auto it = tensors_.find(name);
  if (it != tensors_.end()) return it->second;
  std::string names;
  int shown = 0;
  for (const auto& [key, value] : tensors_) {
    if (shown++ == 5) {
      names += ", ... (" + std::to_string(tensors_.size()) + " in all)";
      break;
    }
    names += (names.empty() ? "" : ", ") + key;
  }
  throw FormatError("'" + path_ + "': no tensor '" + name + "' (available: " + (names.empty() ? "none" : names) + ")");
}

TensorData SafeTensorsFile::at(const std::string& name) && {
  std::as_const(*this).at(name);  // throws when missing
  return std::move(tensors_.find(name)->second);
}

void write_safetensors(const std::string& path, const std::map<std::string, TensorData>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__") throw std::invalid_argument("'" + path + "': '__metadata__' is not a tensor name");
    for (int64_t d : t.shape) {
      if (d < 0) throw std::invalid_argument("'" + path + "': tensor '" + name + "' has a negative dimension");
    }
    if (static_cast<int64_t>(t.values.size()) != t.numel()) {
      throw std::invalid_argument("'" + path + "': tensor '" + name + "' has " + std::to_string(t.values.size()) +
                                  " values for shape " + shape_str(t.shape));
    }
    const bool i64 = t.dtype == "I64";
    if (i64) {
      for (float v : t.values) {
        if (!(std::nearbyint(v) == v && std::abs(v) <= 16777216.0f))  // what the reader accepts
          throw std::invalid_argument("'" + path + "': I64 tensor '" + name + "' holds " + std::to_string(v) +
                                      ", not an integer within +-2^24");
      }
    }
    const uint64_t bytes = t.values.size() * (i64 ? sizeof(int64_t) : sizeof(float));
    header[name] = {{"dtype", i64 ? "I64" : "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t n = text.size();

  AtomicFile file(path);
  file.write(&n, 8);
  file.write(text);
  for (const auto& [name, t] : tensors) {
    if (t.dtype == "I64") {
      std::vector<int64_t> ints;
      for (float v : t.values) ints.push_back(static_cast<int64_t>(v));
      file.write(ints.data(), ints.size() * sizeof(int64_t));
    } else {
      file.write(t.values.data(), t.values.size() * sizeof(float));
    }
  }
  file.commit();
}

}  // namespace lorasub::io
