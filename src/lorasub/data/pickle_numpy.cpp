// The part of the unpickler that rebuilds numpy arrays: GLOBAL/STACK_GLOBAL against a
// fixed list of names, REDUCE and BUILD for those alone (see pickle.h).
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lorasub/core/error.h"
#include "lorasub/data/pickle.h"
#include "lorasub/data/pickle_parser.h"

namespace lorasub::data::pickle {
namespace {

// `s` for a message: printable ASCII as is, other bytes as \xNN, at most 60 bytes.
std::string printable(std::string_view s) {
  std::string out;
  for (const char ch : s.substr(0, 60)) {
    const auto u = static_cast<unsigned char>(ch);
    char esc[8];
    std::snprintf(esc, sizeof esc, "\\x%02x", u);
    out += u >= 0x20 && u < 0x7f ? std::string(1, ch) : std::string(esc);
  }
  return s.size() > 60 ? out + "..." : out;
}

// Bytes per element of a numpy number type string ("u1", "f8", "b1", "c16"); 0 if not one.
uint64_t itemsize(const std::string& dtype) {
  if (dtype.size() < 2 || dtype.size() > 3 || std::strchr("biufc", dtype[0]) == nullptr) return 0;
  uint64_t n = 0;
  for (size_t i = 1; i < dtype.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(dtype[i]))) return 0;
    n = n * 10 + static_cast<uint64_t>(dtype[i] - '0');
  }
  return n;
}

}  // namespace

Value Parser::new_array(Kind kind) {
  const Value v = new_object(kind);
  object(v).off = p_.arrays_.size();
  p_.arrays_.emplace_back();
  return v;
}

std::string_view Parser::str(Value v, const char* what) {
  if (v.kind != Kind::kBytes && v.kind != Kind::kStr) fail(std::string(what) + " is " + kind_name(v.kind));
  return p_.text(v, what);
}

int64_t Parser::integer(Value v, const char* what) {
  if (v.kind != Kind::kInt && v.kind != Kind::kBool) fail(std::string(what) + " is " + kind_name(v.kind));
  return v.num;
}

std::vector<int64_t> Parser::shape(Value v) {
  if (v.kind != Kind::kTuple) fail(std::string("the array shape is ") + kind_name(v.kind) + ", not a tuple");
  std::vector<int64_t> dims;
  for (const Value d : object(v).items) {
    dims.push_back(integer(d, "an array dimension"));
    if (dims.back() < 0) fail("negative array dimension " + std::to_string(dims.back()));
  }
  if (dims.size() > 64) fail("an array of " + std::to_string(dims.size()) + " dimensions");
  return dims;
}

bool Parser::object_op() {
  switch (op_) {
    case 'c': {
      const std::string_view module = line();
      push_global(module, line());
      return true;
    }
    case 0x93: {  // STACK_GLOBAL: module and name are str values
      const Value name = pop(), module = pop();
      if (module.kind != Kind::kStr || name.kind != Kind::kStr) fail("module and name must be str");
      push_global(p_.text(module, "module"), p_.text(name, "name"));
      return true;
    }
    case 'R':
      reduce();
      return true;
    case 'b':
      build();
      return true;
    default:
      return false;
  }
}

std::string_view Parser::line() {
  const size_t left = data_.size() - pos_, limit = left < 256 ? left : 256;
  const void* nl = std::memchr(data_.data() + pos_, '\n', limit);
  if (nl == nullptr) fail(left < 256 ? "truncated: a GLOBAL name without its newline" : "a GLOBAL name over 255 bytes");
  const size_t len = static_cast<size_t>(static_cast<const char*>(nl) - (data_.data() + pos_));
  const std::string_view s(data_.data() + pos_, len);
  pos_ += len + 1;
  return s;
}

