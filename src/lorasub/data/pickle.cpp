#include "lorasub/data/pickle.h"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "lorasub/core/error.h"
#include "lorasub/data/pickle_parser.h"

namespace lorasub::data::pickle {
namespace {

// The opcodes this reader knows, for messages.
const char* op_name(uint8_t op) {
  // clang-format off
  static const std::pair<uint8_t, const char*> names[] = {
      {0x80, "PROTO"}, {0x95, "FRAME"}, {'.', "STOP"}, {'(', "MARK"}, {'}', "EMPTY_DICT"}, {']', "EMPTY_LIST"},
      {')', "EMPTY_TUPLE"}, {'t', "TUPLE"}, {0x85, "TUPLE1"}, {0x86, "TUPLE2"}, {0x87, "TUPLE3"}, {'a', "APPEND"},
      {'e', "APPENDS"}, {'s', "SETITEM"}, {'u', "SETITEMS"}, {'N', "NONE"}, {0x88, "NEWTRUE"}, {0x89, "NEWFALSE"},
      {'J', "BININT"}, {'K', "BININT1"}, {'M', "BININT2"}, {0x8a, "LONG1"}, {'U', "SHORT_BINSTRING"},
      {'T', "BINSTRING"}, {'C', "SHORT_BINBYTES"}, {'B', "BINBYTES"}, {0x96, "BYTEARRAY8"},
      {0x8c, "SHORT_BINUNICODE"}, {'X', "BINUNICODE"}, {'q', "BINPUT"}, {'r', "LONG_BINPUT"}, {0x94, "MEMOIZE"},
      {'h', "BINGET"}, {'j', "LONG_BINGET"}, {'c', "GLOBAL"}, {0x93, "STACK_GLOBAL"}, {'R', "REDUCE"},
      {'b', "BUILD"}};
  // clang-format on
  for (const auto& [code, name] : names)
    if (code == op) return name;
  return nullptr;
}

std::string op_text(uint8_t op) {
  char hex[8];
  std::snprintf(hex, sizeof hex, "0x%02x", op);
  const char* name = op_name(op);
  return name ? std::string(name) : "unknown opcode " + std::string(hex);
}

}  // namespace

const char* kind_name(Kind k) {
  static const char* const names[] = {"None",    "a bool", "an int",        "bytes",         "a str",        "a list",
                                      "a tuple", "a dict", "a global name", "a numpy array", "a numpy dtype"};
  return names[static_cast<int>(k)];
}

bool is_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    int extra = -1;  // continuation bytes after a lead byte c
    if (c < 0x80) extra = 0;
    if (c >= 0xc2 && c < 0xe0) extra = 1;
    if (c >= 0xe0 && c < 0xf0) extra = 2;
    if (c >= 0xf0 && c < 0xf5) extra = 3;
    if (extra < 0 || s.size() - i < static_cast<size_t>(extra) + 1) return false;
    uint32_t cp = c & (0x3f >> extra);
    for (int k = 1; k <= extra; ++k) {
      const auto t = static_cast<unsigned char>(s[i + k]);
      if ((t & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (t & 0x3f);
    }
    static const uint32_t min_cp[] = {0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[extra] || cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000)) return false;
    i += static_cast<size_t>(extra) + 1;
  }
  return true;
}

// ---- Pickle ----

Pickle::Pickle(std::string bytes, std::string name) : file_(std::move(bytes)), name_(std::move(name)) {
  root_ = Parser(*this).run();
}

std::string_view Pickle::text(Value v, const std::string& what) const {
  if (v.kind != Kind::kBytes && v.kind != Kind::kStr)
    throw FormatError(name_ + ": " + what + " is " + kind_name(v.kind) + ", not bytes or str");
  const Object& o = objects_[v.obj];
  return std::string_view(o.owned ? owned_ : file_).substr(o.off, o.len);
}

const std::vector<Value>& Pickle::items(Value v) const {
  if (v.kind != Kind::kList && v.kind != Kind::kTuple && v.kind != Kind::kDict)
    throw FormatError(name_ + ": " + kind_name(v.kind) + " has no items");
  return objects_[v.obj].items;
}

std::optional<Value> Pickle::find(Value dict, std::string_view key) const {
  const std::vector<Value>& kv = items(dict);
  for (size_t i = kv.size(); i >= 2; i -= 2) {
    const Value k = kv[i - 2];
    if ((k.kind == Kind::kBytes || k.kind == Kind::kStr) && text(k, "key") == key) return kv[i - 1];
  }
  return std::nullopt;
}

std::string Pickle::describe_keys(Value dict, size_t limit) const {
  const std::vector<Value>& kv = items(dict);
  std::string out;
  for (size_t i = 0; i + 1 < kv.size(); i += 2) {
    if (i / 2 == limit) return out + ", ... (" + std::to_string(kv.size() / 2) + " keys)";
    const Value k = kv[i];
    std::string shown = kind_name(k.kind);
    if (k.kind == Kind::kBytes || k.kind == Kind::kStr) {
      shown = k.kind == Kind::kBytes ? "b'" : "'";
      for (const char ch : text(k, "key").substr(0, 40)) {
        const auto u = static_cast<unsigned char>(ch);
        char esc[8];
        std::snprintf(esc, sizeof esc, "\\x%02x", u);
        shown += u >= 0x20 && u < 0x7f && ch != '\'' && ch != '\\' ? std::string(1, ch) : std::string(esc);
      }
      shown += "'";
    }
    out += (out.empty() ? "" : ", ") + shown;
  }
  return out.empty() ? "none" : out;
}

