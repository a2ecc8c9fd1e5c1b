// GradBucket: where each gradient and control slot sits in the fused buffer, and that
// the all-reduce covers exactly that buffer, once.
#include "lorasub/dist/grad_bucket.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

namespace lorasub::dist {
namespace {

// Two ranks with equal buffers: the sum doubles each element. Counts its calls.
class DoublingComm final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 2; }
  std::string name() const override { return "doubling"; }
  void allreduce_sum(float* d, size_t n) override {
    ++calls;
    seen = d;
    seen_n = n;
    for (size_t i = 0; i < n; ++i) d[i] *= 2.0f;
  }
  void allreduce_sum(double*, size_t) override { ++other_calls; }
  void allreduce_sum(int64_t*, size_t) override { ++other_calls; }
  void allreduce_max(int64_t*, size_t) override { ++other_calls; }
  void allgatherv(const float*, size_t, float*, const std::vector<size_t>&) override { ++other_calls; }
  std::vector<int64_t> allgather(int64_t x) override { return {x, x}; }
  void broadcast(void*, size_t, int) override { ++other_calls; }
  void barrier() override { ++other_calls; }
  [[noreturn]] void abort(int code) override { std::exit(code); }
  int calls = 0, other_calls = 0;
  const float* seen = nullptr;
  size_t seen_n = 0;
};

TEST(GradBucket, OffsetsArePrefixSumsAndControlSlotsFollowTheGradients) {
  const GradBucket b({6, 1, 4, 3}, 3);
  EXPECT_EQ(b.offset(0), 0u);
  EXPECT_EQ(b.offset(1), 6u);
  EXPECT_EQ(b.offset(2), 7u);
  EXPECT_EQ(b.offset(3), 11u);
  EXPECT_EQ(b.grad_size(2), 4u);
  EXPECT_EQ(b.control_slots(), 3u);
  EXPECT_EQ(b.control_offset(0), 14u);
  EXPECT_EQ(b.control_offset(2), 16u);
  EXPECT_EQ(b.elements(), 17u);
  EXPECT_EQ(b.bytes(), 17u * sizeof(float));
}

TEST(GradBucket, OutOfRangeIndicesAreRefused) {
  const GradBucket b({2, 2}, 1);
  EXPECT_THROW(b.offset(2), std::out_of_range);
  EXPECT_THROW(b.grad_size(2), std::out_of_range);
  EXPECT_THROW(b.control_offset(1), std::out_of_range);
}

TEST(GradBucket, EmptyGradientsAndNoGradientsAtAll) {
  const GradBucket zero_sized({3, 0, 2});  // a zero-sized gradient takes no room
  EXPECT_EQ(zero_sized.offset(1), 3u);
  EXPECT_EQ(zero_sized.offset(2), 3u);
  EXPECT_EQ(zero_sized.control_offset(0), 5u);
  const GradBucket control_only({}, 2);
  EXPECT_EQ(control_only.elements(), 2u);
  EXPECT_EQ(control_only.control_offset(0), 0u);
}

TEST(GradBucket, OneAllReduceOverTheWholeBufferInPlace) {
  const GradBucket b({2, 3}, 2);
  std::vector<float> buffer(b.elements() + 1, 1.0f);  // one guard element past the end
  for (size_t i = 0; i < b.elements(); ++i) buffer[i] = static_cast<float>(i);
  DoublingComm comm;
  b.allreduce(comm, buffer.data());
  EXPECT_EQ(comm.calls, 1);
  EXPECT_EQ(comm.other_calls, 0);
  EXPECT_EQ(comm.seen, buffer.data());
  EXPECT_EQ(comm.seen_n, 7u);
  for (size_t i = 0; i < b.elements(); ++i) EXPECT_EQ(buffer[i], 2.0f * static_cast<float>(i)) << i;
  EXPECT_EQ(buffer[b.elements()], 1.0f);  // nothing beyond the bucket
}

}  // namespace
}  // namespace lorasub::dist
