#include "lorasub/io/h5file.h"
#include "lorasub/io/file_seal.h"

#include <gtest/gtest.h>
#include <hdf5.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "lorasub/core/error.h"
#include "unit/io/temp_dir.h"

namespace lorasub::io {
namespace {

using test::TempDir;

// The message of the FormatError `fn` throws ("" and a test failure if none).
template <class Fn>
std::string format_error(Fn fn) {
  try {
    fn();
  } catch (const FormatError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no FormatError";
  return "";
}

#define EXPECT_CONTAINS(text, part) EXPECT_NE((text).find(part), std::string::npos) << (text)

const std::vector<float> kWeights = {0.5f, 1.5f, 2.25f, -1.0f, 3.0f, 4.0f};

// A checkpoint-like file with every type, nested groups and attributes.
void write_sample(const std::string& path) {
  H5Writer w(path);
  w.write("model/blocks/0/w", {2, 3}, kWeights);
  w.write("opt/scale", {3}, std::vector<double>{0.1, -2.0, 1e300});
  w.write("opt/step", {}, std::vector<int64_t>{123456789012345});
  w.write("rng/state", {5}, std::vector<uint8_t>{0, 1, 127, 128, 255});
  w.write("empty", {0, 4}, std::vector<float>{});
  w.write_string("config", "run:\n  name: demo  # ünïcode\n");
  w.write_string("empty_text", "");
  w.set_attr("/", "name", "lorasub checkpoint");
  w.set_attr("/", "step", 42);
  w.set_attr("/", "lr", 0.003);
  w.set_attr("model", "kind", std::string("vit"));
  w.set_attr("model/blocks/0/w", "task", int64_t{-3});
  w.commit();
}

TEST(H5File, RoundTripOfEveryType) {
  TempDir dir;
  write_sample(dir / "c.h5");
  H5Reader r(dir / "c.h5");
  EXPECT_EQ(r.read_f32("model/blocks/0/w"), kWeights);
  EXPECT_EQ(r.shape("model/blocks/0/w"), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(r.read_f64("/opt/scale"), (std::vector<double>{0.1, -2.0, 1e300}));
  EXPECT_EQ(r.read_i64("opt/step"), std::vector<int64_t>{123456789012345});
  EXPECT_TRUE(r.shape("opt/step").empty());
  EXPECT_EQ(r.read_u8("rng/state"), (std::vector<uint8_t>{0, 1, 127, 128, 255}));
  EXPECT_TRUE(r.read_f32("empty").empty());
  EXPECT_EQ(r.shape("empty"), (std::vector<int64_t>{0, 4}));
  EXPECT_EQ(r.read_string("config"), "run:\n  name: demo  # ünïcode\n");
  EXPECT_EQ(r.read_string("empty_text"), "");
  EXPECT_EQ(r.attr_string("/", "name"), "lorasub checkpoint");
  EXPECT_EQ(r.attr_int("/", "step"), 42);
  EXPECT_EQ(r.attr_double("/", "lr"), 0.003);
  EXPECT_EQ(r.attr_string("model", "kind"), "vit");
  EXPECT_EQ(r.attr_int("model/blocks/0/w", "task"), -3);
  EXPECT_TRUE(r.has_attr("model/blocks/0/w", "crc32"));
  EXPECT_FALSE(r.has_attr("model", "nope"));
  EXPECT_FALSE(r.has_attr("nope", "kind"));
  EXPECT_TRUE(r.has("model/blocks"));
  EXPECT_FALSE(r.has("model/blocks/1"));
  EXPECT_FALSE(r.has("model/blocks/0/w/below_a_dataset"));
  EXPECT_EQ(r.list(), (std::vector<std::string>{"config", "empty", "empty_text", "model", "opt", "rng"}));
  EXPECT_EQ(r.list("opt"), (std::vector<std::string>{"scale", "step"}));
  r.verify();
}

TEST(H5File, AttributesCanBeOverwritten) {
  TempDir dir;
  {
    H5Writer w(dir / "a.h5");
    w.set_attr("/", "step", 1);
    w.set_attr("/", "step", size_t{2});
    EXPECT_THROW(w.set_attr("/", "crc32", 7), std::invalid_argument);
    EXPECT_THROW(w.set_attr("absent", "k", 7), std::invalid_argument);
    w.commit();
  }
  EXPECT_EQ(H5Reader(dir / "a.h5").attr_int("/", "step"), 2);
}

TEST(H5File, ReadErrorsNameDatasetAndType) {
  TempDir dir;
  write_sample(dir / "c.h5");
  const std::string p = "'" + (dir / "c.h5") + "': ";
  H5Reader r(dir / "c.h5");
  EXPECT_CONTAINS(format_error([&] { r.read_f32("nope/w"); }), p + "missing dataset 'nope/w'");
  EXPECT_CONTAINS(format_error([&] { r.shape("nope"); }), p + "missing dataset 'nope'");
  EXPECT_CONTAINS(format_error([&] { r.read_f32("opt/step"); }), p + "dataset 'opt/step' holds int64, not float32");
  EXPECT_CONTAINS(format_error([&] { r.read_i64("rng/state"); }), "dataset 'rng/state' holds uint8, not int64");
  EXPECT_CONTAINS(format_error([&] { r.read_f64("config"); }), "dataset 'config' holds string, not float64");
  EXPECT_CONTAINS(format_error([&] { r.read_string("opt/scale"); }), "holds float64, not a scalar string");
  EXPECT_CONTAINS(format_error([&] { r.read_f32("model"); }), "'model' is not a dataset");
  EXPECT_CONTAINS(format_error([&] { r.attr_int("/", "nope"); }), p + "missing attribute 'nope' on '/'");
  EXPECT_CONTAINS(format_error([&] { r.attr_int("/", "name"); }), "holds variable-length string, not an integer");
  EXPECT_CONTAINS(format_error([&] { r.list("nope"); }), "missing group 'nope'");
}

TEST(H5File, WriterRejectsMisuse) {
  TempDir dir;
  H5Writer w(dir / "m.h5");
  w.write("a/x", {1}, std::vector<float>{1.0f});
  EXPECT_THROW(w.write("a/x", {1}, std::vector<float>{2.0f}), std::invalid_argument);
  EXPECT_THROW(w.write("b", {2}, std::vector<float>{1.0f}), std::invalid_argument);
  EXPECT_THROW(w.write("c", {-1}, std::vector<float>{}), std::invalid_argument);
  w.commit();
  EXPECT_THROW(w.write("d", {1}, std::vector<float>{1.0f}), std::logic_error);
  EXPECT_THROW(w.commit(), std::logic_error);
}

TEST(H5File, HDF5FailuresAreOneLineNamingPathCauseAndCall) {
  TempDir dir;
  try {
    H5Writer w(dir / "no_such_dir/c.h5");
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_CONTAINS(msg, "no_such_dir/c.h5.tmp-");
    EXPECT_CONTAINS(msg, "H5Fcreate");
    EXPECT_CONTAINS(msg, "h5file.cpp:");
    EXPECT_CONTAINS(msg, "cannot write: No such file or directory");  // the system's error, from HDF5's stack
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;              // one line
    EXPECT_EQ(msg.find("time ="), std::string::npos) << msg;          // no HDF5 stack dump
  }
}

TEST(H5File, UncommittedWriterLeavesNothing) {
  TempDir dir;
  {
    H5Writer w(dir / "c.h5");
    w.write("x", {2}, std::vector<float>{1.0f, 2.0f});
    EXPECT_EQ(dir.entries().size(), 1u);  // the temporary
  }
  EXPECT_TRUE(dir.entries().empty());
}

TEST(H5File, PreviousFileIsUntouchedUntilCommit) {
  TempDir dir;
  const std::string path = dir / "c.h5";
  {
    H5Writer w(path);
    w.write("x", {1}, std::vector<float>{1.0f});
    w.commit();
  }
  {
    H5Writer w(path);
    w.write("x", {1}, std::vector<float>{2.0f});
    EXPECT_EQ(H5Reader(path).read_f32("x"), std::vector<float>{1.0f});
    w.commit();
    EXPECT_EQ(H5Reader(path).read_f32("x"), std::vector<float>{2.0f});
  }
  {
    H5Writer w(path);
    w.write("x", {1}, std::vector<float>{3.0f});
  }  // abandoned: the committed file stays
  EXPECT_EQ(H5Reader(path).read_f32("x"), std::vector<float>{2.0f});
  EXPECT_EQ(dir.entries(), std::set<std::string>{"c.h5"});
}

uint64_t data_offset(const std::string& path, const char* dataset) {
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  const hid_t dset = H5Dopen2(file, dataset, H5P_DEFAULT);
  const haddr_t offset = H5Dget_offset(dset);
  H5Dclose(dset);
  H5Fclose(file);
  EXPECT_NE(offset, HADDR_UNDEF) << "dataset not contiguous";
  return offset;
}

void flip_byte(const std::string& path, uint64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  const char c = static_cast<char>(f.get() ^ 0x10);
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(c);
}

TEST(H5File, AFlippedByteAnywhereIsCaughtByTheSealBeforeHdf5Reads) {
  TempDir dir;
  write_sample(dir / "c.h5");
  H5Reader(dir / "c.h5").verify();
  const auto size = std::filesystem::file_size(dir / "c.h5");
  for (size_t at :
       {size_t{kSealBytes}, size_t{kSealBytes} + 30, static_cast<size_t>(size / 2), static_cast<size_t>(size - 1)}) {
    flip_byte(dir / "c.h5", at);
    EXPECT_CONTAINS(format_error([&] { H5Reader r(dir / "c.h5"); }),
                    "'" + (dir / "c.h5") + "': damaged lorasub HDF5 file: whole-file checksum mismatch");
    flip_byte(dir / "c.h5", at);  // back
  }
  EXPECT_NO_THROW(H5Reader(dir / "c.h5").verify());
}

// Behind the seal, each dataset's own CRC still names what is damaged (a file sealed
// after its bytes went wrong, e.g. memory corruption before the write): flip, reseal.
TEST(H5File, VerifyDetectsAFlippedDataByte) {
  TempDir dir;
  write_sample(dir / "c.h5");
  H5Reader(dir / "c.h5").verify();
  flip_byte(dir / "c.h5", data_offset(dir / "c.h5", "model/blocks/0/w") + 5);
  seal_file(dir / "c.h5");
  H5Reader r(dir / "c.h5");
  EXPECT_NE(r.read_f32("model/blocks/0/w"), kWeights);  // HDF5 itself does not notice
  EXPECT_CONTAINS(format_error([&] { r.verify(); }),
                  "'" + (dir / "c.h5") + "': checksum mismatch in dataset 'model/blocks/0/w'");
}

TEST(H5File, VerifyDetectsAFlippedStringByte) {
  TempDir dir;
  write_sample(dir / "c.h5");
  flip_byte(dir / "c.h5", data_offset(dir / "c.h5", "config") + 2);
  seal_file(dir / "c.h5");
  EXPECT_CONTAINS(format_error([&] { H5Reader(dir / "c.h5").verify(); }), "checksum mismatch in dataset 'config'");
}

TEST(H5File, MetadataDamageIsRefused) {
  TempDir dir;
  write_sample(dir / "c.h5");
  flip_byte(dir / "c.h5", kSealBytes + 30);  // inside the checksummed superblock (format 1.8+)
  EXPECT_CONTAINS(format_error([&] { H5Reader r(dir / "c.h5"); }), "whole-file checksum mismatch");
  seal_file(dir / "c.h5");  // HDF5's own superblock checksum is the next line of defence
  EXPECT_CONTAINS(format_error([&] { H5Reader r(dir / "c.h5"); }), "not an HDF5 file or truncated");
}

TEST(H5File, VerifyRefusesDatasetsWithoutChecksum) {
  TempDir dir;
  const std::string path = dir / "plain.h5";
  const hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
  H5Pset_userblock(fcpl, kSealBytes);
  const hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
  H5Pclose(fcpl);
  const hsize_t dims[1] = {2};
  const hid_t space = H5Screate_simple(1, dims, nullptr);
  const hid_t dset = H5Dcreate2(file, "plain", H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  const float values[2] = {1.0f, 2.0f};
  H5Dwrite(dset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values);
  H5Dclose(dset);
  H5Sclose(space);
  H5Fclose(file);
  EXPECT_CONTAINS(format_error([&] { H5Reader r(path); }), "an HDF5 file without lorasub's seal");
  seal_file(path);
  H5Reader r(path);
  EXPECT_EQ(r.read_f32("plain"), (std::vector<float>{1.0f, 2.0f}));
  EXPECT_CONTAINS(format_error([&] { r.verify(); }), "'" + path + "': dataset 'plain' has no checksum");
}

TEST(H5File, TruncatedOrForeignFilesAreRefused) {
  TempDir dir;
  const std::string path = dir / "c.h5";
  {
    H5Writer w(path);
    w.write("big", {4096}, std::vector<float>(4096, 1.0f));
    w.commit();
  }
  const auto size = std::filesystem::file_size(path);
  std::filesystem::resize_file(path, size / 2);
  EXPECT_CONTAINS(format_error([&] { H5Reader r(path); }), "'" + path + "': damaged lorasub HDF5 file: the file has " +
                                                               std::to_string(size / 2) + " bytes, its seal says " +
                                                               std::to_string(size) + " (truncated or a torn write)");
  test::write_bytes(dir / "text.h5", "this is not HDF5\n");
  EXPECT_CONTAINS(format_error([&] { H5Reader r(dir / "text.h5"); }), "not a lorasub HDF5 file (no seal, truncated?)");
  EXPECT_CONTAINS(format_error([&] { H5Reader r(dir / "absent.h5"); }), "cannot open: No such file");
  EXPECT_CONTAINS(format_error([&] { H5Reader r(dir.path()); }), "is a directory, not a lorasub HDF5 file");
}

// Fuzzing: a dataset's declared extent made read_numeric allocate 64 GiB and verify()
// 12.8 GB (with an unchecked count x size product). Every read is bounded by the file.
TEST(H5File, ADatasetDeclaringMoreThanTheFileHoldsIsRefusedBeforeAllocating) {
  TempDir dir;
  const std::string path = dir / "huge.h5";
  const hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
  H5Pset_userblock(fcpl, kSealBytes);
  const hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
  H5Pclose(fcpl);
  const hsize_t dims[1] = {hsize_t{1} << 34};  // 16 Gi floats = 64 GiB, never written (late allocation)
  const hid_t space = H5Screate_simple(1, dims, nullptr);
  const hid_t dset = H5Dcreate2(file, "huge", H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  const uint32_t crc = 0;
  const hid_t scalar = H5Screate(H5S_SCALAR);
  const hid_t attr = H5Acreate2(dset, "crc32", H5T_STD_U32LE, scalar, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(attr, H5T_NATIVE_UINT32, &crc);
  H5Aclose(attr);
  H5Sclose(scalar);
  H5Dclose(dset);
  H5Sclose(space);
  H5Fclose(file);
  seal_file(path);
  ASSERT_LT(std::filesystem::file_size(path), 1u << 20);
  H5Reader r(path);
  EXPECT_CONTAINS(format_error([&] { r.read_f32("huge"); }),
                  "dataset 'huge' declares 17179869184 elements of 4 bytes, more than the file's");
  EXPECT_CONTAINS(format_error([&] { r.verify(); }), "dataset 'huge' declares 17179869184 elements");
}

TEST(H5File, ReaderIsMovable) {
  TempDir dir;
  write_sample(dir / "c.h5");
  H5Reader a(dir / "c.h5");
  H5Reader b(std::move(a));
  EXPECT_EQ(b.read_i64("opt/step"), std::vector<int64_t>{123456789012345});
}

// Runs `command` and returns its standard output.
std::string run(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return out;
  char buf[256];
  while (std::fgets(buf, sizeof buf, pipe)) out += buf;
  ::pclose(pipe);
  return out;
}

TEST(H5File, ReadableByH5py) {
  const char* python = "/usr/bin/python3";
  if (std::system((std::string(python) + " -c 'import h5py' >/dev/null 2>&1").c_str()) != 0) {
    GTEST_SKIP() << python << " with h5py is not available";
  }
  TempDir dir;
  write_sample(dir / "c.h5");
  const std::string script = "import sys, zlib, h5py\n"
                             "f = h5py.File(sys.argv[1], 'r')\n"
                             "w = f['model/blocks/0/w']\n"
                             "print(repr(float(w[()].astype('float64').sum())))\n"
                             "print(f['config'][()].decode().strip())\n"
                             "print(f.attrs['name'], int(f.attrs['step']), float(f.attrs['lr']))\n"
                             "print(w.chunks is None and w.compression is None)\n"
                             "print(all(zlib.crc32(f[n][()].tobytes()) == int(f[n].attrs['crc32'])\n"
                             "          for n in ['model/blocks/0/w', 'opt/scale', 'opt/step', 'rng/state']))\n";
  test::write_bytes(dir / "read.py", script);
  const std::string out = run(std::string(python) + " " + (dir / "read.py") + " " + (dir / "c.h5"));
  EXPECT_EQ(out, "10.25\nrun:\n  name: demo  # ünïcode\nlorasub checkpoint 42 0.003\nTrue\nTrue\n");
}

}  // namespace
}  // namespace lorasub::io
