// The process's place in the job: MPI start-up, ranks, local ranks, host name.
#pragma once
#include <memory>
#include <string>
#include "lorasub/dist/communicator.h"

namespace lorasub::dist {

struct World {
  int rank = 0;        // global rank
  int size = 1;        // number of ranks
  int local_rank = 0;  // rank among the ranks on this host
  int local_size = 1;  // ranks on this host
  std::string host;
  bool is_root() const { return rank == 0; }
};

// Owns MPI for the life of the process: MPI_Init_thread in the constructor (works
// under mpirun, srun --mpi=pmix and as a singleton), MPI_Finalize in the destructor.
class MpiRuntime {
 public:
  MpiRuntime(int* argc, char*** argv);
  ~MpiRuntime();
  MpiRuntime(const MpiRuntime&) = delete;
  MpiRuntime& operator=(const MpiRuntime&) = delete;
  const World& world() const { return world_; }

 private:
  World world_;
};

// Intra-op threads for this rank: `requested` if > 0, else cores / ranks on the host
// (at least 1). More than the host's cores is cut to the cores, with *warning saying so.
int threads_per_rank(int requested, const World& world, std::string* warning = nullptr);

// The training device as dist sees it (torch-free): the CPU, or CUDA device `index`.
struct DeviceSpec {
  bool cuda = false;
  int index = 0;
  std::string why_not_cuda;  // for the CPU: why no GPU is used (for messages)
};

// backend: "auto" (nccl on a CUDA device, else MPI when size > 1, else local), "mpi",
// "local", "nccl". nccl_timeout_seconds: see NcclCommunicator. Throws ConfigError for a
// backend that cannot serve this world or device, naming the cause.
std::unique_ptr<Communicator> make_communicator(const std::string& backend, const World& world,
                                                const DeviceSpec& device = {}, double nccl_timeout_seconds = 600);

}  // namespace lorasub::dist
