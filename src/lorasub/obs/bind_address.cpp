#include "lorasub/obs/bind_address.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "lorasub/core/error.h"

namespace lorasub::obs {
namespace {

struct Network {
  int family = AF_UNSPEC;
  unsigned char bytes[16] = {};
  int prefix = 0;
};

// The first `prefix` bits of a and b are equal.
bool same_prefix(const unsigned char* a, const unsigned char* b, int prefix) {
  const int whole = prefix / 8, rest = prefix % 8;
  if (std::memcmp(a, b, static_cast<size_t>(whole)) != 0) return false;
  if (rest == 0) return true;
  const unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

Network parse_network(const std::string& bind) {
  const auto bad = [&](const std::string& why) {
    return ConfigError("metrics.bind '" + bind + "': " + why +
                       " (an address, or a network ADDRESS/PREFIX such as 10.0.0.0/8: this host's address in it)");
  };
  const size_t slash = bind.find('/');
  const std::string addr = bind.substr(0, slash), bits = bind.substr(slash + 1);
  Network n;
  if (::inet_pton(AF_INET, addr.c_str(), n.bytes) == 1)
    n.family = AF_INET;
  else if (::inet_pton(AF_INET6, addr.c_str(), n.bytes) == 1)
    n.family = AF_INET6;
  else
    throw bad("'" + addr + "' is not an IPv4 or IPv6 address");
  const int max_bits = n.family == AF_INET ? 32 : 128;
  if (bits.empty() || bits.size() > 3 || bits.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(bits) > max_bits)
    throw bad("the prefix length must be 0.." + std::to_string(max_bits));
  n.prefix = std::stoi(bits);
  return n;
}

// The address bytes of an AF_INET or AF_INET6 socket address.
const unsigned char* address_bytes(const sockaddr* sa) {
  if (sa->sa_family == AF_INET)
    return reinterpret_cast<const unsigned char*>(&reinterpret_cast<const sockaddr_in*>(sa)->sin_addr);
  return reinterpret_cast<const unsigned char*>(&reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr);
}

std::string to_text(const sockaddr* sa) {
  char text[INET6_ADDRSTRLEN] = {0};
  ::inet_ntop(sa->sa_family, address_bytes(sa), text, sizeof(text));
  return text;
}

}  // namespace

std::string bind_address(const std::string& bind) {
  if (bind.find('/') == std::string::npos) return bind;
  const Network net = parse_network(bind);
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0)
    throw ConfigError("metrics.bind '" + bind + "': cannot list this host's addresses: " + std::strerror(errno));
  const std::unique_ptr<ifaddrs, void (*)(ifaddrs*)> owner(list, ::freeifaddrs);
  std::string seen;
  for (const ifaddrs* i = list; i; i = i->ifa_next) {
    const sockaddr* sa = i->ifa_addr;
    if (!sa || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)) continue;
    if (sa->sa_family == net.family && same_prefix(address_bytes(sa), net.bytes, net.prefix)) return to_text(sa);
    seen += (seen.empty() ? "" : ", ") + to_text(sa);
  }
  throw ConfigError("metrics.bind '" + bind +
                    "': no address of this host is in that network (it has: " + (seen.empty() ? "none" : seen) + ")");
}

}  // namespace lorasub::obs
