/** \file
 * A communicator for the tests that need no MPI: one rank of a group of two whose peer mirrors
 * it (its contribution is this rank's own buffer, or a fixed one), recording every call. Its
 * abort_all throws, so a test can read the message a real run would print before stopping.
 */
#pragma once

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/communicator.h"

namespace weft::ddp_testing {

class MirrorCommunicator final : public Communicator {
 public:
  explicit MirrorCommunicator(int rank, std::vector<double> peer = {}) : rank_(rank), peer_(std::move(peer)) {}
  int rank() const override { return rank_; }
  int size() const override { return 2; }
  void all_reduce(std::span<float> data, ReduceOp op) override { reduce(data, op); }
  void all_reduce(std::span<double> data, ReduceOp op) override { reduce(data, op); }
  void barrier() override {}
  [[noreturn]] void abort_all(const std::string& message) override {
    throw std::runtime_error("abort_all: " + message);
  }
  CommunicatorStats stats() const override { return {}; }

  /// The element count of each all_reduce call so far.
  std::vector<size_t> calls;

 private:
  template <typename T>
  void reduce(std::span<T> data, ReduceOp op) {
    calls.push_back(data.size());
    for (size_t i = 0; i < data.size(); ++i) {
      T peer = peer_.empty() ? data[i] : static_cast<T>(peer_[i % peer_.size()]);
      data[i] = op == ReduceOp::sum ? data[i] + peer : (data[i] + peer) / T(2);
    }
  }
  int rank_;
  std::vector<double> peer_;
};

}  // namespace weft::ddp_testing
