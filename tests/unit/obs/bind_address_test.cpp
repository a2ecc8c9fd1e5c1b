#include "lorasub/obs/bind_address.h"

#include <gtest/gtest.h>

#include <string>

#include "lorasub/core/error.h"
#include "lorasub/obs/metrics.h"

namespace lorasub::obs {
namespace {

// The message of the ConfigError that bind_address(bind) throws ("" if none).
std::string refusal(const std::string& bind) {
  try {
    bind_address(bind);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(BindAddress, AddressesAndWildcardsAreKept) {
  EXPECT_EQ(bind_address("127.0.0.1"), "127.0.0.1");
  EXPECT_EQ(bind_address("0.0.0.0"), "0.0.0.0");
  EXPECT_EQ(bind_address(""), "");
  EXPECT_EQ(bind_address("::1"), "::1");
  EXPECT_EQ(bind_address("node1"), "node1");
}

TEST(BindAddress, NetworkBecomesThisHostsAddressInIt) {
  // Every host has 127.0.0.1 on its loopback interface, and only it in 127.0.0.1/32.
  EXPECT_EQ(bind_address("127.0.0.0/8"), "127.0.0.1");
  EXPECT_EQ(bind_address("127.0.0.1/32"), "127.0.0.1");
  EXPECT_EQ(bind_address("127.0.0.0/24"), "127.0.0.1");
  EXPECT_EQ(advertised_target("127.0.0.0/8", "node1", 9400), "127.0.0.1:9400");
}

TEST(BindAddress, NetworkWithoutAnAddressOfThisHostIsRefused) {
  // 198.51.100.0/24 is a documentation range: no test machine has an address in it.
  const std::string m = refusal("198.51.100.0/24");
  EXPECT_NE(m.find("metrics.bind '198.51.100.0/24'"), std::string::npos) << m;
  EXPECT_NE(m.find("no address of this host"), std::string::npos) << m;
  EXPECT_NE(m.find("127.0.0.1"), std::string::npos) << m;  // lists what the host has
}

TEST(BindAddress, MalformedNetworkIsRefused) {
  for (const char* bad : {"10.0.0.0/33", "10.0.0.0/", "10.0.0.0/x", "10.0.0/8", "node1/8", "::/129", "/8"}) {
    const std::string m = refusal(bad);
    EXPECT_NE(m.find(std::string("metrics.bind '") + bad + "'"), std::string::npos) << bad << ": " << m;
  }
}

}  // namespace
}  // namespace lorasub::obs
