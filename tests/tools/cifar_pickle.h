// Writes CIFAR-100 "python version" files (pickled dicts) byte for byte as the picklers
// people have write them, for tests, fuzz seeds and make_image_dataset (no Python needed):
//   kPy2      Python 2 cPickle, protocol 2: the cifar-100-python tarball (and torchvision's
//             download of it). py2 str as SHORT_BINSTRING/BINSTRING, memo ids from 1, only
//             objects with other references memoized (not 'b', 'u1', '|', tuples, the data).
//   kProto2..kProto5  Python 3's pickle.dumps(d, protocol=N) with numpy 1.x: bytes as
//             _codecs.encode(str, 'latin1') (2), SHORT_BINBYTES/BINBYTES (3-5), FRAME and
//             MEMOIZE (4-5), the array as _frombuffer(bytearray, dtype, shape, 'C') (5).
// For pickles under 64 KiB the Python 3 output is identical to pickle.dumps (checked when
// this was written); larger ones here keep one frame where Python would start new ones.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace lorasub::testing {

enum class Dialect { kPy2, kProto2, kProto3, kProto4, kProto5 };

class PickleWriter {
 public:
  explicit PickleWriter(Dialect d) : d_(d), next_(d == Dialect::kPy2 ? 1 : 0) {
    op(0x80);
    op(static_cast<uint8_t>(proto()));
    if (proto() >= 4) op(0x95), le(0, 8);  // FRAME; its length is set by finish()
  }
  int proto() const { return d_ == Dialect::kPy2 ? 2 : static_cast<int>(d_) + 1; }
  bool py2() const { return d_ == Dialect::kPy2; }

  void op(uint8_t c) { out_ += static_cast<char>(c); }
  void le(uint64_t v, int n) {
    for (int k = 0; k < n; ++k) out_ += static_cast<char>((v >> (8 * k)) & 0xff);
  }
  // Memoizes the top of the stack (for kPy2 only when `py2_too`); returns its id.
  uint32_t memo(bool py2_too = true) {
    if (py2() && !py2_too) return 0;
    if (proto() >= 4) {
      op(0x94);
    } else if (next_ < 256) {
      op('q'), le(next_, 1);
    } else {
      op('r'), le(next_, 4);
    }
    return next_++;
  }
  void get(uint32_t id) { id < 256 ? (op('h'), le(id, 1)) : (op('j'), le(id, 4)); }
  void integer(int64_t v) {
    if (v >= 0 && v < 256) return op('K'), le(static_cast<uint64_t>(v), 1);
    if (v >= 0 && v < 65536) return op('M'), le(static_cast<uint64_t>(v), 2);
    op('J'), le(static_cast<uint64_t>(v), 4);  // the values here fit 32 bits
  }
  // A Python 3 str (UTF-8), memoized.
  void str(std::string_view s) {
    if (proto() >= 4 && s.size() < 256) {
      op(0x8c), le(s.size(), 1);
    } else {
      op('X'), le(s.size(), 4);
    }
    out_ += s;
    memo();
  }
  // A str Python interns (module and global names, 'latin1'): stored once, then BINGET.
  void shared_str(const std::string& s) {
    const auto it = shared_.find(s);
    if (it != shared_.end()) return get(it->second);
    str(s);
    shared_[s] = next_ - 1;
  }
  // A Python 2 str or Python 3 bytes.
  void bytes(std::string_view s, bool py2_memo = true) {
    if (proto() == 2 && !py2()) return codecs_bytes(s);
    if (py2()) {
      s.size() < 256 ? (op('U'), le(s.size(), 1)) : (op('T'), le(s.size(), 4));
    } else {
      s.size() < 256 ? (op('C'), le(s.size(), 1)) : (op('B'), le(s.size(), 4));
    }
    out_ += s;
    memo(py2_memo);
  }
  void global(const std::string& module, const std::string& name) {
    const std::string key = module + "\n" + name + "\n";
    const auto it = shared_.find(key);
    if (it != shared_.end()) return get(it->second);
    if (proto() >= 4) {
      shared_str(module), shared_str(name), op(0x93);
    } else {
      op('c'), out_ += key;
    }
    shared_[key] = memo();
  }
  // TUPLE1..3 (n <= 3) or TUPLE after a MARK the caller wrote; Python 3 memoizes tuples.
  void tuple(size_t n) {
    op(n <= 3 ? static_cast<uint8_t>(0x84 + n) : 't');
    memo(false);
  }
  // EMPTY_LIST then batches of 1000 (MARK ... APPENDS; one item: APPEND), as both picklers do.
  template <class T, class Save>
  void list(const std::vector<T>& items, Save save) {
    op(']'), memo();
    for (size_t at = 0; at < items.size(); at += 1000) {
      const size_t n = items.size() - at < 1000 ? items.size() - at : 1000;
      if (n > 1) op('(');
      for (size_t i = at; i < at + n; ++i) save(items[i]);
      op(n > 1 ? 'e' : 'a');
    }
  }
  void dtype_u1() {
    global("numpy", "dtype");
    py2() ? bytes("u1", false) : str("u1");
    py2() ? (integer(0), integer(1)) : (op(0x89), op(0x88));
    tuple(3), op('R'), memo();
    op('('), integer(3);
    py2() ? bytes("|", false) : str("|");
    op('N'), op('N'), op('N'), integer(-1), integer(-1), integer(0), tuple(8), op('b');
  }
  // A C-ordered numpy uint8 array of shape (rows, cols) holding `data`.
  void uint8_matrix(int64_t rows, int64_t cols, std::string_view data) {
    if (proto() == 5) {
      global("numpy.core.numeric", "_frombuffer");
      op('('), op(0x96), le(data.size(), 8), out_ += data, memo();
      dtype_u1();
      integer(rows), integer(cols), tuple(2), str("C"), tuple(4), op('R'), memo();
      return;
    }
    global("numpy.core.multiarray", "_reconstruct");
    global("numpy", "ndarray");
    integer(0), tuple(1), bytes("b", false), tuple(3), op('R'), memo();
    op('('), integer(1), integer(rows), integer(cols), tuple(2);
    dtype_u1();
    op(0x89), bytes(data, false), tuple(5), op('b');
  }
  std::string finish() {
    op('.');
    if (proto() >= 4) {
      const uint64_t n = out_.size() - 11;
      for (int k = 0; k < 8; ++k) out_[3 + k] = static_cast<char>((n >> (8 * k)) & 0xff);
    }
    return out_;
  }

