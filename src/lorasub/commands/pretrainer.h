// Pre-trains the ViT from scratch with a linear head (cross-entropy, Adam, cosine
// decay per step) on a labelled dataset, data-parallel over the ranks, and writes the
// backbone as safetensors with timm key names.
#pragma once
#include <string>

#include "lorasub/core/config.h"
#include "lorasub/dist/communicator.h"
#include "lorasub/dist/world.h"

namespace lorasub::commands {

struct PretrainResult {
  double final_loss = 0;
  double test_accuracy = 0;  // linear head, %
  double images_per_second = 0;
  std::string output;
};

PretrainResult pretrain(const Config& cfg, const dist::World& world, dist::Communicator& comm);

}  // namespace lorasub::commands
