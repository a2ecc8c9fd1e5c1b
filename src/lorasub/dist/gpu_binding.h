// One GPU per rank: NCCL refuses two ranks on one GPU (and sharing one would halve
// each rank's memory and speed), so lorasub refuses them itself, with the ranks named,
// before any NCCL call: however the ranks were bound (CUDA_VISIBLE_DEVICES, Slurm gres,
// launch/bind-gpu.sh), what counts is the physical device (host and PCI bus id).
#pragma once
#include <string>
#include <vector>

#include "lorasub/dist/communicator.h"
#include "lorasub/dist/world.h"

namespace lorasub::dist {

// What ranks that share a GPU are told, or "" when every rank has its own. ids[r] is
// rank r's "host pci-bus-id" ("" for a rank on the CPU).
std::string shared_gpu_message(const std::vector<std::string>& ids);

// This rank's GPU identity for shared_gpu_message ("" on the CPU).
std::string gpu_identity(const World& world, const DeviceSpec& device);

// Collective over `control`: throws the same ConfigError on every rank when ranks share
// a GPU.
void check_one_gpu_per_rank(Communicator& control, const World& world, const DeviceSpec& device);

}  // namespace lorasub::dist
