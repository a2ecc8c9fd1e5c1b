// Writes tiny datasets in the exact on-disk formats of the real benchmarks, for the
// end-to-end tests (tests/scripts/real_datasets.sh):
//   make_image_dataset imagenet-r ROOT CLASSES PER_CLASS   ROOT/<wnid>/<k>.jpg (+ one .png)
//   make_image_dataset domainnet  ROOT CLASSES PER_CLASS   ROOT/{clipart,real}/<class>/<k>.jpg
//                                                          + ROOT/{domain}_{train,test}.txt
//   make_image_dataset cifar100   ROOT CLASSES PER_CLASS   ROOT/{train,test}.bin
//   make_image_dataset cifar100-python ROOT CLASSES PER_CLASS   ROOT/{train,test,meta}: the
//                                          same images as cifar100, as Python 2 pickles
// Class c is a colour and stripe pattern of its own plus per-image noise, so a small ViT
// can tell the classes apart; image sizes vary (40..95 px) to exercise the resizes.
#include <png.h>
#include <sys/stat.h>
#include <turbojpeg.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "cifar_pickle.h"

namespace {

uint32_t g_state = 12345;
uint32_t next_rand() {
  g_state = g_state * 1664525u + 1013904223u;
  return g_state >> 8;
}

std::vector<uint8_t> pattern(int c, int h, int w) {
  std::vector<uint8_t> px(static_cast<size_t>(h * w * 3));
  const int r = 60 + 45 * (c % 4), g = 60 + 45 * ((c / 4) % 4), b = 200 - 40 * (c % 5);
  const int period = 4 + 2 * (c % 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const bool stripe = ((c % 2 ? x : y) / period) % 2 == 0;
      const int noise = static_cast<int>(next_rand() % 40) - 20;
      uint8_t* p = &px[static_cast<size_t>((y * w + x) * 3)];
      const int v[3] = {stripe ? r : 255 - r, stripe ? g : 255 - g, stripe ? b : 255 - b};
      for (int k = 0; k < 3; ++k) p[k] = static_cast<uint8_t>(std::min(255, std::max(0, v[k] + noise)));
    }
  return px;
}

void mkdirs(const std::string& path) {
  for (size_t i = 1; i <= path.size(); ++i)
    if (i == path.size() || path[i] == '/') mkdir(path.substr(0, i).c_str(), 0755);
}

void write_jpeg(const std::string& path, const std::vector<uint8_t>& px, int h, int w) {
  tjhandle tj = tjInitCompress();
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  if (tjCompress2(tj, px.data(), w, 0, h, TJPF_RGB, &buf, &size, TJSAMP_420, 90, 0) != 0) {
    std::fprintf(stderr, "jpeg: %s\n", tjGetErrorStr2(tj));
    std::exit(1);
  }
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(buf), static_cast<std::streamsize>(size));
  tjFree(buf);
  tjDestroy(tj);
}

void write_png(const std::string& path, const std::vector<uint8_t>& px, int h, int w) {
  FILE* f = std::fopen(path.c_str(), "wb");
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_init_io(png, f);
  png_set_IHDR(png, info, static_cast<png_uint_32>(w), static_cast<png_uint_32>(h), 8, PNG_COLOR_TYPE_RGB,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < h; ++y) png_write_row(png, const_cast<png_bytep>(&px[static_cast<size_t>(y * w * 3)]));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  std::fclose(f);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s imagenet-r|domainnet|cifar100|cifar100-python ROOT CLASSES PER_CLASS\n", argv[0]);
    return 2;
  }
  const std::string kind = argv[1], root = argv[2];
  const int classes = std::atoi(argv[3]), per_class = std::atoi(argv[4]);
  mkdirs(root);
  if (kind == "imagenet-r") {
    for (int c = 0; c < classes; ++c) {
      char wnid[16];
      std::snprintf(wnid, sizeof(wnid), "n%08d", 1440764 + 97 * c);
      mkdirs(root + "/" + wnid);
      for (int k = 0; k < per_class; ++k) {
        const int h = 40 + static_cast<int>(next_rand() % 56), w = 40 + static_cast<int>(next_rand() % 56);
        const auto px = pattern(c, h, w);
        const std::string base = root + "/" + wnid + "/" + kind + "_" + std::to_string(k);
        if (k == 0)
          write_png(base + ".png", px, h, w);
        else
          write_jpeg(base + ".jpg", px, h, w);
      }
    }
  } else if (kind == "domainnet") {
    for (const char* domain : {"clipart", "real"}) {
      std::ofstream train(root + "/" + domain + "_train.txt"), test(root + "/" + domain + "_test.txt");
      for (int c = 0; c < classes; ++c) {
        const std::string cls = "class" + std::to_string(c);
        mkdirs(root + "/" + domain + "/" + cls);
        for (int k = 0; k < per_class; ++k) {
          const int h = 40 + static_cast<int>(next_rand() % 56), w = 40 + static_cast<int>(next_rand() % 56);
          const std::string rel = std::string(domain) + "/" + cls + "/" + std::to_string(k) + ".jpg";
          write_jpeg(root + "/" + rel, pattern(c, h, w), h, w);
          (k % 5 == 4 ? test : train) << rel << " " << c << "\n";
        }
      }
    }
  } else if (kind == "cifar100" || kind == "cifar100-python") {
    for (const char* split : {"train", "test"}) {
      lorasub::testing::CifarContent c;
      if (split[1] == 'e') c.batch_label = "testing batch 1 of 1";
      const int n = split[1] == 'r' ? per_class : std::max(1, per_class / 4);
      for (int k = 0; k < n; ++k)
        for (int cls = 0; cls < classes; ++cls) {
          const auto px = pattern(cls, 32, 32);
          c.filenames.push_back("c" + std::to_string(cls) + "_" + std::to_string(k) + ".png");
          c.fine.push_back(cls), c.coarse.push_back(cls / 5), ++c.rows;
          for (int ch = 0; ch < 3; ++ch)
            for (int p = 0; p < 32 * 32; ++p) c.data += static_cast<char>(px[static_cast<size_t>(p * 3 + ch)]);
        }
      if (kind == "cifar100-python") {
        std::ofstream(root + "/" + split, std::ios::binary)
            << lorasub::testing::cifar_pickle(lorasub::testing::Dialect::kPy2, c);
        continue;
      }
      std::ofstream out(root + "/" + split + ".bin", std::ios::binary);
      for (int64_t r = 0; r < c.rows; ++r)
        out.put(static_cast<char>(c.coarse[r])).put(static_cast<char>(c.fine[r])) << c.data.substr(r * 3072, 3072);
    }
    if (kind == "cifar100-python") {
      std::vector<std::string> fine, coarse;
      for (int k = 0; k < 100; ++k) fine.push_back("class" + std::to_string(k));
      for (int k = 0; k < 20; ++k) coarse.push_back("super" + std::to_string(k));
      std::ofstream(root + "/meta", std::ios::binary)
          << lorasub::testing::cifar_meta_pickle(lorasub::testing::Dialect::kPy2, fine, coarse);
    }
  } else {
    std::fprintf(stderr, "unknown kind '%s'\n", kind.c_str());
    return 2;
  }
  return 0;
}
