#include "lorasub/dist/gpu_binding.h"

#include <map>

#include "lorasub/core/error.h"
#include "lorasub/dist/cuda_device.h"

namespace lorasub::dist {

std::string shared_gpu_message(const std::vector<std::string>& ids) {
  std::map<std::string, std::vector<size_t>> ranks_of;  // ordered: the message is the same on every rank
  for (size_t r = 0; r < ids.size(); ++r)
    if (!ids[r].empty()) ranks_of[ids[r]].push_back(r);
  std::string shared;
  for (const auto& [id, ranks] : ranks_of) {
    if (ranks.size() < 2) continue;
    std::string list;
    for (size_t i = 0; i < ranks.size(); ++i)
      list += (i == 0 ? "" : i + 1 == ranks.size() ? " and " : ", ") + std::to_string(ranks[i]);
    const size_t space = id.find(' ');
    shared += (shared.empty() ? "" : "; ") + std::string("ranks ") + list + " share the GPU at PCI " +
              id.substr(space + 1) + " on " + id.substr(0, space);
  }
  if (shared.empty()) return "";
  return shared + ": each rank needs a GPU of its own (NCCL refuses two ranks on one GPU). Run at most as many "
                  "ranks per node as it has GPUs, and bind each to its own (launch/bind-gpu.sh, srun "
                  "--gpus-per-task=1, or train.device cuda with every GPU visible)";
}

std::string gpu_identity(const World& world, const DeviceSpec& device) {
  if (!device.cuda) return "";
  return world.host + " " + cuda_pci_bus_id(device.index);
}

void check_one_gpu_per_rank(Communicator& control, const World& world, const DeviceSpec& device) {
  if (control.size() < 2) return;
  const std::string message = shared_gpu_message(allgather_strings(control, gpu_identity(world, device)));
  if (!message.empty()) throw ConfigError(message);
}

}  // namespace lorasub::dist
