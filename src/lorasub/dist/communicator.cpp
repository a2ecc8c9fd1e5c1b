#include "lorasub/dist/communicator.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace lorasub::dist {

void LocalCommunicator::allgatherv(const float* send, size_t count, float* recv,
                                   const std::vector<size_t>& counts) {
  if (counts.size() != 1 || counts[0] != count)
    throw std::invalid_argument("allgatherv: counts do not match the world");
  if (count > 0 && send != recv) std::memcpy(recv, send, count * sizeof(float));
}

void LocalCommunicator::abort(int exit_code) {
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(exit_code);
}

}  // namespace lorasub::dist
