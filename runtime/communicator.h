/** \file
 * The communicator of data-parallel training: the collectives a process group offers the kernels.
 *
 * A `Communicator` is one process's view of a group of `size()` processes (ranks 0 to size-1) that
 * run the same program: `all_reduce` sums (or averages) a buffer element-wise across them, in
 * place, `barrier` waits for every rank, and `abort_all` stops every rank with a message. The
 * `all_reduce` op's kernel finds the communicator of its `group` attribute in a registry
 * (`register_communicator`); with none registered, or a group of one process, it is the identity,
 * so a data-parallel train step runs unchanged in a single process.
 *
 * The transport is Open MPI (`make_mpi_communicator`, runtime/mpi_communicator.cpp, the only file
 * that includes mpi.h); a build without Open MPI has everything else and says so when asked for it.
 * Every rank must make the same collective calls in the same order: ranks that compile the same
 * graph do. The all-reduce result is bit-identical on every rank (MPI's reductions combine the
 * ranks' contributions in one order for all of them; see docs/distributed.md).
 */
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace weft {

enum class ReduceOp : uint8_t { sum, mean };

/// "sum" / "mean" -> ReduceOp; throws weft::Error naming the accepted words otherwise.
ReduceOp reduce_op_from_name(const std::string& name);
const char* reduce_op_name(ReduceOp op);

/// What the collectives cost so far (for docs/distributed.md's table and the examples' reports).
struct CommunicatorStats {
  int64_t all_reduce_calls = 0;
  int64_t all_reduce_bytes = 0;
  double all_reduce_seconds = 0.0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// Replaces `data` on every rank by the element-wise sum (or mean) of all ranks' `data`. Every
  /// rank passes the same number of elements.
  virtual void all_reduce(std::span<float> data, ReduceOp op) = 0;
  virtual void all_reduce(std::span<double> data, ReduceOp op) = 0;
  /// Returns when every rank has called it.
  virtual void barrier() = 0;
  /// Prints "weft: rank R of N: <message>" on stderr and ends every rank of the group with exit
  /// status 1 (a rank that fails alone cannot leave the others waiting in a collective).
  [[noreturn]] virtual void abort_all(const std::string& message) = 0;
  virtual CommunicatorStats stats() const = 0;
};

/// The communicator of `group` (kernels of all_reduce look it up by their `group` attribute), or
/// null when none is registered. Thread-safe.
std::shared_ptr<Communicator> find_communicator(const std::string& group);
/// Makes `comm` the communicator of `group`, replacing any; null removes the group's entry.
void register_communicator(const std::string& group, std::shared_ptr<Communicator> comm);

/// Registers a communicator for as long as it lives: the usual way a program joins a group.
class CommunicatorScope {
 public:
  CommunicatorScope(std::string group, std::shared_ptr<Communicator> comm);
  ~CommunicatorScope();
  CommunicatorScope(const CommunicatorScope&) = delete;
  CommunicatorScope& operator=(const CommunicatorScope&) = delete;
  Communicator& communicator() const { return *comm_; }

 private:
  std::string group_;
  std::shared_ptr<Communicator> comm_;
};

/// Whether this build of Weft has the Open MPI communicator.
bool have_mpi();
/// The processes started together by `mpirun` as one group (MPI_COMM_WORLD). Initializes MPI on
/// first use and finalizes it when the last communicator it made is gone; a program started
/// without mpirun is a group of one. Throws weft::Error when Weft was built without Open MPI.
std::shared_ptr<Communicator> make_mpi_communicator();

}  // namespace weft
