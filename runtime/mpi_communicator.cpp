/** \file
 * The Open MPI communicator: MPI_COMM_WORLD of the processes `mpirun` started. The only file of
 * Weft that includes mpi.h; CMake compiles it only when it finds Open MPI (WEFT_HAVE_MPI).
 *
 * All-reduce is MPI_Allreduce in place on the caller's buffer (no copy of ours). Its result is the
 * same bits on every rank: Open MPI's algorithms combine the contributions in one order for all
 * ranks, and the mean divides that sum by the size on each rank alike.
 */
// The C API only: Open MPI's deprecated C++ bindings would need libmpi_cxx at link time.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <fmt/format.h>
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "ir/error.h"
#include "runtime/communicator.h"

namespace weft {

namespace {

void check_mpi(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw Error(fmt::format("{} failed: {}", what, std::string(text, static_cast<size_t>(length))));
}

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  ~MpiCommunicator() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void all_reduce(std::span<float> data, ReduceOp op) override { reduce(data, MPI_FLOAT, op); }
  void all_reduce(std::span<double> data, ReduceOp op) override { reduce(data, MPI_DOUBLE, op); }

  void barrier() override { check_mpi(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }

  [[noreturn]] void abort_all(const std::string& message) override {
    std::fprintf(stderr, "weft: rank %d of %d: %s\n", rank_, size_, message.c_str());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
    std::_Exit(1);  // MPI_Abort does not return; this is for an MPI that would
  }

  CommunicatorStats stats() const override { return stats_; }

 private:
  template <typename T>
  void reduce(std::span<T> data, MPI_Datatype type, ReduceOp op) {
    auto start = std::chrono::steady_clock::now();
    // MPI counts are ints: a larger buffer goes in pieces.
    for (size_t done = 0; done < data.size();) {
      int count = static_cast<int>(std::min<size_t>(data.size() - done, INT_MAX));
      check_mpi(MPI_Allreduce(MPI_IN_PLACE, data.data() + done, count, type, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
      done += static_cast<size_t>(count);
    }
    if (op == ReduceOp::mean)
      for (T& x : data) x /= static_cast<T>(size_);
    stats_.all_reduce_calls += 1;
    stats_.all_reduce_bytes += static_cast<int64_t>(data.size_bytes());
    stats_.all_reduce_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }

  int rank_ = 0;
  int size_ = 1;
  CommunicatorStats stats_;
};

}  // namespace

bool have_mpi() { return true; }

std::shared_ptr<Communicator> make_mpi_communicator() {
  // One communicator per process: MPI is initialized once and cannot start again after it finalized.
  static std::mutex mutex;
  static std::weak_ptr<Communicator> current;
  std::lock_guard lock(mutex);
  if (std::shared_ptr<Communicator> live = current.lock()) return live;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized)
    throw Error(
        "make_mpi_communicator: MPI was finalized when the previous communicator was released, and MPI cannot "
        "start twice in one process; keep one communicator for the whole run");
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    // Kernels may run on any thread of the pool, one collective at a time.
    int provided = 0;
    check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided), "MPI_Init_thread");
  }
  auto comm = std::make_shared<MpiCommunicator>();
  current = comm;
  return comm;
}

}  // namespace weft