void Parser::push_global(std::string_view module, std::string_view name) {
  const bool core = module == "numpy.core.multiarray" || module == "numpy._core.multiarray";
  const bool numeric = module == "numpy.core.numeric" || module == "numpy._core.numeric";
  int64_t id = -1;
  if (core && name == "_reconstruct") id = kReconstruct;
  if (module == "numpy" && name == "ndarray") id = kNdarray;
  if (module == "numpy" && name == "dtype") id = kDtypeType;
  if (numeric && name == "_frombuffer") id = kFrombuffer;
  if (module == "_codecs" && name == "encode") id = kCodecsEncode;
  if ((module == "__builtin__" || module == "builtins") && name == "bytes") id = kBytesType;
  if (id < 0)
    fail("global '" + printable(module) + "." + printable(name) +
         "' is not allowed (this reader rebuilds only numpy arrays, lists, dicts, str, bytes and numbers)");
  const Value g = new_object(Kind::kGlobal);
  object(g).off = static_cast<uint64_t>(id);
  push(g);
}

void Parser::reduce() {
  const Value args = pop(), fn = pop();
  if (fn.kind != Kind::kGlobal) fail(std::string("REDUCE of ") + kind_name(fn.kind) + ", not of a global");
  if (args.kind != Kind::kTuple) fail(std::string("REDUCE arguments are ") + kind_name(args.kind));
  const uint64_t id = object(fn).off;
  const size_t want = id == kReconstruct || id == kDtypeType ? 3 : id == kFrombuffer ? 4 : id == kCodecsEncode ? 2 : 0;
  if (id == kNdarray) fail("numpy.ndarray is not called by a pickle of an array");
  const size_t n = object(args).items.size();
  if (n != want) fail("REDUCE with " + std::to_string(n) + " arguments, this global takes " + std::to_string(want));
  const std::vector<Value> a = object(args).items;  // a copy: the calls below add objects
  if (id == kReconstruct) reconstruct(a);
  if (id == kFrombuffer) frombuffer(a);
  if (id == kDtypeType) make_dtype(a);
  if (id == kCodecsEncode) codecs_encode(a);
  if (id == kBytesType) push(new_object(Kind::kBytes));  // bytes(): b''
}

// numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), b'b'): an empty array that
// BUILD then fills in.
void Parser::reconstruct(const std::vector<Value>& a) {
  if (a[0].kind != Kind::kGlobal || object(a[0]).off != kNdarray) fail("_reconstruct of something not numpy.ndarray");
  if (a[1].kind != Kind::kTuple) fail("_reconstruct without a shape tuple");
  str(a[2], "the _reconstruct type code");
  push(new_array(Kind::kArray));
}

// numpy.core.numeric._frombuffer(buffer, dtype, shape, order) (protocol 5).
void Parser::frombuffer(const std::vector<Value>& a) {
  if (a[0].kind != Kind::kBytes) fail(std::string("_frombuffer of ") + kind_name(a[0].kind) + ", not of bytes");
  if (a[1].kind != Kind::kDtype) fail(std::string("_frombuffer with ") + kind_name(a[1].kind) + " for its dtype");
  const std::string_view order = str(a[3], "the array order");
  if (order != "C" && order != "F") fail("array order '" + printable(order) + "' (not C or F)");
  Array built;
  built.shape = shape(a[2]);
  built.dtype = array_of(a[1]).dtype;
  built.byte_order = array_of(a[1]).byte_order;
  built.fortran = order == "F";
  built.data = a[0];
  built.built = true;
  check_array_size(built);
  const Value v = new_array(Kind::kArray);
  array_of(v) = std::move(built);
  push(v);
}

// numpy.dtype('u1', False, True): BUILD then sets its byte order.
void Parser::make_dtype(const std::vector<Value>& a) {
  const std::string type(str(a[0], "the dtype name"));
  integer(a[1], "the dtype align flag");
  integer(a[2], "the dtype copy flag");
  if (itemsize(type) == 0) fail("dtype '" + printable(type) + "' is not a number type (b, i, u, f, c)");
  const Value v = new_array(Kind::kDtype);
  array_of(v).dtype = type;
  push(v);
}

// _codecs.encode(str, 'latin1'): how Python 3 writes bytes at protocol 2; each code point
// of the (UTF-8) str is one byte.
void Parser::codecs_encode(const std::vector<Value>& a) {
  if (a[0].kind != Kind::kStr) fail(std::string("_codecs.encode of ") + kind_name(a[0].kind));
  const std::string_view enc = str(a[1], "the encoding");
  if (enc != "latin1" && enc != "latin-1") fail("_codecs.encode to '" + printable(enc) + "' (not latin1)");
  const std::string_view s = p_.text(a[0], "str");
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80 && (c & 0xfe) != 0xc2) fail("_codecs.encode of a character above U+00FF");
    out += static_cast<char>(c < 0x80 ? c : ((c & 0x1f) << 6) | (static_cast<unsigned char>(s[++i]) & 0x3f));
  }
  const Value v = new_object(Kind::kBytes);
  object(v).owned = true;
  object(v).off = p_.owned_.size();
  object(v).len = out.size();
  p_.owned_ += out;
  push(v);
}

