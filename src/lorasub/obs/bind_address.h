// metrics.bind as a network: one value for every node of a multi-node run.
//
// A command line is the same on every node, so a node's own address cannot be written
// into it; a network can. "192.0.2.0/24" (or "fd00::/64") means "this host's address in
// that network", the way OpenMPI's btl_tcp_if_include takes one, so that each rank
// listens on its node's address and the file_sd targets name it (a wildcard bind lists
// host names, which the Prometheus server may not resolve).
#pragma once
#include <string>

namespace lorasub::obs {

// `bind` itself unless it is ADDRESS/PREFIX: then the first address of this host (in
// getifaddrs order) inside that network. Throws ConfigError naming metrics.bind when the
// network is malformed or no address of this host is in it.
std::string bind_address(const std::string& bind);

}  // namespace lorasub::obs
