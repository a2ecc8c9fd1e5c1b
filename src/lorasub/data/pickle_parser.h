// Internal to pickle.cpp and pickle_numpy.cpp: the opcode interpreter behind Pickle.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "lorasub/data/pickle.h"

namespace lorasub::data::pickle {

// The callables GLOBAL/STACK_GLOBAL may name (Object::off of a kGlobal).
enum GlobalId : uint64_t { kReconstruct, kNdarray, kDtypeType, kFrombuffer, kCodecsEncode, kBytesType };

class Parser {
 public:
  explicit Parser(Pickle& p) : p_(p), data_(p.file_) {}
  Value run();  // the value STOP returns

 private:
  Pickle& p_;
  const std::string& data_;
  size_t pos_ = 0;  // next byte to read
  size_t at_ = 0;   // offset of the opcode being run
  uint8_t op_ = 0;  // the opcode being run
  std::vector<Value> stack_;
  std::vector<size_t> marks_;  // stack sizes at each open MARK
  std::unordered_map<uint32_t, Value> memo_;

  // pickle.cpp: bytes, stack, memo and the plain opcodes.
  [[noreturn]] void fail(const std::string& what) const;
  void need(uint64_t n) const;
  uint64_t le(int n);
  void push(Value v);
  Value pop();
  Value& top();
  std::vector<Value> pop_to_mark();
  Value new_object(Kind kind);
  Value new_array(Kind kind);  // kArray or kDtype, with its Array entry
  Pickle::Object& object(Value v) { return p_.objects_[v.obj]; }
  void start();
  bool stop();
  bool scalar_op();
  bool text_op();
  void push_text(Kind kind, uint64_t len);
  bool container_op();
  bool memo_op();

  // pickle_numpy.cpp: GLOBAL, STACK_GLOBAL, REDUCE, BUILD.
  bool object_op();
  void push_global(std::string_view module, std::string_view name);
  std::string_view line();
  void reduce();
  void reconstruct(const std::vector<Value>& args);
  void frombuffer(const std::vector<Value>& args);
  void make_dtype(const std::vector<Value>& args);
  void codecs_encode(const std::vector<Value>& args);
  void build();
  void build_dtype(Array& dtype, const std::vector<Value>& state);
  void build_array(Array& array, const std::vector<Value>& state);
  void check_array_size(const Array& a);
  std::string_view str(Value v, const char* what);
  int64_t integer(Value v, const char* what);
  std::vector<int64_t> shape(Value v);
  Array& array_of(Value v) { return p_.arrays_[object(v).off]; }
};

}  // namespace lorasub::data::pickle
