#include "lorasub/data/image_set.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>

#include "lorasub/core/error.h"

namespace lorasub::data {
namespace {

TEST(ImageSet, NumClasses) {
  ImageSet set;
  EXPECT_EQ(set.num_classes(), 0);
  set.labels = {2, 0, 5, 1};
  EXPECT_EQ(set.num_classes(), 6);
}

TEST(ImageSet, TakePerClassKeepsFirstInOrder) {
  ImageSet set;
  set.height = 1;
  set.width = 2;
  set.channels = 1;
  set.labels = {0, 1, 0, 2, 1, 0, 1, 2};
  for (size_t i = 0; i < set.labels.size(); ++i) {
    set.pixels.push_back(static_cast<uint8_t>(i));
    set.pixels.push_back(static_cast<uint8_t>(100 + i));
  }
  const ImageSet two = take_per_class(set, 2);
  EXPECT_EQ(two.labels, (std::vector<int64_t>{0, 1, 0, 2, 1, 2}));
  EXPECT_EQ(two.pixels, (std::vector<uint8_t>{0, 100, 1, 101, 2, 102, 3, 103, 4, 104, 7, 107}));
  EXPECT_EQ(two.height, 1);
  EXPECT_EQ(two.width, 2);
  EXPECT_EQ(take_per_class(set, 0).labels, set.labels);
  EXPECT_EQ(take_per_class(set, 100).pixels, set.pixels);
  EXPECT_THROW(take_per_class(set, -1), ConfigError);
}

TEST(ImageSet, SyntheticShapeAndLabels) {
  const ImageSet set = make_synthetic(4, 3, 8, 6, 3, 11);
  EXPECT_EQ(set.size(), 12);
  EXPECT_EQ(set.height, 8);
  EXPECT_EQ(set.width, 6);
  EXPECT_EQ(set.channels, 3);
  EXPECT_EQ(set.pixels.size(), 12u * 8 * 6 * 3);
  for (int64_t i = 0; i < set.size(); ++i) EXPECT_EQ(set.labels[i], i % 4);
  EXPECT_EQ(set.num_classes(), 4);
  EXPECT_THROW(make_synthetic(0, 3, 8, 8, 1, 0), ConfigError);
}

TEST(ImageSet, SyntheticDeterministicSeededAndIndexKeyed) {
  const ImageSet a = make_synthetic(5, 4, 10, 10, 1, 7);
  EXPECT_EQ(a.pixels, make_synthetic(5, 4, 10, 10, 1, 7).pixels);
  EXPECT_NE(a.pixels, make_synthetic(5, 4, 10, 10, 1, 8).pixels);
  // Image i does not depend on how many images there are.
  const ImageSet more = make_synthetic(5, 9, 10, 10, 1, 7);
  EXPECT_TRUE(std::equal(a.pixels.begin(), a.pixels.end(), more.pixels.begin()));
}

TEST(ImageSet, SyntheticClassesAreDistinguishable) {
  const int64_t classes = 10, per = 20, hw = 16;
  const ImageSet set = make_synthetic(classes, per, hw, hw, 1, 3);
  std::vector<std::vector<double>> mean(classes, std::vector<double>(hw * hw, 0.0));
  for (int64_t i = 0; i < set.size(); ++i) {
    for (int64_t p = 0; p < hw * hw; ++p) mean[set.labels[i]][p] += set.image(i)[p] / double(per);
  }
  for (int64_t a = 0; a < classes; ++a) {
    for (int64_t b = a + 1; b < classes; ++b) {
      double max_diff = 0;
      for (int64_t p = 0; p < hw * hw; ++p) {
        max_diff = std::max(max_diff, std::abs(mean[a][p] - mean[b][p]));
      }
      EXPECT_GT(max_diff, 100.0) << "classes " << a << " and " << b;
    }
  }
}

}  // namespace
}  // namespace lorasub::data
