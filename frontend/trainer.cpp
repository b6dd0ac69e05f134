#include "frontend/trainer.h"

#include <fmt/format.h>

#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>

namespace weft::train {

namespace {

/// 3410 -> "3,410".
std::string with_thousands(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

/// 42 -> "0:42", 3725 -> "1:02:05".
std::string clock_time(double seconds) {
  auto s = static_cast<int64_t>(std::llround(std::max(seconds, 0.0)));
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

size_t find_spec(const std::vector<TensorSpec>& specs, const std::string& name) {
  for (size_t i = 0; i < specs.size(); ++i)
    if (specs[i].name == name) return i;
  return specs.size();
}

std::string names(const std::vector<TensorSpec>& specs) {
  std::string out;
  for (const TensorSpec& s : specs) out += (out.empty() ? "" : ", ") + s.name;
  return out.empty() ? "none" : out;
}

void expect_scalar_input(const Signature& sig, const std::string& name, DType dtype, const char* meaning) {
  size_t i = find_spec(sig.inputs, name);
  const TensorType want{dtype, {}};
  if (i == sig.inputs.size())
    throw Error(
        fmt::format("Trainer: the executable must take the {} as input '{}' ({}), as make_train_step adds it, "
                    "but its inputs are: {}",
                    meaning, name, want.str(), names(sig.inputs)));
  if (sig.inputs[i].type != want)
    throw Error(fmt::format("Trainer: input '{}' (the {}) must be {}, but it is {}", name, meaning, want.str(),
                            sig.inputs[i].type.str()));
}

}  // namespace

std::string progress_line(int64_t step, int64_t total_steps, double loss, double tokens_per_s, double eta_seconds) {
  std::string line = fmt::format("step {}/{}  loss {:.4f}", step, total_steps, loss);
  if (tokens_per_s > 0) line += fmt::format("  {} tok/s", with_thousands(std::llround(tokens_per_s)));
  line += "  ETA " + clock_time(eta_seconds);
  return line;
}

Trainer::Trainer(Executable& exe, TrainerOptions options) : exe_(exe), options_(std::move(options)) {
  const Signature& sig = exe_.signature();
  expect_scalar_input(sig, options_.lr_input, DType::f32, "learning rate");
  expect_scalar_input(sig, options_.step_input, DType::i64, "step count");
  loss_index_ = find_spec(sig.outputs, options_.loss_output);
  if (loss_index_ == sig.outputs.size())
    throw Error(fmt::format("Trainer: the executable must return the loss as output '{}', but its outputs are: {}",
                            options_.loss_output, names(sig.outputs)));
  const TensorType& loss = sig.outputs[loss_index_].type;
  if (!is_float(loss.dtype) || !loss.shape.empty())
    throw Error(fmt::format("Trainer: the loss '{}' must be a floating-point scalar, but it is {}",
                            options_.loss_output, loss.str()));
  if (!options_.lr) throw Error("Trainer: needs a learning-rate schedule, but `lr` is empty");
  if (options_.total_steps < 0 || options_.log_every < 0 || options_.checkpoint_every < 0 ||
      options_.validate_every < 0)
    throw Error(
        fmt::format("Trainer: total_steps, log_every, checkpoint_every and validate_every must be non-negative, but "
                    "they are {}, {}, {} and {}",
                    options_.total_steps, options_.log_every, options_.checkpoint_every, options_.validate_every));
  if (options_.validate_every > 0 && !options_.validate)
    throw Error(fmt::format("Trainer: validate_every is {}, but there is no `validate` function to call",
                            options_.validate_every));
  if (!options_.best_checkpoint_path.empty() && (options_.validate_every == 0 || !options_.validate))
    throw Error(
        fmt::format("Trainer: best_checkpoint_path '{}' keeps the best-validated state, but nothing "
                    "validates: set validate_every and validate",
                    options_.best_checkpoint_path));
  if (!options_.data_parallel_group.empty()) {
    comm_ = find_communicator(options_.data_parallel_group);
    if (!comm_)
      throw Error(fmt::format(
          "Trainer: data-parallel training over group '{}' needs its communicator registered (CommunicatorScope, "
          "runtime/communicator.h), but none is",
          options_.data_parallel_group));
  }
}

template <typename F>
auto Trainer::on_this_rank_alone(F&& f) {
  if (!comm_ || comm_->size() == 1) return f();
  try {
    return f();
  } catch (const std::exception& e) {
    comm_->abort_all(e.what());
    throw;  // not reached: abort_all ends the process (g++ does not trust [[noreturn]] on a virtual call)
  }
}

Trainer::~Trainer() = default;

namespace {

/// Rows [rank*B/n, (rank+1)*B/n) of `t` along dim 0: this rank's shard of a batch input.
Tensor shard_rows(const Tensor& t, const std::string& name, int rank, int n, int64_t step) {
  if (t.rank() == 0) return t;
  const int64_t rows = t.shape()[0];
  if (rows % n != 0)
    throw Error(
        fmt::format("Trainer: in data-parallel training each of the {} ranks takes an equal share of the "
                    "batch, so input '{}' must have a multiple of {} rows, but batch {} has {} ({})",
                    n, name, n, step, rows, t.type_str()));
  std::vector<int64_t> shape = t.shape();
  shape[0] = rows / n;
  const size_t bytes = t.nbytes() / static_cast<size_t>(n);
  return Tensor::from_bytes(t.dtype(), shape, t.bytes().subspan(bytes * static_cast<size_t>(rank), bytes));
}

}  // namespace

StepReport Trainer::step(const Batch& batch) {
  StepReport report = on_this_rank_alone([&] { return run_step(batch); });
  if (comm_) {
    // The ranks report their mean loss, so that they agree on the curve and on a non-finite loss.
    double loss = report.loss;
    comm_->all_reduce(std::span<double>(&loss, 1), ReduceOp::mean);
    report.loss = loss;
  }
  steps_done_ = report.step;

  window_loss_ += report.loss;
  window_seconds_ += report.seconds;
  window_tokens_ += batch.tokens;
  ++window_steps_;
  if (is_rank0()) on_this_rank_alone([&] { write_csv(report); });
  if (options_.stop_on_non_finite_loss && !std::isfinite(report.loss))
    throw Error(
        fmt::format("Trainer: the loss must stay finite, but it is {} at step {}{}; compile the train step with "
                    "CompileOptions::nan_trap to find the op that first produces a NaN or Inf",
                    report.loss, report.step, comm_ ? " (the mean over the ranks)" : ""));
  return report;
}

StepReport Trainer::run_step(const Batch& batch) {
  const Signature& sig = exe_.signature();
  StepReport report;
  report.step = steps_done_ + 1;
  report.lr = options_.lr(report.step);

  std::vector<Tensor> inputs;
  inputs.reserve(sig.inputs.size());
  for (const TensorSpec& in : sig.inputs) {
    if (in.name == options_.lr_input) {
      inputs.push_back(Tensor::from<float>({}, {static_cast<float>(report.lr)}));
    } else if (in.name == options_.step_input) {
      inputs.push_back(Tensor::from<int64_t>({}, {report.step}));
    } else if (comm_ && in.name == options_.rank_input) {
      inputs.push_back(Tensor::from<int64_t>({}, {int64_t{comm_->rank()}}));
    } else {
      auto it = batch.inputs.find(in.name);
      if (it == batch.inputs.end())
        throw Error(
            fmt::format("Trainer: batch {} must give every input of the train step but '{}' and '{}', but it "
                        "has no '{}' ({})",
                        report.step, options_.lr_input, options_.step_input, in.name, in.type.str()));
      inputs.push_back(comm_ ? shard_rows(it->second, in.name, comm_->rank(), comm_->size(), report.step) : it->second);
    }
  }
  for (const auto& [name, value] : batch.inputs)
    if (find_spec(sig.inputs, name) == sig.inputs.size() || name == options_.lr_input || name == options_.step_input ||
        (comm_ && name == options_.rank_input))
      throw Error(
          fmt::format("Trainer: batch {} gives input '{}', which the train step does not take from a batch "
                      "(its inputs: {})",
                      report.step, name, names(sig.inputs)));

  auto start = std::chrono::steady_clock::now();
  report.outputs = exe_.run(inputs);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  report.loss = report.outputs[loss_index_].at(0);
  // In a data-parallel run the batch's tokens are the ranks' together, as is the time.
  if (batch.tokens > 0 && report.seconds > 0) report.tokens_per_s = static_cast<double>(batch.tokens) / report.seconds;
  return report;
}

void Trainer::run(const BatchSource& batches, const std::function<bool(const StepReport&)>& on_step) {
  if (!batches) throw Error("Trainer::run: needs a batch source, but it is empty");
  while (steps_done_ < options_.total_steps) {
    StepReport report = step(on_this_rank_alone([&] { return batches(steps_done_ + 1); }));
    bool last = report.step == options_.total_steps;
    if (options_.validate_every > 0 && (report.step % options_.validate_every == 0 || last))
      on_this_rank_alone([&] { validate(report); });
    bool go_on = on_this_rank_alone([&] { return !on_step || on_step(report); });
    if (options_.log_every > 0 && (report.step % options_.log_every == 0 || last || !go_on)) log_step(report);
    if (is_rank0() && !options_.checkpoint_path.empty() && options_.checkpoint_every > 0 &&
        (report.step % options_.checkpoint_every == 0 || last))
      on_this_rank_alone([&] { save(options_.checkpoint_path); });
    if (!go_on) break;
  }
}

void Trainer::validate(StepReport& report) {
  const double score = options_.validate(report.step);
  report.validation = score;
  const bool better = !best_ || score < best_->score;  // NaN never is
  if (better) {
    best_ = BestValidation{report.step, score};
    if (is_rank0() && !options_.best_checkpoint_path.empty()) save(options_.best_checkpoint_path);
  }
  if (options_.progress && is_rank0())
    *options_.progress << fmt::format(
                              "validation at step {}: {:.4f}{}", report.step, score,
                              better ? " (best)" : fmt::format(" (best {:.4f} at step {})", best_->score, best_->step))
                       << std::endl;
}

void Trainer::log_step(const StepReport& report) {
  if (options_.progress && is_rank0() && window_steps_ > 0) {
    double per_step = window_seconds_ / static_cast<double>(window_steps_);
    double eta = per_step * static_cast<double>(options_.total_steps - report.step);
    double tokens_per_s = window_seconds_ > 0 ? static_cast<double>(window_tokens_) / window_seconds_ : 0.0;
    *options_.progress << progress_line(report.step, options_.total_steps,
                                        window_loss_ / static_cast<double>(window_steps_), tokens_per_s, eta)
                       << std::endl;
  }
  window_loss_ = window_seconds_ = 0.0;
  window_steps_ = window_tokens_ = 0;
}

void Trainer::write_csv(const StepReport& report) {
  if (options_.csv_path.empty()) return;
  if (!csv_) {
    // A resumed run continues the log of the run it resumes, dropping the rows that run wrote
    // after its checkpoint (they are about to be redone).
    std::vector<std::string> kept;
    if (report.step > 1) {
      std::ifstream old(options_.csv_path);
      std::string line;
      while (std::getline(old, line)) {
        int64_t row_step = 0;
        if (std::sscanf(line.c_str(), "%" SCNd64, &row_step) == 1 && row_step < report.step) kept.push_back(line);
      }
    }
    csv_ = std::make_unique<std::ofstream>(options_.csv_path, std::ios::trunc);
    if (!*csv_) throw Error(fmt::format("Trainer: cannot open the CSV log '{}' for writing", options_.csv_path));
    *csv_ << "step,loss,lr,tokens_per_s\n";
    for (const std::string& line : kept) *csv_ << line << '\n';
  }
  *csv_ << fmt::format("{},{:.9g},{:.9g},{:.1f}\n", report.step, report.loss, report.lr, report.tokens_per_s);
  csv_->flush();  // a killed run keeps its curve
  if (!*csv_) throw Error(fmt::format("Trainer: cannot write the CSV log '{}'", options_.csv_path));
}

// The best validation rides in the checkpoint's metadata, so a resumed run keeps comparing with it.
constexpr const char* kBestStepKey = "trainer.best_step";
constexpr const char* kBestScoreKey = "trainer.best_score";

TrainingState Trainer::state() const {
  TrainingState s;
  s.step = steps_done_;
  s.rng_offset = static_cast<uint64_t>(steps_done_);
  if (best_) {
    s.metadata[kBestStepKey] = std::to_string(best_->step);
    s.metadata[kBestScoreKey] = fmt::format("{:.17g}", best_->score);
  }
  return s;
}

void Trainer::save(const std::string& path, const WriteProgressHook& on_progress) const {
  save_checkpoint(path, exe_, state(), on_progress);
}

void Trainer::load(const std::string& path) {
  TrainingState s = load_checkpoint(path, exe_);
  steps_done_ = s.step;
  best_.reset();
  auto step_it = s.metadata.find(kBestStepKey), score_it = s.metadata.find(kBestScoreKey);
  if (step_it != s.metadata.end() && score_it != s.metadata.end()) {
    try {
      best_ = BestValidation{std::stoll(step_it->second), std::stod(score_it->second)};
    } catch (const std::exception&) {
      throw Error(fmt::format("{}: the best validation it records ({} = '{}', {} = '{}') is not a step and a number",
                              path, kBestStepKey, step_it->second, kBestScoreKey, score_it->second));
    }
  }
  window_loss_ = window_seconds_ = 0.0;
  window_steps_ = window_tokens_ = 0;
}

}  // namespace weft::train
