// GradSync: every gradient is a view of one flat buffer (backward accumulates straight
// into it; the all-reduce gets that buffer itself, in place), control slots ride along,
// and finiteness is judged over the whole summed buffer.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "lorasub/method/grad_sync.h"

namespace lorasub::method {
namespace {

// Two "ranks" holding the same buffer: the sum doubles it. Records what it was given.
class DoublingComm final : public dist::Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 2; }
  std::string name() const override { return "doubling"; }
  void allreduce_sum(float* d, size_t n) override {
    seen = d;
    seen_n = n;
    for (size_t i = 0; i < n; ++i) d[i] *= 2.0f;
  }
  void allreduce_sum(double*, size_t) override {}
  void allreduce_sum(int64_t*, size_t) override {}
  void allreduce_max(int64_t*, size_t) override {}
  void allgatherv(const float*, size_t, float*, const std::vector<size_t>&) override {}
  std::vector<int64_t> allgather(int64_t x) override { return {x, x}; }
  void broadcast(void*, size_t, int) override {}
  void barrier() override {}
  [[noreturn]] void abort(int code) override { std::exit(code); }
  float* seen = nullptr;
  size_t seen_n = 0;
};

struct Params {
  at::Tensor a = at::zeros({2, 3}).requires_grad_(true);
  at::Tensor b = at::zeros({4}).requires_grad_(true);
};

TEST(GradSync, GradientsAreViewsOfTheBuffer) {
  Params p;
  GradSync sync({p.a, p.b});
  const float* base = sync.buffer().data_ptr<float>();
  EXPECT_EQ(sync.buffer().numel(), 6 + 4 + kNumSlots);
  EXPECT_EQ(sync.bytes(), (6 + 4 + kNumSlots) * sizeof(float));
  EXPECT_EQ(p.a.grad().data_ptr<float>(), base);
  EXPECT_EQ(p.b.grad().data_ptr<float>(), base + 6);
  EXPECT_TRUE(p.a.grad().sizes().equals({2, 3}));
}

TEST(GradSync, BackwardAccumulatesIntoTheBufferAndTheReduceIsInPlace) {
  Params p;
  GradSync sync({p.a, p.b});
  sync.zero();
  // d/da sum(a * c) = c; d/db sum(3 b) = 3.
  const at::Tensor c = at::arange(6, at::kFloat).reshape({2, 3});
  ((p.a * c).sum() + (p.b * 3.0f).sum()).backward();
  const float* buf = sync.buffer().data_ptr<float>();
  for (int i = 0; i < 6; ++i) EXPECT_EQ(buf[i], static_cast<float>(i));
  for (int i = 6; i < 10; ++i) EXPECT_EQ(buf[i], 3.0f);
  DoublingComm comm;
  const std::vector<float> sums = sync.allreduce(comm, {at::full({1}, 1.0f), at::scalar_tensor(2.5f), at::Tensor()});
  EXPECT_EQ(comm.seen, buf);  // the buffer itself went to the communicator
  EXPECT_EQ(comm.seen_n, 10u + kNumSlots);
  EXPECT_EQ(p.a.grad()[1][2].item<float>(), 10.0f);  // 2 x 5, seen through the view
  EXPECT_EQ(p.b.grad()[0].item<float>(), 6.0f);
  EXPECT_EQ(sums, (std::vector<float>{2.0f, 5.0f, 0.0f}));
  EXPECT_TRUE(sync.finite());
  sync.zero();
  EXPECT_EQ(sync.buffer().abs().sum().item<float>(), 0.0f);
  EXPECT_EQ(p.a.grad().data_ptr<float>(), buf);  // still a view after zeroing
}

TEST(GradSync, NonFiniteGradientOrControlIsDetected) {
  Params p;
  GradSync sync({p.a, p.b});
  dist::LocalCommunicator local;
  sync.zero();
  (p.b * std::numeric_limits<float>::infinity()).sum().backward();
  sync.allreduce(local, {});
  EXPECT_FALSE(sync.finite());
  sync.zero();
  sync.allreduce(local, {at::Tensor(), at::scalar_tensor(std::nanf(""))});
  EXPECT_FALSE(sync.finite());
  sync.zero();
  sync.allreduce(local, {});
  EXPECT_TRUE(sync.finite());
}

TEST(GradSync, DroppingItReleasesTheViews) {
  Params p;
  {
    GradSync sync({p.a, p.b});
    EXPECT_TRUE(p.a.grad().defined());
  }
  EXPECT_FALSE(p.a.grad().defined());
}

}  // namespace
}  // namespace lorasub::method