const Array& Pickle::array(Value v) const {
  if (v.kind != Kind::kArray) throw FormatError(name_ + ": " + kind_name(v.kind) + " is not a numpy array");
  return arrays_[objects_[v.obj].off];
}

Pickle read_pickle(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw FormatError(path + ": not a file (a pickle was expected)");
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw FormatError(path + ": cannot open");
  const std::streamoff size = in.tellg();
  if (size < 0) throw FormatError(path + ": cannot read its size");
  std::string bytes(static_cast<size_t>(size), '\0');
  in.seekg(0);
  if (!in.read(bytes.data(), size)) throw FormatError(path + ": read error");
  return Pickle(std::move(bytes), path);
}

// ---- Parser: bytes, stack and memo ----

void Parser::fail(const std::string& what) const {
  throw FormatError(p_.name_ + ": " + what + " (" + op_text(op_) + " at byte " + std::to_string(at_) + ")");
}

void Parser::need(uint64_t n) const {
  if (n > data_.size() - pos_)
    fail("truncated: needs " + std::to_string(n) + " more bytes, " + std::to_string(data_.size() - pos_) + " are left");
}

uint64_t Parser::le(int n) {
  need(static_cast<uint64_t>(n));
  uint64_t v = 0;
  for (int k = n - 1; k >= 0; --k) v = (v << 8) | static_cast<unsigned char>(data_[pos_ + k]);
  pos_ += static_cast<size_t>(n);
  return v;
}

void Parser::push(Value v) {
  if (stack_.size() >= kMaxStack) fail("more than " + std::to_string(kMaxStack) + " values on the stack");
  stack_.push_back(v);
}

Value Parser::pop() {
  const size_t floor = marks_.empty() ? 0 : marks_.back();
  if (stack_.size() <= floor) fail(marks_.empty() ? "stack underflow" : "stack underflow (above the last MARK)");
  const Value v = stack_.back();
  stack_.pop_back();
  return v;
}

Value& Parser::top() {
  const size_t floor = marks_.empty() ? 0 : marks_.back();
  if (stack_.size() <= floor) fail("stack underflow");
  return stack_.back();
}

std::vector<Value> Parser::pop_to_mark() {
  if (marks_.empty()) fail("no MARK to pop to");
  const size_t at = marks_.back();
  marks_.pop_back();
  std::vector<Value> items(stack_.begin() + static_cast<std::ptrdiff_t>(at), stack_.end());
  stack_.resize(at);
  return items;
}

Value Parser::new_object(Kind kind) {
  if (p_.objects_.size() >= std::numeric_limits<uint32_t>::max()) fail("too many objects");
  p_.objects_.push_back({});
  p_.objects_.back().kind = kind;
  return Value{kind, 0, static_cast<uint32_t>(p_.objects_.size() - 1)};
}

// ---- Parser: opcodes ----

Value Parser::run() {
  start();
  while (true) {
    at_ = pos_;
    if (pos_ >= data_.size())
      throw FormatError(p_.name_ + ": truncated: the pickle ends at byte " + std::to_string(pos_) + " without STOP");
    op_ = static_cast<uint8_t>(data_[pos_++]);
    if (stop()) return stack_[0];
    if (!scalar_op() && !text_op() && !container_op() && !memo_op() && !object_op()) fail("unsupported opcode");
  }
}

void Parser::start() {
  if (data_.empty()) throw FormatError(p_.name_ + ": empty file, not a pickle");
  op_ = static_cast<uint8_t>(data_[0]);
  if (op_ != 0x80) fail("not a pickle of protocol 2-5 (it must start with PROTO, 0x80)");
  pos_ = 1;
  const uint64_t proto = le(1);
  if (proto < 2 || proto > 5) fail("protocol " + std::to_string(proto) + " is not supported (2-5 are)");
}

bool Parser::stop() {
  if (op_ != '.') return false;
  if (!marks_.empty()) fail("STOP with a MARK still open");
  if (stack_.size() != 1) fail("STOP with " + std::to_string(stack_.size()) + " values on the stack, not 1");
  if (pos_ != data_.size()) fail(std::to_string(data_.size() - pos_) + " bytes after STOP");
  return true;
}

