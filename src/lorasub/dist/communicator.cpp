#include "lorasub/dist/communicator.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace lorasub::dist {

void LocalCommunicator::allgatherv(const float* send, size_t count, float* recv, const std::vector<size_t>& counts) {
  if (counts.size() != 1 || counts[0] != count)
    throw std::invalid_argument("allgatherv: counts do not match the world");
  if (count > 0 && send != recv) std::memcpy(recv, send, count * sizeof(float));
}

std::vector<std::string> allgather_strings(Communicator& comm, const std::string& s) {
  const std::vector<int64_t> lens = comm.allgather(static_cast<int64_t>(s.size()));
  std::vector<size_t> counts;
  size_t total = 0;
  for (int64_t n : lens) {
    counts.push_back(static_cast<size_t>(n));
    total += static_cast<size_t>(n);
  }
  std::vector<float> send(s.size()), recv(total);
  for (size_t i = 0; i < s.size(); ++i) send[i] = static_cast<float>(static_cast<unsigned char>(s[i]));
  comm.allgatherv(send.data(), send.size(), recv.data(), counts);
  std::vector<std::string> out;
  size_t at = 0;
  for (size_t c : counts) {
    std::string x(c, '\0');
    for (size_t i = 0; i < c; ++i) x[i] = static_cast<char>(static_cast<unsigned char>(recv[at + i]));
    out.push_back(std::move(x));
    at += c;
  }
  return out;
}

void LocalCommunicator::abort(int exit_code) {
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(exit_code);
}

}  // namespace lorasub::dist
