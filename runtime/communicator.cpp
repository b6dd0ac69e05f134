#include "runtime/communicator.h"

#include <fmt/format.h>

#include <map>
#include <mutex>

#include "ir/error.h"

namespace weft {

ReduceOp reduce_op_from_name(const std::string& name) {
  if (name == "sum") return ReduceOp::sum;
  if (name == "mean") return ReduceOp::mean;
  throw Error(fmt::format("all_reduce: 'reduce' must be \"sum\" or \"mean\", but got \"{}\"", name));
}

const char* reduce_op_name(ReduceOp op) { return op == ReduceOp::sum ? "sum" : "mean"; }

namespace {

struct Registry {
  std::mutex mutex;
  std::map<std::string, std::shared_ptr<Communicator>> groups;
};

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

std::shared_ptr<Communicator> find_communicator(const std::string& group) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  auto it = r.groups.find(group);
  return it == r.groups.end() ? nullptr : it->second;
}

void register_communicator(const std::string& group, std::shared_ptr<Communicator> comm) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  if (comm)
    r.groups[group] = std::move(comm);
  else
    r.groups.erase(group);
}

CommunicatorScope::CommunicatorScope(std::string group, std::shared_ptr<Communicator> comm)
    : group_(std::move(group)), comm_(std::move(comm)) {
  if (!comm_) throw Error(fmt::format("CommunicatorScope: group '{}' needs a communicator, but got none", group_));
  register_communicator(group_, comm_);
}

CommunicatorScope::~CommunicatorScope() {
  if (find_communicator(group_) == comm_) register_communicator(group_, nullptr);
}

#ifndef WEFT_HAVE_MPI
bool have_mpi() { return false; }

std::shared_ptr<Communicator> make_mpi_communicator() {
  throw Error(
      "make_mpi_communicator: this build of Weft has no Open MPI (CMake did not find it); install "
      "libopenmpi-dev and openmpi-bin (scripts/install-deps.sh) and configure again");
}
#endif

}  // namespace weft
