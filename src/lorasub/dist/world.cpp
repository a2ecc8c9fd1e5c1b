#include "lorasub/dist/world.h"

#include <unistd.h>

#include <cstdio>
#include <thread>

#include "lorasub/core/error.h"
#include "lorasub/dist/mpi_check.h"
#include "lorasub/dist/cuda_device.h"
#include "lorasub/dist/gpu_binding.h"
#include "lorasub/dist/job_end.h"
#include "lorasub/dist/mpi_communicator.h"
#if LORASUB_HAVE_NCCL
#include "lorasub/dist/nccl_communicator.h"
#endif

namespace lorasub::dist {

MpiRuntime::MpiRuntime(int* argc, char*** argv) {
  int provided = 0;
  LORASUB_MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided));
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  LORASUB_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &world_.rank));
  LORASUB_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &world_.size));
  MPI_Comm local;
  LORASUB_MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, world_.rank, MPI_INFO_NULL, &local));
  LORASUB_MPI_CHECK(MPI_Comm_rank(local, &world_.local_rank));
  LORASUB_MPI_CHECK(MPI_Comm_size(local, &world_.local_size));
  MPI_Comm_free(&local);
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  world_.host = host;
  static MPI_Comm end_comm = MPI_COMM_NULL;  // lives until MPI_Finalize
  LORASUB_MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &end_comm));
  MPI_Comm_set_errhandler(end_comm, MPI_ERRORS_RETURN);
  detail::set_job_end_comm(&end_comm);
}

MpiRuntime::~MpiRuntime() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

int threads_per_rank(int requested, const World& world, std::string* warning) {
  const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  if (requested > cores) {
    if (warning)
      *warning = "train.threads " + std::to_string(requested) + " is more than the " + std::to_string(cores) +
                 " cores of " + world.host + ": using " + std::to_string(cores) +
                 " (threads beyond the cores only wait on each other)";
    return cores;
  }
  if (requested > 0) return requested;
  return std::max(1, cores / std::max(1, world.local_size));
}

namespace {

std::unique_ptr<Communicator> make_nccl(const World& world, const DeviceSpec& device, double timeout) {
  if (!device.cuda)
    throw ConfigError(
        "dist.backend 'nccl' reduces GPU buffers, but rank " + std::to_string(world.rank) +
        " trains on the CPU: " + (device.why_not_cuda.empty() ? "train.device is cpu" : device.why_not_cuda) +
        " (use dist.backend mpi or auto)");
#if LORASUB_HAVE_NCCL
  std::string why;
  if (cuda_device_count(&why) == 0) throw ConfigError("dist.backend 'nccl': " + why);
  MpiCommunicator control(MPI_COMM_WORLD);
  check_one_gpu_per_rank(control, world, device);  // before NCCL, which would refuse it less clearly
  return std::make_unique<NcclCommunicator>(MPI_COMM_WORLD, device.index, timeout);
#else
  (void)timeout;
  throw ConfigError("dist.backend 'nccl': this lorasub was built without NCCL (CMake found no CUDA "
                    "toolkit with nccl.h; LORASUB_CUDA=AUTO builds it where they are)");
#endif
}

}  // namespace

std::unique_ptr<Communicator> make_communicator(const std::string& backend, const World& world,
                                                const DeviceSpec& device, double nccl_timeout_seconds) {
  if (backend == "local") {
    if (world.size != 1)
      throw ConfigError("dist.backend 'local' needs exactly one rank, the job has " + std::to_string(world.size) +
                        " (use 'auto' or 'mpi')");
    return std::make_unique<LocalCommunicator>();
  }
  if (backend == "nccl" || (backend == "auto" && device.cuda)) return make_nccl(world, device, nccl_timeout_seconds);
  if (backend == "mpi" || (backend == "auto" && world.size > 1)) {
    auto mpi = std::make_unique<MpiCommunicator>(MPI_COMM_WORLD);
    check_one_gpu_per_rank(*mpi, world, device);  // CUDA over MPI: still one GPU per rank
    return mpi;
  }
  if (backend == "auto") return std::make_unique<LocalCommunicator>();
  throw ConfigError("dist.backend '" + backend + "' is not one of: auto, mpi, nccl, local");
}

}  // namespace lorasub::dist
