#include "session.h"

#include <ATen/Parallel.h>

#include <cstdio>
#include <string>

#include "lorasub/core/error.h"
#include "lorasub/dist/job_end.h"
#include "lorasub/train/signals.h"

namespace lorasub::cli {

void add_config_options(CLI::App* cmd, ConfigArgs& args) {
  cmd->add_option("-c,--config", args.config, "YAML config file (see configs/)")->required();
  cmd->add_option("--set", args.overrides, "override a key: section.key=value (repeatable)")->type_name("KEY=VALUE");
}

Session open_session(const ConfigArgs& args, const dist::World& world) {
  Session s;
  s.cfg = load_config(args.config, args.overrides);
  train::set_stop_deadline(s.cfg.ckpt.stop_deadline_seconds);
  std::string threads_warning;
  at::set_num_threads(dist::threads_per_rank(static_cast<int>(s.cfg.train.threads), world, &threads_warning));
  if (!threads_warning.empty() && world.is_root())
    std::fprintf(stderr, "lorasub: warning: %s\n", threads_warning.c_str());
  s.device = train::resolve_device(s.cfg, world);
  train::activate_device(s.device, s.cfg);
  s.comm = dist::make_communicator(s.cfg.dist.backend, world, s.device.spec, s.cfg.dist.timeout_seconds);
  return s;
}

int run_guarded(const dist::World& world, const std::function<int()>& body) {
  try {
    return body();
  } catch (const ConfigError& e) {
    // Usually every rank hits the same bad input (a missing dataset directory): then the
    // ranks agree, rank 0 says it once and all exit 2; a rank alone with it aborts the job.
    dist::end_job(world, std::string("config error: ") + e.what(), kExitUsage);
  } catch (const FormatError& e) {
    // A malformed input file (weights, dataset, checkpoint) is bad input, as a config is.
    dist::end_job(world, std::string("error: ") + e.what(), kExitUsage);
  } catch (const NonFiniteError& e) {
    dist::end_job(world, std::string("error: ") + e.what(), kExitNonFinite);  // the same sums on every rank
  } catch (const std::exception& e) {
    dist::end_job(world, std::string("error: ") + e.what(), kExitFailure);
  }
}

}  // namespace lorasub::cli