bool Parser::scalar_op() {
  switch (op_) {
    case 0x95: {  // FRAME: frames only batch reads; the length must fit
      const uint64_t n = le(8);
      if (n > data_.size() - pos_)
        fail("truncated: a frame of " + std::to_string(n) + " bytes, " + std::to_string(data_.size() - pos_) +
             " are left");
      return true;
    }
    case 'N':
    case 0x88:
    case 0x89:  // NONE, NEWTRUE, NEWFALSE
      push({op_ == 'N' ? Kind::kNone : Kind::kBool, op_ == 0x88 ? 1 : 0, 0});
      return true;
    case 'K':
    case 'M':  // BININT1, BININT2: unsigned
      push({Kind::kInt, static_cast<int64_t>(le(op_ == 'K' ? 1 : 2)), 0});
      return true;
    case 'J':  // BININT: signed
      push({Kind::kInt, static_cast<int32_t>(static_cast<uint32_t>(le(4))), 0});
      return true;
    case 0x8a: {  // LONG1: n bytes of little-endian two's complement
      const uint64_t n = le(1);
      if (n > 8) fail("an integer of " + std::to_string(n) + " bytes is out of range");
      const uint64_t raw = n == 0 ? 0 : le(static_cast<int>(n));
      const int shift = 64 - 8 * static_cast<int>(n);
      const int64_t v = n == 0 ? 0 : static_cast<int64_t>(raw << shift) >> shift;
      push({Kind::kInt, v, 0});
      return true;
    }
    case 0x80:
      fail("PROTO after the start of the pickle");
    default:
      return false;
  }
}

bool Parser::text_op() {
  // The opcode, what it pushes (Python 2 str and bytearray are bytes), its length's width.
  static const struct {
    uint8_t op;
    Kind kind;
    int width;
  } ops[] = {{'U', Kind::kBytes, 1},  {'T', Kind::kBytes, 4}, {'C', Kind::kBytes, 1}, {'B', Kind::kBytes, 4},
             {0x96, Kind::kBytes, 8}, {0x8c, Kind::kStr, 1},  {'X', Kind::kStr, 4}};
  for (const auto& t : ops) {
    if (t.op != op_) continue;
    const uint64_t len = le(t.width);
    if (op_ == 'T' && len > 0x7fffffffu)  // BINSTRING's length is signed
      fail("negative length " + std::to_string(static_cast<int32_t>(static_cast<uint32_t>(len))));
    push_text(t.kind, len);
    return true;
  }
  return false;
}

void Parser::push_text(Kind kind, uint64_t len) {
  need(len);
  if (kind == Kind::kStr && !is_utf8(std::string_view(data_).substr(pos_, len))) fail("a str that is not UTF-8");
  const Value v = new_object(kind);
  object(v).off = pos_;
  object(v).len = len;
  pos_ += static_cast<size_t>(len);
  push(v);
}

bool Parser::container_op() {
  switch (op_) {
    case '(':
      if (marks_.size() >= kMaxStack) fail("too many open MARKs");
      marks_.push_back(stack_.size());
      return true;
    case '}':
      push(new_object(Kind::kDict));
      return true;
    case ']':
      push(new_object(Kind::kList));
      return true;
    case ')':
      push(new_object(Kind::kTuple));
      return true;
    case 0x85:
    case 0x86:
    case 0x87: {  // TUPLE1..3
      std::vector<Value> items(static_cast<size_t>(op_ - 0x84));
      for (size_t i = items.size(); i-- > 0;) items[i] = pop();
      const Value t = new_object(Kind::kTuple);
      object(t).items = std::move(items);
      push(t);
      return true;
    }
    case 't': {
      std::vector<Value> items = pop_to_mark();
      const Value t = new_object(Kind::kTuple);
      object(t).items = std::move(items);
      push(t);
      return true;
    }
    case 'a':
    case 'e':
    case 's':
    case 'u': {  // APPEND, APPENDS, SETITEM, SETITEMS
      std::vector<Value> items;
      if (op_ == 'a') items = {pop()};
      if (op_ == 's') {
        const Value value = pop();
        items = {pop(), value};
      }
      if (op_ == 'e' || op_ == 'u') items = pop_to_mark();
      const bool dict = op_ == 's' || op_ == 'u';
      const Value target = top();
      if (target.kind != (dict ? Kind::kDict : Kind::kList))
        fail(std::string("the target is ") + kind_name(target.kind) + ", not a " + (dict ? "dict" : "list"));
      if (dict && items.size() % 2 != 0) fail("an odd number of values (a key without a value)");
      auto& to = object(target).items;
      to.insert(to.end(), items.begin(), items.end());
      return true;
    }
    default:
      return false;
  }
}

bool Parser::memo_op() {
  switch (op_) {
    case 'q':
    case 'r':
    case 0x94: {  // BINPUT, LONG_BINPUT, MEMOIZE
      const uint64_t key = op_ == 'q' ? le(1) : op_ == 'r' ? le(4) : memo_.size();
      if (key > std::numeric_limits<uint32_t>::max()) fail("memo full");
      memo_[static_cast<uint32_t>(key)] = top();
      return true;
    }
    case 'h':
    case 'j': {  // BINGET, LONG_BINGET
      const uint64_t key = le(op_ == 'h' ? 1 : 4);
      const auto it = memo_.find(static_cast<uint32_t>(key));
      if (it == memo_.end()) fail("memo key " + std::to_string(key) + " was never stored");
      push(it->second);
      return true;
    }
    default:
      return false;
  }
}

}  // namespace lorasub::data::pickle
