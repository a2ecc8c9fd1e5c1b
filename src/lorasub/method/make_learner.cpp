// method.name -> its Learner.
#include <memory>

#include "lorasub/method/inflora_learner.h"
#include "lorasub/method/learner.h"
#include "lorasub/method/lora_drs_learner.h"
#include "lorasub/method/sdlora_learner.h"

namespace lorasub::method {

std::unique_ptr<Learner> make_learner(const model::Vit& vit, const Config& cfg, const data::TaskPlan& plan,
                                      dist::Communicator& comm) {
  const std::string& name = cfg.method.name;
  if (name == "seq-lora") return std::make_unique<SeqLoraLearner>(vit, cfg, plan, comm);
  if (name == "ncm") return std::make_unique<NcmLearner>(vit, cfg, plan, comm);
  if (name == "inflora") return std::make_unique<InfloraLearner>(vit, cfg, plan, comm);
  if (name == "sd-lora") return std::make_unique<SdLoraLearner>(vit, cfg, plan, comm);
  return std::make_unique<LoraDrsLearner>(vit, cfg, plan, comm);
}

}  // namespace lorasub::method
