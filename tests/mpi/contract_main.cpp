// The Communicator contract, run against one backend: `contract_main mpi` under
// mpirun -np 2 (CI), `contract_main local` on one rank, and `contract_main nccl` on a
// GPU machine (one GPU: size 1; multi-rank NCCL rests on these same checks passing for
// MPI). Every expectation is closed-form in the rank and exact: the values are small
// integers, so any summation order gives the same float.
// Device buffers (nccl): the data goes to the GPU with cudaMemcpy, the collective runs
// there, wait() is called, and the result comes back to be checked on the host.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "lorasub/dist/communicator.h"
#include "lorasub/dist/cuda_device.h"
#include "lorasub/dist/world.h"
#if LORASUB_HAVE_NCCL
#include <cuda_runtime.h>
#endif

namespace lorasub::dist {
namespace {

std::string g_backend = "mpi";
Communicator* g_comm = nullptr;

// A buffer of T in the memory the backend reduces (device memory for nccl).
template <class T>
class Buffer {
 public:
  explicit Buffer(std::vector<T> host) : host_(std::move(host)) {
#if LORASUB_HAVE_NCCL
    if (g_comm->device_buffers()) {
      EXPECT_EQ(cudaMalloc(&dev_, bytes() ? bytes() : 1), cudaSuccess);
      EXPECT_EQ(cudaMemcpy(dev_, host_.data(), bytes(), cudaMemcpyHostToDevice), cudaSuccess);
    }
#endif
  }
  ~Buffer() {
#if LORASUB_HAVE_NCCL
    if (dev_) cudaFree(dev_);
#endif
  }
  T* data() { return dev_ ? static_cast<T*>(dev_) : host_.data(); }
  // The values after the collectives so far (waits for them).
  std::vector<T> values() {
    g_comm->wait();
#if LORASUB_HAVE_NCCL
    if (dev_) {
      EXPECT_EQ(cudaMemcpy(host_.data(), dev_, bytes(), cudaMemcpyDeviceToHost), cudaSuccess);
    }
#endif
    return host_;
  }
  size_t bytes() const { return host_.size() * sizeof(T); }

