/** \file
 * The training loop: runs a compiled train step (train_step.h) over batches, feeding it the
 * learning rate of a schedule and the step count, with a progress line, a CSV log of the loss
 * curve and periodic checkpoints.
 *
 * Each step `s` (1, 2, 3, ...) asks the batch source for batch `s`, runs the executable once with
 * `lr = schedule(s)` and `step = s`, and records the loss. Every `log_every` steps it prints
 *
 *     step 120/2000  loss 0.4312  3,410 tok/s  ETA 0:42
 *
 * (the mean loss and the throughput since the previous line), appends `step,loss,lr,tokens_per_s`
 * to the CSV log after every step, and saves a checkpoint every `checkpoint_every` steps and after
 * the last. A run resumed from a checkpoint continues bit-identically when the batch source is a
 * function of the step alone (draw a batch's randomness from a generator keyed by the step).
 *
 * With `validate`, every `validate_every` steps and after the last the model is scored (a dev loss,
 * or any metric where lower is better) and a line `validation at step 200: 0.4311 (best)` is
 * printed; each new best is saved to `best_checkpoint_path`, so the best model survives later,
 * worse steps. The best score and its step are kept in every checkpoint, so a resumed run knows them.
 *
 * Data-parallel (`data_parallel_group`, a train step made with `data_parallel`): every rank of the
 * group runs the same trainer on the same batch source; each feeds the train step its own rows of
 * every batch (rank r of n takes rows [r*B/n, (r+1)*B/n) of each input's dim 0; scalars whole) and
 * its rank as input `rank`. The reported loss is the mean over the ranks, so every rank sees the
 * same curve and stops alike on a non-finite loss. Rank 0 alone prints progress, writes the CSV
 * log and saves checkpoints. An error only one rank sees (a bad batch, an exception of the batch
 * source, the NaN trap, a failed save) ends every rank through Communicator::abort_all, with the
 * message on stderr: a rank that stopped alone would leave the others waiting in a collective.
 */
#pragma once

#include <cstdint>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "frontend/checkpoint.h"
#include "frontend/schedule.h"
#include "runtime/communicator.h"
#include "runtime/executable.h"

namespace weft::train {

/// One batch: a value for every input of the train step except the learning rate and the step.
struct Batch {
  std::map<std::string, Tensor> inputs = {};
  /// Tokens (or examples) in the batch, for the throughput figure; 0 leaves it out.
  int64_t tokens = 0;
};

/// The batch of update number `step` (1, 2, 3, ...).
using BatchSource = std::function<Batch(int64_t step)>;

/// Scores the model after update number `step`: lower is better (a dev loss; negate an accuracy).
/// It reads the train step's state, e.g. by copying it into an inference executable.
using Validation = std::function<double(int64_t step)>;

struct StepReport {
  int64_t step = 0;
  double loss = 0.0;
  double lr = 0.0;
  double seconds = 0.0;              // wall time of this step
  double tokens_per_s = 0.0;         // this step's throughput (0 when the batch counts no tokens)
  std::vector<Tensor> outputs = {};  // every output of the train step, in signature order
  std::optional<double> validation = std::nullopt;  // the score, at the steps `validate` ran
};

struct TrainerOptions {
  /// The number of the last update; `run` stops after it.
  int64_t total_steps = 1000;
  LrSchedule lr = constant_lr(1e-3);
  /// Names in the train step's signature.
  std::string loss_output = "loss";
  std::string lr_input = "lr";
  std::string step_input = "step";
  /// A progress line every this many steps and after the last; 0: none.
  int64_t log_every = 100;
  /// Where progress lines go; null: nowhere.
  std::ostream* progress = &std::cerr;
  /// The loss curve, one row per step (appended to when resuming); empty: none.
  std::string csv_path = {};
  /// A checkpoint every this many steps and after the last; empty path or 0: none.
  std::string checkpoint_path = {};
  int64_t checkpoint_every = 0;
  /// Stop with a weft::Error when the loss is NaN or infinite (suggesting the NaN trap).
  bool stop_on_non_finite_loss = true;
  /// Score the model every this many steps and after the last (0: never; needs `validate`).
  int64_t validate_every = 0;
  Validation validate = {};
  /// Where each new best-scoring state is saved (a checkpoint); empty: not saved.
  std::string best_checkpoint_path = {};
  /// Data-parallel training over the communicator registered for this group (see the file
  /// comment); empty: one process. The train step's input giving the rank, fed when it has one.
  std::string data_parallel_group = {};
  std::string rank_input = "rank";
};

/// The best validation so far.
struct BestValidation {
  int64_t step = 0;
  double score = 0.0;
};

class Trainer {
 public:
  /// Checks that `exe` has the inputs and the loss output the options name, with scalar types.
  /// `exe` must outlive the trainer.
  Trainer(Executable& exe, TrainerOptions options);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  /// Runs update number `steps_done() + 1` on `batch`. Throws weft::Error naming a missing or
  /// unknown input.
  StepReport step(const Batch& batch);

  /// Runs steps until `total_steps`, logging and checkpointing as configured. `on_step` (optional)
  /// sees each report and may return false to stop early.
  void run(const BatchSource& batches, const std::function<bool(const StepReport&)>& on_step = {});

  int64_t steps_done() const { return steps_done_; }
  /// The best validation score so far and its step; nullopt before the first validation.
  std::optional<BestValidation> best() const { return best_; }
  /// The counters a checkpoint records.
  TrainingState state() const;

  /// Saves the executable's state and the counters (checkpoint.h).
  void save(const std::string& path, const WriteProgressHook& on_progress = {}) const;
  /// Restores the executable's state and the counters, so that `run` continues where the saved
  /// run stood.
  void load(const std::string& path);

 private:
  StepReport run_step(const Batch& batch);
  /// Runs `f`; in a data-parallel run, an exception it throws ends every rank (abort_all).
  template <typename F>
  auto on_this_rank_alone(F&& f);
  bool is_rank0() const { return !comm_ || comm_->rank() == 0; }
  void log_step(const StepReport& report);
  void write_csv(const StepReport& report);
  void validate(StepReport& report);

  Executable& exe_;
  TrainerOptions options_;
  std::shared_ptr<Communicator> comm_;  // data-parallel runs only
  size_t loss_index_ = 0;
  int64_t steps_done_ = 0;
  std::optional<BestValidation> best_;
  std::unique_ptr<std::ofstream> csv_;
  // The progress line's window: since the previous line.
  double window_loss_ = 0.0, window_seconds_ = 0.0;
  int64_t window_steps_ = 0, window_tokens_ = 0;
};

/// The progress line: "step 120/2000  loss 0.4312  3,410 tok/s  ETA 0:42" (no throughput when
/// `tokens_per_s` is 0).
std::string progress_line(int64_t step, int64_t total_steps, double loss, double tokens_per_s, double eta_seconds);

}  // namespace weft::train
