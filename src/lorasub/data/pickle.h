// A strict, bounded reader of the Python pickles that hold numpy arrays of plain data
// (the CIFAR "python version" files): no code is executed, no object is imported.
//
// Accepted: protocol 2-5 (the file must start with PROTO), the opcodes Python 2's
// cPickle and Python 3's pickle write for dicts, lists, tuples, ints, bools, None,
// str/bytes and numpy arrays: PROTO FRAME STOP MARK EMPTY_DICT EMPTY_LIST EMPTY_TUPLE
// TUPLE TUPLE1-3 APPEND(S) SETITEM(S) NONE NEWTRUE NEWFALSE BININT BININT1 BININT2
// LONG1 SHORT_BINSTRING BINSTRING SHORT_BINBYTES BINBYTES BYTEARRAY8 SHORT_BINUNICODE
// BINUNICODE BINPUT LONG_BINPUT MEMOIZE BINGET LONG_BINGET GLOBAL STACK_GLOBAL REDUCE
// BUILD. GLOBAL/STACK_GLOBAL may name only numpy(.core|._core).multiarray._reconstruct,
// numpy.ndarray, numpy.dtype, numpy(.core|._core).numeric._frombuffer (protocol 5),
// _codecs.encode with 'latin1' (Python 3 bytes at protocol 2) and __builtin__/builtins
// .bytes (empty bytes); REDUCE and BUILD are interpreted for those alone. Anything else,
// a truncated file, bytes after STOP, or a stack or memo misuse is a FormatError naming
// the file, what is wrong and the byte offset of the opcode.
//
// Bounded: every length is checked against the bytes left before anything is allocated;
// values live in one flat table (no owning pointers, so no recursion anywhere, and
// self-referencing containers are harmless); the stack holds at most kMaxStack values.
// Memory beyond the file itself is O(file size) (a few dozen bytes per opcode).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lorasub::data::pickle {

enum class Kind : uint8_t { kNone, kBool, kInt, kBytes, kStr, kList, kTuple, kDict, kGlobal, kArray, kDtype };
const char* kind_name(Kind k);  // for messages: "None", "an int", "bytes", "a str", "a list", ...

// One value: bool/int inline, everything else an index into the Pickle's table.
struct Value {
  Kind kind = Kind::kNone;
  int64_t num = 0;   // kBool (0/1), kInt
  uint32_t obj = 0;  // kBytes .. kDtype
};

// A numpy array as the file describes it; its bytes are Pickle::text(data).
struct Array {
  std::vector<int64_t> shape;
  std::string dtype;    // numpy type string, e.g. "u1"; "" until built
  char byte_order = 0;  // '|', '<', '>', '='
  bool fortran = false;
  bool built = false;  // false: _reconstruct'ed but never given its state by BUILD
  Value data;          // kBytes
};

constexpr size_t kMaxStack = size_t{1} << 20;  // pickles push at most ~1000 items per MARK

class Pickle {
 public:
  // Parses the pickle in `bytes`; `name` (the file) starts every error message.
  Pickle(std::string bytes, std::string name);

  Value root() const { return root_; }
  const std::string& name() const { return name_; }
  // kBytes or kStr (UTF-8): the text; any other kind is a FormatError naming `what`.
  std::string_view text(Value v, const std::string& what) const;
  // kList or kTuple: the items; kDict: keys and values interleaved (k0, v0, k1, v1, ...).
  const std::vector<Value>& items(Value v) const;
  // The value of a kDict under the bytes or str key `key` (the last if given twice).
  std::optional<Value> find(Value dict, std::string_view key) const;
  // The dict's string keys, Python-style (b'data', 'x'), for messages: at most `limit`.
  std::string describe_keys(Value dict, size_t limit = 8) const;
  const Array& array(Value v) const;

 private:
  friend class Parser;
  struct Object {
    Kind kind = Kind::kNone;
    uint64_t off = 0, len = 0;  // kBytes/kStr: a span of file_ (owned: of owned_); kGlobal: its id
    bool owned = false;         // kArray/kDtype: off indexes arrays_
    std::vector<Value> items;
  };
  std::string file_, owned_, name_;
  std::vector<Object> objects_;
  std::vector<Array> arrays_;  // arrays and dtypes (a dtype is an Array without shape or data)
  Value root_;
};

// Reads and parses a whole file; a missing or unreadable file is a FormatError.
Pickle read_pickle(const std::string& path);

// True when `s` is well-formed UTF-8 (no overlongs, surrogates or code points > U+10FFFF).
bool is_utf8(std::string_view s);

}  // namespace lorasub::data::pickle