void Parser::build() {
  const Value state = pop(), target = top();
  if (state.kind != Kind::kTuple) fail(std::string("BUILD with ") + kind_name(state.kind) + " state, not a tuple");
  if (object(state).items.size() > 9) fail("a BUILD state of " + std::to_string(object(state).items.size()) + " items");
  const std::vector<Value> s = object(state).items;
  if (target.kind == Kind::kDtype) return build_dtype(array_of(target), s);
  if (target.kind != Kind::kArray) fail(std::string("BUILD of ") + kind_name(target.kind));
  if (array_of(target).built) fail("BUILD of an array already built");
  build_array(array_of(target), s);
}

// numpy dtype state: (3, '|', None, None, None, -1, -1, 0) (version 4 adds metadata).
void Parser::build_dtype(Array& dtype, const std::vector<Value>& s) {
  if (s.size() != 8 && s.size() != 9) fail("a dtype state of " + std::to_string(s.size()) + " items (not 8 or 9)");
  const int64_t version = integer(s[0], "the dtype state version");
  if (version != 3 && version != 4) fail("dtype state version " + std::to_string(version) + " (not 3 or 4)");
  const std::string_view order = str(s[1], "the dtype byte order");
  if (order.size() != 1 || std::strchr("|<>=", order[0]) == nullptr)
    fail("dtype byte order '" + printable(order) + "' (not |, <, > or =)");
  for (size_t i = 2; i <= 4; ++i)
    if (s[i].kind != Kind::kNone) fail("a structured or sub-array dtype (not supported)");
  dtype.byte_order = order[0];
}

// numpy array state: (1, shape, dtype, is_fortran, data) or (shape, dtype, is_fortran, data).
void Parser::build_array(Array& array, const std::vector<Value>& s) {
  if (s.size() != 4 && s.size() != 5) fail("an array state of " + std::to_string(s.size()) + " items (not 4 or 5)");
  const size_t o = s.size() - 4;
  if (o == 1 && integer(s[0], "the array state version") != 1) fail("array state version " + std::to_string(s[0].num));
  if (s[o + 1].kind != Kind::kDtype) fail(std::string("the array dtype is ") + kind_name(s[o + 1].kind));
  if (s[o + 3].kind != Kind::kBytes)
    fail(std::string("the array data is ") + kind_name(s[o + 3].kind) + ", not bytes (an object array?)");
  Array built;
  built.shape = shape(s[o]);
  built.dtype = array_of(s[o + 1]).dtype;
  built.byte_order = array_of(s[o + 1]).byte_order;
  built.fortran = integer(s[o + 2], "the array Fortran flag") != 0;
  built.data = s[o + 3];
  built.built = true;
  check_array_size(built);
  array = std::move(built);
}

void Parser::check_array_size(const Array& a) {
  const uint64_t len = object(a.data).len, size = itemsize(a.dtype), max = std::numeric_limits<uint64_t>::max();
  uint64_t count = 1;  // elements, unless that overflows
  bool overflow = size == 0;
  for (const int64_t d : a.shape) count = d == 0 ? 0 : count;
  for (const int64_t d : a.shape) {
    const auto u = static_cast<uint64_t>(d);
    if (count != 0 && count > max / u) overflow = true;
    if (!overflow) count *= u;
  }
  if (!overflow && count > max / size) overflow = true;
  std::string dims;
  for (const int64_t d : a.shape) dims += (dims.empty() ? "" : ", ") + std::to_string(d);
  const std::string what = "an array of shape (" + dims + ") and dtype '" + a.dtype + "'";
  if (overflow) fail(what + " is larger than any file");
  if (count * size != len)
    fail(what + " needs " + std::to_string(count * size) + " bytes of data, the pickle has " + std::to_string(len));
}

}  // namespace lorasub::data::pickle
