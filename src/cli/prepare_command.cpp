// lorasub prepare: the image cache of a file dataset (commands/prepare.h).
#include <cstdio>

#include "command.h"
#include "lorasub/commands/prepare.h"
#include "lorasub/core/error.h"
#include "session.h"

namespace lorasub::cli {
namespace {

class PrepareCommand final : public Command {
 public:
  explicit PrepareCommand(CLI::App& app) {
    cmd_ = app.add_subcommand(
        "prepare", "decode every image of an imagenet-r/domainnet dataset once into an HDF5 cache (data.cache)");
    add_config_options(cmd_, args_);
    cmd_->add_option("-o,--output", output_, "cache file to write (default: data.cache)");
    cmd_->footer("Images are resized to data.cache_short_side (aspect kept) and stored as uint8; train with\n"
                 "--set data.cache=FILE to read no JPEG in an epoch. Runs on one process (rank 0), with\n"
                 "data.workers decode threads. Layout: docs/image-cache.md.");
  }
  bool parsed() const override { return cmd_->parsed(); }
  int run(const dist::World& world) override {
    return run_guarded(world, [&] {
      const Session s = open_session(args_, world);
      if (!world.is_root()) return kExitOk;
      const std::string out = output_.empty() ? s.cfg.data.cache : output_;
      if (out.empty()) throw ConfigError("lorasub prepare: give --output FILE or set data.cache");
      const int64_t n = commands::prepare_cache(s.cfg, out);
      std::printf("prepare: %lld images -> %s (train with --set data.cache=%s)\n", static_cast<long long>(n),
                  out.c_str(), out.c_str());
      return kExitOk;
    });
  }

 private:
  CLI::App* cmd_ = nullptr;
  ConfigArgs args_;
  std::string output_;
};

}  // namespace

std::unique_ptr<Command> make_prepare_command(CLI::App& app) { return std::make_unique<PrepareCommand>(app); }

}  // namespace lorasub::cli