 private:
  // _codecs.encode(bytes.decode('latin1'), 'latin1'); b'' is __builtin__.bytes().
  void codecs_bytes(std::string_view s) {
    if (s.empty()) return global("__builtin__", "bytes"), op(')'), op('R'), (void)memo();
    global("_codecs", "encode");
    std::string u;
    for (const char ch : s) {
      const auto c = static_cast<unsigned char>(ch);
      if (c < 0x80)
        u += ch;
      else
        u += static_cast<char>(0xc0 | (c >> 6)), u += static_cast<char>(0x80 | (c & 0x3f));
    }
    str(u), shared_str("latin1"), tuple(2), op('R'), memo();
  }
  Dialect d_;
  uint32_t next_;
  std::string out_;
  std::map<std::string, uint32_t> shared_;
};

// What a CIFAR-100 python `train`/`test` file holds; `data` is rows x cols bytes.
struct CifarContent {
  std::vector<std::string> filenames;
  std::string batch_label = "training batch 1 of 1";
  std::vector<int64_t> fine, coarse;
  int64_t rows = 0, cols = 3072;
  std::string data;
  std::vector<std::string> skip;  // keys to leave out (for bad files)
};

inline std::string cifar_pickle(Dialect d, const CifarContent& c) {
  PickleWriter w(d);
  const auto keep = [&](const char* k) {
    for (const auto& s : c.skip)
      if (s == k) return false;
    return true;
  };
  w.op('}'), w.memo(), w.op('(');
  const auto key = [&](const char* k) { return keep(k) ? (w.bytes(k), true) : false; };
  const auto save_bytes = [&](const std::string& s) { w.bytes(s); };
  const auto save_int = [&](int64_t v) { w.integer(v); };
  if (key("filenames")) w.list(c.filenames, save_bytes);
  if (key("batch_label")) w.bytes(c.batch_label);
  if (key("fine_labels")) w.list(c.fine, save_int);
  if (key("coarse_labels")) w.list(c.coarse, save_int);
  if (key("data")) w.uint8_matrix(c.rows, c.cols, c.data);
  w.op('u');
  return w.finish();
}

// The `meta` file: {b'fine_label_names': [...], b'coarse_label_names': [...]}.
inline std::string cifar_meta_pickle(Dialect d, const std::vector<std::string>& fine,
                                     const std::vector<std::string>& coarse) {
  PickleWriter w(d);
  const auto save_bytes = [&](const std::string& s) { w.bytes(s); };
  w.op('}'), w.memo(), w.op('(');
  w.bytes("fine_label_names"), w.list(fine, save_bytes);
  w.bytes("coarse_label_names"), w.list(coarse, save_bytes);
  w.op('u');
  return w.finish();
}

}  // namespace lorasub::testing
