// The program tests/distributed starts with `mpirun -np 2`: every rank trains the model of
// ddp_model.h data-parallel on the LLVM backend and writes its parameters, or fails as asked.
//
//   ddp_worker train DIR   each rank writes DIR/rank<r>.txt: "name hexfloat..." per parameter
//   ddp_worker throw DIR   rank 1's batch source throws at step 3
//   ddp_worker nan DIR     rank 1's batch at step 2 holds a NaN
#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <limits>
#include <stdexcept>

#include "backends/backend.h"
#include "runtime/communicator.h"
#include "tests/distributed/ddp_model.h"

using namespace weft;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: ddp_worker train|throw|nan DIR\n");
    return 2;
  }
  const std::string mode = argv[1], dir = argv[2];
  CommunicatorScope world("world", make_mpi_communicator());
  const int rank = world.communicator().rank();
  try {
    auto exe = make_backend("llvm")->compile(
        train::make_train_step(ddp_testing::regression_model(), ddp_testing::step_options(true)));
    train::Trainer trainer(*exe, {.total_steps = ddp_testing::kSteps,
                                  .lr = train::constant_lr(0.05),
                                  .log_every = ddp_testing::kSteps,
                                  .progress = &std::cout,
                                  .data_parallel_group = "world"});
    trainer.run([&](int64_t step) {
      train::Batch batch = ddp_testing::whole_batch(step);
      if (mode == "throw" && rank == 1 && step == 3) throw std::runtime_error("rank 1 cannot read batch 3");
      if (mode == "nan" && rank == 1 && step == 2)
        batch.inputs.at("x").data<float>()[3 * ddp_testing::kBatchRows / 2] = std::numeric_limits<float>::quiet_NaN();
      return batch;
    });
    std::ofstream out(fmt::format("{}/rank{}.txt", dir, rank));
    for (const TensorSpec& s : exe->signature().state) {
      out << s.name;
      Tensor value = exe->state(s.name);
      for (int64_t i = 0; i < value.numel(); ++i) out << fmt::format(" {:a}", value.at(i));
      out << '\n';
    }
    return out ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", fmt::format("rank {}: {}", rank, e.what()).c_str());  // one write per line
    return 1;
  }
}
