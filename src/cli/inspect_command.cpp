// lorasub inspect: what a checkpoint holds and whether it is intact (rank 0).
#include <cstdio>

#include "command.h"
#include "lorasub/core/error.h"
#include "lorasub/train/checkpoint_dir.h"

namespace lorasub::cli {
namespace {

class InspectCommand final : public Command {
 public:
  explicit InspectCommand(CLI::App& app) {
    cmd_ = app.add_subcommand("inspect", "print what a checkpoint holds and check its integrity (exit 1 if damaged)");
    cmd_->add_option("checkpoint", path_, "checkpoint file (.h5)")->required();
  }
  bool parsed() const override { return cmd_->parsed(); }
  int run(const dist::World& world) override {
    if (!world.is_root()) return kExitOk;
    bool ok = false;
    std::printf("%s", train::describe_checkpoint(path_, &ok).c_str());
    return ok ? kExitOk : kExitFailure;
  }

 private:
  CLI::App* cmd_ = nullptr;
  std::string path_;
};

}  // namespace

std::unique_ptr<Command> make_inspect_command(CLI::App& app) { return std::make_unique<InspectCommand>(app); }

}  // namespace lorasub::cli
