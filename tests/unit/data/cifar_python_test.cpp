#include "lorasub/data/cifar_python.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "data_test_util.h"
#include "lorasub/core/error.h"
#include "lorasub/data/file_datasets.h"
#include "lorasub/data/pickle.h"
#include "tools/cifar_pickle.h"

namespace lorasub::data {
namespace {

using lorasub::testing::CifarContent;
using lorasub::testing::Dialect;
using lorasub::testing::PickleWriter;
using testing::TempDir;
namespace fs = std::filesystem;

const Dialect kDialects[] = {Dialect::kPy2, Dialect::kProto2, Dialect::kProto3, Dialect::kProto4, Dialect::kProto5};

std::string dialect_name(Dialect d) {
  const char* names[] = {"py2 cPickle", "protocol 2", "protocol 3", "protocol 4", "protocol 5"};
  return names[static_cast<int>(d)];
}

// `rows` images of pseudo-random pixels and labels drawn from `seed`.
CifarContent content(int64_t rows, uint32_t seed) {
  uint32_t s = seed;
  const auto next = [&] {
    s = s * 1664525u + 1013904223u;
    return s >> 8;
  };
  CifarContent c;
  c.rows = rows;
  for (int64_t r = 0; r < rows; ++r) {
    c.filenames.push_back("img_" + std::to_string(r) + ".png");
    c.fine.push_back(static_cast<int64_t>(next() % 100));
    c.coarse.push_back(c.fine.back() / 5);
  }
  for (int64_t i = 0; i < rows * 3072; ++i) c.data += static_cast<char>(next() & 0xff);
  return c;
}

// The same images as binary-version records: <coarse><fine><3072 pixel bytes>.
std::string binary_records(const CifarContent& c) {
  std::string out;
  for (int64_t r = 0; r < c.rows; ++r) {
    out += static_cast<char>(c.coarse[r]);
    out += static_cast<char>(c.fine[r]);
    out += c.data.substr(static_cast<size_t>(r * 3072), 3072);
  }
  return out;
}

void write(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
  ASSERT_TRUE(out.good()) << path;
}

std::vector<std::string> names(const std::string& stem, int n) {
  std::vector<std::string> v;
  for (int k = 0; k < n; ++k) v.push_back(stem + std::to_string(k));
  return v;
}

std::string error_of(const std::string& path, bool meta = false) {
  try {
    meta ? (void)read_cifar100_python_names(path) : (void)read_cifar100_python(path);
  } catch (const FormatError& e) {
    return e.what();
  }
  return "(no FormatError)";
}

TEST(CifarPython, EveryPicklerGivesWhatTheBinaryVersionGives) {
  TempDir dir;
  for (const Dialect d : kDialects) {
    SCOPED_TRACE(dialect_name(d));
    const CifarContent c = content(3, 7 + static_cast<uint32_t>(d));
    write(dir.file("train"), lorasub::testing::cifar_pickle(d, c));
    write(dir.file("train.bin"), binary_records(c));
    const ImageSet py = read_cifar100_python(dir.file("train"));
    EXPECT_EQ(py.size(), 3);
    EXPECT_EQ(py.height, 32);
    EXPECT_EQ(py.width, 32);
    EXPECT_EQ(py.channels, 3);
    EXPECT_EQ(py.labels, c.fine);
    // Row 2, pixel (y 5, x 9), green: plane 1 of the row.
    EXPECT_EQ(py.image(2)[(5 * 32 + 9) * 3 + 1], static_cast<uint8_t>(c.data[2 * 3072 + 1024 + 5 * 32 + 9]));
    const ImageSet bin = read_cifar100_binary(dir.file("train.bin"));
    EXPECT_EQ(py.pixels, bin.pixels);
    EXPECT_EQ(py.labels, bin.labels);
  }
}

// Over 1000 labels (APPENDS in batches) and 256 memo entries (LONG_BINPUT in Python 2).
TEST(CifarPython, LongListsAndLongMemoIds) {
  TempDir dir;
  for (const Dialect d : {Dialect::kPy2, Dialect::kProto2, Dialect::kProto4}) {
    SCOPED_TRACE(dialect_name(d));
    const CifarContent c = content(1001, 99);
    write(dir.file("test"), lorasub::testing::cifar_pickle(d, c));
    const ImageSet s = read_cifar100_python(dir.file("test"));
    EXPECT_EQ(s.labels, c.fine);
    EXPECT_EQ(s.image(1000)[3 * 17 + 2], static_cast<uint8_t>(c.data[1000 * 3072 + 2048 + 17]));
  }
}

TEST(CifarPython, NamesFromMeta) {
  TempDir dir;
  for (const Dialect d : kDialects) {
    SCOPED_TRACE(dialect_name(d));
    write(dir.file("meta"), lorasub::testing::cifar_meta_pickle(d, names("class_", 100), names("super_", 20)));
    const std::vector<std::string> got = read_cifar100_python_names(dir.file("meta"));
    EXPECT_EQ(got, names("class_", 100));
  }
  // Python 3 str keys and names (a dict re-pickled after loading with encoding='latin1').
  PickleWriter w(Dialect::kProto4);
  w.op('}'), w.memo(), w.str("fine_label_names");
  w.list(names("apple_", 100), [&](const std::string& s) { w.str(s); });
  w.op('s');
  write(dir.file("meta"), w.finish());
  EXPECT_EQ(read_cifar100_python_names(dir.file("meta"))[42], "apple_42");

  write(dir.file("meta"), lorasub::testing::cifar_meta_pickle(Dialect::kPy2, names("c", 99), {}));
  EXPECT_CONTAINS(error_of(dir.file("meta"), true), "has 99 names, not 100");
  auto bad = names("c", 100);
  bad[7] = "\xff\xfe";
  write(dir.file("meta"), lorasub::testing::cifar_meta_pickle(Dialect::kPy2, bad, {}));
  EXPECT_CONTAINS(error_of(dir.file("meta"), true), "b'fine_label_names'[7] is not UTF-8");
  bad[7] = "";
  write(dir.file("meta"), lorasub::testing::cifar_meta_pickle(Dialect::kPy2, bad, {}));
  EXPECT_CONTAINS(error_of(dir.file("meta"), true), "b'fine_label_names'[7] is empty");
}

// Every prefix of a valid file is a FormatError (never a crash, a hang or another exception).
TEST(CifarPython, EveryTruncationIsAFormatError) {
  TempDir dir;
  for (const Dialect d : {Dialect::kPy2, Dialect::kProto2, Dialect::kProto4, Dialect::kProto5}) {
    SCOPED_TRACE(dialect_name(d));
    const std::string full = lorasub::testing::cifar_pickle(d, content(1, 3));
    write(dir.file("train"), full);
    ASSERT_NO_THROW(read_cifar100_python(dir.file("train")));
    for (size_t n = 0; n < full.size(); ++n) {
      bool parsed = false;
      try {
        pickle::Pickle p(full.substr(0, n), "cut");
        parsed = true;
      } catch (const FormatError& e) {
        EXPECT_CONTAINS(e.what(), "cut: ");
      }
      EXPECT_FALSE(parsed) << "a prefix of " << n << " of " << full.size() << " bytes parsed";
    }
    write(dir.file("train"), full.substr(0, full.size() / 2));
    EXPECT_CONTAINS(error_of(dir.file("train")), dir.file("train") + ": truncated");
  }
}

TEST(CifarPython, BadContentNamesFileKeyAndWhat) {
  TempDir dir;
  const std::string path = dir.file("train");
  const auto error_with = [&](const CifarContent& c, Dialect d = Dialect::kPy2) {
    write(path, lorasub::testing::cifar_pickle(d, c));
    return error_of(path);
  };
  CifarContent c = content(3, 5);
  c.fine[1] = 100;
  EXPECT_CONTAINS(error_with(c), path + ": b'fine_labels'[1] is 100 (expected 0..99)");
  c.fine[1] = -1;
  EXPECT_CONTAINS(error_with(c, Dialect::kProto4), "b'fine_labels'[1] is -1 (expected 0..99)");
  c = content(3, 5);
  c.fine.pop_back();
  EXPECT_CONTAINS(error_with(c), "b'fine_labels' has 2 labels, but b'data' has 3 rows");
  c = content(3, 5);
  c.skip = {"fine_labels"};
  EXPECT_CONTAINS(error_with(c), path + ": no key b'fine_labels' in its dict (it has b'filenames', b'batch_label'");
  c.skip = {"data"};
  EXPECT_CONTAINS(error_with(c, Dialect::kProto3), "no key b'data'");
  c = content(2, 5);
  c.cols = 3071;
  c.data.resize(2 * 3071);
  EXPECT_CONTAINS(error_with(c), "b'data' has shape (2, 3071), not (N, 3072)");
  c = content(3, 5);
  c.data.resize(2 * 3072);  // the array state says 3 rows
  EXPECT_CONTAINS(error_with(c),
                  "an array of shape (3, 3072) and dtype 'u1' needs 9216 bytes of data, the pickle has 6144");
  // Another dtype: 'i1' in place of 'u1' in the Python 2 file.
  std::string bytes = lorasub::testing::cifar_pickle(Dialect::kPy2, content(1, 5));
  bytes.replace(bytes.find("U\x02u1"), 4, "U\x02i1");
  write(path, bytes);
  EXPECT_CONTAINS(error_of(path), "b'data' has dtype 'i1', not uint8 ('u1')");
}

// A pickle that is not of this kind: the offset and what is wrong, and no code is run.
TEST(CifarPython, BadPicklesNameTheOffset) {
  const auto error_of_bytes = [](const std::string& bytes) -> std::string {
    try {
      pickle::Pickle p(bytes, "f");
    } catch (const FormatError& e) {
      return e.what();
    }
    return "(no FormatError)";
  };
  std::string py2 = lorasub::testing::cifar_pickle(Dialect::kPy2, content(1, 5));
  const size_t at = py2.find("cnumpy.core.multiarray");
  py2.replace(at + 1, 34, "posix\nsystem");
  EXPECT_CONTAINS(error_of_bytes(py2), "global 'posix.system' is not allowed");
  EXPECT_CONTAINS(error_of_bytes(py2), "(GLOBAL at byte " + std::to_string(at) + ")");
  EXPECT_CONTAINS(error_of_bytes(std::string("\x80\x02I5\n.")), "unsupported opcode (unknown opcode 0x49 at byte 2)");
  EXPECT_CONTAINS(error_of_bytes("hello"), "not a pickle of protocol 2-5");
  EXPECT_CONTAINS(error_of_bytes(std::string("\x80\x06N.")), "protocol 6 is not supported");
  EXPECT_CONTAINS(error_of_bytes(""), "empty file");
  EXPECT_CONTAINS(error_of_bytes(std::string("\x80\x02N.x")), "1 bytes after STOP");
  EXPECT_CONTAINS(error_of_bytes(std::string("\x80\x02NN.")), "STOP with 2 values on the stack");
  EXPECT_CONTAINS(error_of_bytes(std::string("\x80\x02h\x05.")), "memo key 5 was never stored (BINGET at byte 2)");
  EXPECT_CONTAINS(error_of_bytes(std::string("\x80\x02(a.")), "stack underflow");
  EXPECT_CONTAINS(error_of_bytes(std::string{'\x80', '\x02', 'K', '\x01', 'K', '\x02', 'a', '.'}),
                  "the target is an int, not a list");
  EXPECT_CONTAINS(error_of_bytes(std::string("\x80\x02\x8a\x09", 4) + std::string(9, '\0') + "."),
                  "an integer of 9 bytes is out of range");
  // A length far beyond the file is refused before anything is allocated.
  EXPECT_CONTAINS(error_of_bytes(std::string("\x80\x02T\xff\xff\xff\x7f", 7)),
                  "truncated: needs 2147483647 more bytes, 0 are left (BINSTRING at byte 2)");
  EXPECT_CONTAINS(error_of_bytes(std::string("\x80\x02T\xff\xff\xff\xff", 7)), "negative length -1");
  EXPECT_CONTAINS(error_of_bytes(std::string("\x80\x04\x95\xff\xff\xff\xff\xff\xff\xff\xff", 11)),
                  "truncated: a frame of 18446744073709551615 bytes");
  EXPECT_CONTAINS(error_of_bytes(std::string("\x80\x04\x8c\x02\xc3(", 6) + "."), "a str that is not UTF-8");
}

// Nesting and cycles a hostile file can build cost no recursion: they parse (or fail)
// without a stack overflow, and the CIFAR reader refuses them as not its dict.
TEST(CifarPython, DeepNestingAndCyclesAreHarmless) {
  TempDir dir;
  const int depth = 200000;
  write(dir.file("deep"), "\x80\x02" + std::string(depth, ']') + std::string(depth - 1, 'a') + ".");
  EXPECT_CONTAINS(error_of(dir.file("deep")), "holds a list, not the dict");
  write(dir.file("tuples"), "\x80\x02" + std::string(depth, '(') + std::string(depth, 't') + ".");
  EXPECT_CONTAINS(error_of(dir.file("tuples")), "holds a tuple, not the dict");
  write(dir.file("cycle"), std::string{'\x80', '\x02', ']', 'q', '\0', 'h', '\0', 'a', '.'});  // l = []; l.append(l)
  const pickle::Pickle p = pickle::read_pickle(dir.file("cycle"));
  ASSERT_EQ(p.root().kind, pickle::Kind::kList);
  EXPECT_EQ(p.items(p.root())[0].obj, p.root().obj);  // the list holds itself
}

TEST(CifarPython, LayoutOfTheRoot) {
  TempDir dir;
  const fs::path bin = dir.path() / "cifar-100-binary", py = dir.path() / "cifar-100-python";
  fs::create_directories(bin);
  fs::create_directories(py);
  for (const char* f : {"train.bin", "test.bin"}) write((bin / f).string(), "");
  for (const char* f : {"train", "test", "meta"}) write((py / f).string(), "");
  EXPECT_EQ(cifar100_layout(bin.string()), Cifar100Layout::kBinary);
  EXPECT_EQ(cifar100_layout(py.string()), Cifar100Layout::kPython);
  const auto config_error = [](const fs::path& root) -> std::string {
    try {
      cifar100_layout(root.string());
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "(no ConfigError)";
  };
  const std::string neither = config_error(dir.path());
  EXPECT_CONTAINS(neither, "holds neither version of CIFAR-100");
  EXPECT_CONTAINS(neither, "cifar-100-binary folder (train.bin, test.bin)");
  EXPECT_CONTAINS(neither, "cifar-100-python folder (train, test, meta)");
  EXPECT_CONTAINS(neither, "is one: set data.root to it");
  fs::remove(py / "meta");
  EXPECT_CONTAINS(config_error(py),
                  "only part of the python version of CIFAR-100: '" + (py / "meta").string() + "' does not exist");
  fs::remove(bin / "test.bin");
  EXPECT_CONTAINS(config_error(bin), "'" + (bin / "test.bin").string() + "' does not exist");
}

}  // namespace
}  // namespace lorasub::data
