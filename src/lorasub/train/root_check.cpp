#include "lorasub/train/root_check.h"

#include <cstdint>
#include <exception>
#include <stdexcept>
#include <string>

#include "lorasub/core/error.h"

namespace lorasub::train {
namespace {

enum Verdict : int64_t { kFine = 0, kConfig = 1, kFormat = 2, kOther = 3 };

}  // namespace

void checked_on_root(dist::Communicator& comm, const std::function<void()>& check) {
  int64_t head[2] = {kFine, 0};  // verdict, message length
  std::string message;
  std::exception_ptr error;
  if (comm.rank() == 0) {
    try {
      check();
    } catch (const ConfigError& e) {
      head[0] = kConfig, message = e.what(), error = std::current_exception();
    } catch (const FormatError& e) {
      head[0] = kFormat, message = e.what(), error = std::current_exception();
    } catch (const std::exception& e) {
      head[0] = kOther, message = e.what(), error = std::current_exception();
    }
    head[1] = static_cast<int64_t>(message.size());
  }
  comm.broadcast(head, sizeof(head), 0);
  if (head[0] == kFine) return;
  message.resize(static_cast<size_t>(head[1]));
  comm.broadcast(message.data(), message.size(), 0);
  if (error) std::rethrow_exception(error);
  if (head[0] == kConfig) throw ConfigError(message);
  if (head[0] == kFormat) throw FormatError(message);
  throw std::runtime_error(message);
}

}  // namespace lorasub::train