 private:
  std::vector<T> host_;
  void* dev_ = nullptr;
};

int R() { return g_comm->rank(); }
int N() { return g_comm->size(); }

TEST(Contract, SizeRankAndName) {
  EXPECT_GE(N(), 1);
  EXPECT_GE(R(), 0);
  EXPECT_LT(R(), N());
  EXPECT_EQ(g_comm->name(), g_backend);
  EXPECT_EQ(g_comm->device_buffers(), g_backend == "nccl");
}

TEST(Contract, SumFloatIsExactAndInPlace) {
  const size_t n = 100003;             // odd, larger than one small message
  std::vector<float> x(n + 2, -7.0f);  // guards at both ends stay untouched
  for (size_t i = 0; i < n; ++i) x[i + 1] = static_cast<float>((R() + 1) * static_cast<int>(i % 1000 + 1));
  Buffer<float> b(x);
  g_comm->allreduce_sum(b.data() + 1, n);
  const std::vector<float> got = b.values();
  const float tri = static_cast<float>(N() * (N() + 1) / 2);
  EXPECT_EQ(got.front(), -7.0f);
  EXPECT_EQ(got.back(), -7.0f);
  size_t wrong = 0;
  for (size_t i = 0; i < n; ++i) wrong += got[i + 1] != tri * static_cast<float>(i % 1000 + 1);
  EXPECT_EQ(wrong, 0u);
}

TEST(Contract, SumDouble) {
  std::vector<double> x(1000);
  for (size_t i = 0; i < x.size(); ++i) x[i] = (R() + 1) + 0.5 * static_cast<double>(i);
  Buffer<double> b(x);
  g_comm->allreduce_sum(b.data(), x.size());
  const std::vector<double> got = b.values();
  for (size_t i = 0; i < x.size(); ++i)
    ASSERT_EQ(got[i], N() * (N() + 1) / 2.0 + N() * 0.5 * static_cast<double>(i)) << "element " << i;
}

TEST(Contract, SumInt64BeyondInt32) {
  std::vector<int64_t> x(257);
  for (size_t i = 0; i < x.size(); ++i) x[i] = (int64_t{R() + 1} << 33) + static_cast<int64_t>(i);
  Buffer<int64_t> b(x);
  g_comm->allreduce_sum(b.data(), x.size());
  const std::vector<int64_t> got = b.values();
  for (size_t i = 0; i < x.size(); ++i)
    ASSERT_EQ(got[i], (int64_t{N() * (N() + 1) / 2} << 33) + N() * static_cast<int64_t>(i)) << "element " << i;
}

TEST(Contract, MaxInt64) {
  std::vector<int64_t> x(64);
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = static_cast<int>(i) % N() == R() ? 100 + static_cast<int64_t>(i) : -static_cast<int64_t>(i);
  Buffer<int64_t> b(x);
  g_comm->allreduce_max(b.data(), x.size());
  const std::vector<int64_t> got = b.values();
  for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(got[i], 100 + static_cast<int64_t>(i));
}

TEST(Contract, AllgathervInRankOrderWithAnEmptyShare) {
  // Rank r sends r + 1 floats (rank 0 none when N > 1): 10 r + k.
  std::vector<size_t> counts;
  for (int r = 0; r < N(); ++r) counts.push_back(N() > 1 && r == 0 ? 0 : static_cast<size_t>(r + 1));
  std::vector<float> mine(counts[static_cast<size_t>(R())]);
  for (size_t k = 0; k < mine.size(); ++k) mine[k] = static_cast<float>(10 * R() + static_cast<int>(k));
  size_t total = 0;
  for (size_t c : counts) total += c;
  Buffer<float> send(mine.empty() ? std::vector<float>{0.0f} : mine);
  Buffer<float> recv(std::vector<float>(total, -1.0f));
  g_comm->allgatherv(send.data(), mine.size(), recv.data(), counts);
  const std::vector<float> got = recv.values();
  size_t at = 0;
  for (int r = 0; r < N(); ++r)
    for (size_t k = 0; k < counts[static_cast<size_t>(r)]; ++k, ++at)
      ASSERT_EQ(got[at], static_cast<float>(10 * r + static_cast<int>(k))) << "rank " << r << " element " << k;
}

TEST(Contract, AllgatherOfOneValue) {
  const std::vector<int64_t> got = g_comm->allgather(7 * int64_t{R()} - 3);
  ASSERT_EQ(got.size(), static_cast<size_t>(N()));
  for (int r = 0; r < N(); ++r) EXPECT_EQ(got[static_cast<size_t>(r)], 7 * int64_t{r} - 3);
}

TEST(Contract, BroadcastFromTheLastRank) {
  const int root = N() - 1;
  std::vector<uint8_t> x(1031);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<uint8_t>(R() == root ? (i * 7 + 3) % 256 : 0);
  Buffer<uint8_t> b(x);
  g_comm->broadcast(b.data(), x.size(), root);
  const std::vector<uint8_t> got = b.values();
  for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(got[i], static_cast<uint8_t>((i * 7 + 3) % 256));
}

TEST(Contract, HostBuffersWorkOnEveryBackend) {
  // The control plane: host memory is always accepted (NCCL sends it over MPI).
  int64_t flag = R() == N() - 1 ? 5 : 1;
  g_comm->allreduce_max(&flag, 1);
  EXPECT_EQ(flag, 5);
  std::vector<double> h(3, 1.0);
  g_comm->allreduce_sum(h.data(), h.size());
  EXPECT_EQ(h, std::vector<double>(3, static_cast<double>(N())));
  g_comm->barrier();
}

TEST(Contract, ManyCollectivesInARowStayOrdered) {
  Buffer<float> b(std::vector<float>(8, 1.0f));
  for (int k = 0; k < 10; ++k) g_comm->allreduce_sum(b.data(), 8);
  float want = 1.0f;
  for (int k = 0; k < 10; ++k) want *= static_cast<float>(N());
  for (float v : b.values()) EXPECT_EQ(v, want);
}

#if LORASUB_HAVE_NCCL
// Holds a stream until the flag is set (a host function queued on it).
void CUDART_CB hold_stream(void* flag) {
  while (!static_cast<std::atomic<bool>*>(flag)->load()) std::this_thread::yield();
}

TEST(Contract, DeviceCollectivesQueueOnTheGivenStream) {
  // Torch's current stream is seldom the legacy default one: a collective must queue
  // behind the work already on the caller's stream, and wait() must cover that stream.
  // The stream is held by a host function; a gather (a copy even on one rank) queued
  // behind it must not have run until it is released.
  if (!g_comm->device_buffers()) GTEST_SKIP() << "host-only backend";
  cudaStream_t s = nullptr, other = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
  ASSERT_EQ(cudaStreamCreateWithFlags(&other, cudaStreamNonBlocking), cudaSuccess);
  const size_t n = 4096;
  std::vector<size_t> counts(static_cast<size_t>(N()), n);
  Buffer<float> send(std::vector<float>(n, static_cast<float>(R() + 1)));
  Buffer<float> recv(std::vector<float>(n * counts.size(), -1.0f));
  std::atomic<bool> go{false};
  ASSERT_EQ(cudaLaunchHostFunc(s, hold_stream, &go), cudaSuccess);
  g_comm->use_stream(s);
  g_comm->allgatherv(send.data(), n, recv.data(), counts);
  std::vector<float> early(n * counts.size(), 0.0f);
  ASSERT_EQ(cudaMemcpyAsync(early.data(), recv.data(), early.size() * sizeof(float), cudaMemcpyDeviceToHost, other),
            cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(other), cudaSuccess);
  EXPECT_EQ(cudaStreamQuery(s), cudaErrorNotReady);
  go = true;
  const std::vector<float> got = recv.values();  // wait(): covers stream s
  g_comm->use_stream(nullptr);
  EXPECT_EQ(std::count(early.begin(), early.end(), -1.0f), static_cast<std::ptrdiff_t>(early.size()))
      << "the gather ran before the work queued ahead of it on its stream";
  for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], static_cast<float>(i / n + 1)) << "element " << i;
  EXPECT_EQ(cudaStreamQuery(s), cudaSuccess);
  cudaStreamDestroy(s);
  cudaStreamDestroy(other);
}
#endif

}  // namespace
}  // namespace lorasub::dist

int main(int argc, char** argv) {
  using namespace lorasub::dist;
  MpiRuntime mpi(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  if (argc > 1) g_backend = argv[1];
  DeviceSpec device;
  if (g_backend == "nccl") {
    std::string why;
    if (cuda_device_count(&why) == 0) {
      std::printf("SKIP: the nccl contract needs a GPU: %s\n", why.c_str());
      return 77;
    }
    device.cuda = true;
    device.index = mpi.world().local_rank;
  }
  std::unique_ptr<Communicator> comm = make_communicator(g_backend, mpi.world(), device, 120);
  g_comm = comm.get();
  if (mpi.world().rank != 0) {  // one report: rank 0's (failures anywhere fail the job below)
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  const int rc = RUN_ALL_TESTS();
  int64_t worst = rc;
  g_comm->allreduce_max(&worst, 1);
  if (mpi.world().is_root())
    std::printf("%s: %s contract on %d rank(s)\n", worst == 0 ? "PASS" : "FAIL", g_backend.c_str(), mpi.world().size);
  comm.reset();
  return worst == 0 ? 0 : 1;
}
