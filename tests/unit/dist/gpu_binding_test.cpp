// One GPU per rank: which ranks share a device, as every rank computes it from the
// gathered identities (host and PCI bus id).
#include <gtest/gtest.h>

#include "lorasub/dist/gpu_binding.h"

namespace lorasub::dist {
namespace {

TEST(SharedGpus, EveryRankOnItsOwnGpuIsFine) {
  EXPECT_EQ(shared_gpu_message({"a 0000:3b:00.0", "a 0000:5e:00.0", "b 0000:3b:00.0", "b 0000:5e:00.0"}), "");
  EXPECT_EQ(shared_gpu_message({}), "");
  EXPECT_EQ(shared_gpu_message({"", ""}), "");  // CPU ranks share no GPU
  EXPECT_EQ(shared_gpu_message({"a 0000:3b:00.0"}), "");
}

TEST(SharedGpus, NamesTheRanksTheDeviceAndTheHost) {
  // The same bus id on two hosts is two GPUs; twice on one host is one.
  const std::string m = shared_gpu_message({"a 0000:3b:00.0", "b 0000:3b:00.0", "a 0000:3b:00.0"});
  EXPECT_EQ(m.substr(0, m.find(':', m.find("on a"))), "ranks 0 and 2 share the GPU at PCI 0000:3b:00.0 on a");
  EXPECT_NE(m.find("NCCL refuses two ranks on one GPU"), std::string::npos) << m;
  EXPECT_NE(m.find("launch/bind-gpu.sh"), std::string::npos) << m;
}

TEST(SharedGpus, EveryGroupIsListedInOneOrder) {
  const std::string m =
      shared_gpu_message({"h 0000:5e:00.0", "h 0000:3b:00.0", "h 0000:5e:00.0", "h 0000:3b:00.0", "h 0000:5e:00.0"});
  EXPECT_EQ(m.substr(0, m.find(": each")),
            "ranks 1 and 3 share the GPU at PCI 0000:3b:00.0 on h; ranks 0, 2 and 4 share the GPU at PCI "
            "0000:5e:00.0 on h");
}

TEST(SharedGpus, CpuRanksAreNotAsked) {
  World w;
  w.host = "h";
  EXPECT_EQ(gpu_identity(w, DeviceSpec{}), "");
  LocalCommunicator one;
  EXPECT_NO_THROW(check_one_gpu_per_rank(one, w, DeviceSpec{}));  // one rank shares nothing
}

}  // namespace
}  // namespace lorasub::dist
