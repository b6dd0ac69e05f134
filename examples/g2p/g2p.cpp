// The grapheme-to-phoneme demo (`make demo`, docs/g2p.md): trains the reference Transformer on the
// CMU dictionary for a wall-clock budget, scores it on the test words with greedy and beam search,
// prints a few pronunciations, draws the report and exports the graphs and weights that
// `weft-compile --decode` turns into a shared object (examples/demo.sh does that part).
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>

#include "backends/backend.h"
#include "examples/g2p/average.h"
#include "examples/g2p/evaluate.h"
#include "examples/g2p/export.h"
#include "examples/g2p/model.h"
#include "examples/g2p/report.h"
#include "examples/g2p/training.h"
#include "frontend/inference.h"
#include "frontend/train_step.h"
#include "frontend/trainer.h"
#include "ir/safetensors.h"
#include "ir/text.h"

namespace fs = std::filesystem;
namespace train = weft::train;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string dictionary = g2p::kDictionaryPath;
  std::string out = "out/g2p";
  double minutes = 10.0;
  int64_t max_steps = 0;  // 0: no limit but the budget
  bool test = true;
  bool until_converged = false;
  int64_t patience = 3;
  bool resume = false;
  int64_t batch = 64;
  int64_t warmup = 400;
  double lr_factor = 0.5;
  double ema = 0.999;  // 0: evaluate and export the last weights (the reference)
  double eval_minutes = 2.0;
  int64_t dev_curve_words = 1000;
  int64_t beam = 4;
  uint64_t seed = 1234;
  // The demo trains without dropout (the reference: 0.1): about three epochs in ten minutes leave
  // nothing to regularize, and dropout only slowed learning (docs/g2p.md, choosing the recipe).
  g2p::ModelConfig model = {.dropout = 0.0};
  std::string kind = "transformer";
  double lstm_lr = 1e-3;
  std::string weft_dump;
};

std::string clock_text(double seconds) {
  auto s = static_cast<int64_t>(seconds + 0.5);
  return s >= 3600 ? fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
                   : fmt::format("{}:{:02}", s / 60, s % 60);
}

std::string thousands(double v) {
  std::string digits = fmt::format("{:.0f}", v), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : " ") + x;
  return s;
}

int run(const Options& o) {
  fs::create_directories(o.out);
  const std::string checkpoint = o.out + "/checkpoint.safetensors", best = o.out + "/best.safetensors";

  // --- data ---
  g2p::Lexicon lexicon = g2p::load_lexicon(o.dictionary);
  for (const std::string& p : lexicon.problems) std::cerr << "g2p: warning: " << p << "\n";
  g2p::Split split = g2p::split_lexicon(lexicon);
  auto [letters, phones] = g2p::make_vocabs(split.train);
  g2p::ModelConfig config = o.model;
  const bool lstm = o.kind == "lstm";
  if (lstm) config.kind = g2p::ModelKind::lstm, config.label_smoothing = 0.0;
  config.src_vocab = letters.size();
  config.tgt_vocab = phones.size();
  std::cout << fmt::format(
      "data: {} lines, {} malformed, {} duplicates; {} words: train/dev/test {}/{}/{}; {} letters, {} phonemes\n",
      lexicon.stats.lines, lexicon.problems.size(), lexicon.stats.duplicate, lexicon.words.size(), split.train.size(),
      split.dev.size(), split.test.size(), letters.size() - 4, phones.size() - 4);
  train::SequenceLoader loader = g2p::make_loader(split.train, letters, phones, o.batch, o.seed);

  // --- the train step ---
  auto backend = weft::make_backend("llvm");
  train::Compiler compile = [&](const weft::Graph& g) { return backend->compile(g); };
  weft::dsl::Builder b("g2p");
  g2p::build_train_graph(b, config);
  weft::Graph model = b.finish();
  weft::write_graph_file(o.out + "/model.weft", model);
  auto t0 = Clock::now();
  // The reference: Adam(0.9, 0.98, eps 1e-9) for the Transformer, PyTorch's defaults for the LSTM.
  train::AdamOptions adam = lstm ? train::AdamOptions{} : train::AdamOptions{.beta1 = 0.9, .beta2 = 0.98, .eps = 1e-9};
  auto exe = compile(train::make_train_step(model, {.optimizer = adam}));
  std::cout << fmt::format("model: {}; compiled in {:.1f} s\n", g2p::describe(config),
                           std::chrono::duration<double>(Clock::now() - t0).count());
  // With --ema the Trainer runs the train step through the average, whose state (and so every
  // checkpoint) holds the averages beside the parameters.
  std::unique_ptr<g2p::AveragedTrainStep> averaged;
  if (o.ema > 0) averaged = std::make_unique<g2p::AveragedTrainStep>(*exe, o.ema);
  train::Trainer trainer(
      averaged ? *averaged : *exe,
      {.total_steps = int64_t{1} << 40,
       .lr = lstm ? train::constant_lr(o.lstm_lr) : train::transformer_lr(config.d_model, o.warmup, o.lr_factor),
       .log_every = 0,
       .progress = nullptr});
  g2p::Curves curves;
  if (o.resume && fs::exists(checkpoint)) {
    if (g2p::checkpoint_has_averages(checkpoint) != (averaged != nullptr))
      throw weft::Error(
          fmt::format("cannot resume from {}: it was saved {} --ema, and this run has {}; resume with "
                      "the --ema of the run that saved it (--ema 0: none)",
                      checkpoint, averaged ? "without" : "with", averaged ? fmt::format("--ema {}", o.ema) : "none"));
    trainer.load(checkpoint);
    curves = g2p::read_curves(o.out);
    std::cout << fmt::format("resumed from {} at step {}\n", checkpoint, trainer.steps_done());
  } else if (o.resume) {
    std::cout << fmt::format("no checkpoint {} to resume from: starting afresh\n", checkpoint);
  }

  // The inference graphs with the averaged parameters (--ema), or the last ones.
  auto decoders = [&](bool average = true) {
    auto pair =
        std::pair{train::inference_executable(
                      *exe, "encode", [&](weft::dsl::Builder& g) { g2p::build_encode_graph(g, config); }, compile),
                  train::inference_executable(
                      *exe, "decode_step", [&](weft::dsl::Builder& g) { g2p::build_step_graph(g, config); }, compile)};
    if (averaged && average) averaged->copy_averages_to(*pair.first), averaged->copy_averages_to(*pair.second);
    return pair;
  };
  std::vector<g2p::Word> dev_curve(split.dev.begin(),
                                   split.dev.begin() + std::min<int64_t>(o.dev_curve_words, split.dev.size()));

  // --- training, for the budget (or until dev PER stops improving) ---
  // Training seconds continue from a resumed run's curves, so that they read as one run.
  double trained = curves.loss.empty() ? 0.0 : curves.loss.back().seconds;
  const double budget = trained + o.minutes * 60.0;
  double window_loss = 0.0, window_seconds = 0.0, best_per = 1e9, session = 0.0;
  int64_t window_tokens = 0, window_steps = 0, total_tokens = 0, stale = 0, session_steps = 0;
  double next_log = trained + 10.0, next_eval = trained + o.eval_minutes * 60.0, next_save = trained + 120.0;
  std::cout << (o.until_converged ? "training until dev PER stops improving"
                                  : fmt::format("training for {} (DEMO_MINUTES)", clock_text(o.minutes * 60.0)))
            << (o.max_steps ? fmt::format(" or up to step {}", o.max_steps) : "") << "\n";
  auto more_steps = [&] { return o.max_steps == 0 || trainer.steps_done() < o.max_steps; };
  while ((o.until_converged || trained < budget) && more_steps()) {
    auto start = Clock::now();  // batching counts, as in the reference
    train::Batch batch = g2p::target_token_batch(loader, trainer.steps_done() + 1);
    train::StepReport r = trainer.step(batch);
    double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    int64_t tokens = batch.tokens;
    trained += seconds, session += seconds, ++session_steps;
    window_loss += r.loss, window_seconds += seconds, window_tokens += tokens, ++window_steps, total_tokens += tokens;
    curves.loss.push_back({r.step, trained, r.loss});
    const bool last = (!o.until_converged && trained >= budget) || !more_steps();
    if (trained >= next_log || last) {
      double rate = window_tokens / window_seconds;
      std::cout << fmt::format("step {}  epoch {:.2f}  loss {:.4f}  lr {:.2e}  {} tok/s  trained {}", r.step,
                               static_cast<double>(r.step) / loader.batches_per_epoch(), window_loss / window_steps,
                               r.lr, thousands(rate), clock_text(trained))
                << (o.until_converged ? "" : fmt::format("  ETA {}", clock_text(std::max(0.0, budget - trained))))
                << std::endl;
      curves.tokens_per_s.push_back({r.step, trained, rate});
      window_loss = window_seconds = 0.0, window_tokens = window_steps = 0;
      next_log += 10.0;
    }
    if (trained >= next_eval && !last) {
      auto [encode, step] = decoders();
      g2p::Evaluation e = g2p::evaluate(*encode, *step, letters, phones, o.until_converged ? split.dev : dev_curve, {});
      curves.dev_per.push_back({r.step, trained, e.rates.per()});
      std::cout << fmt::format("dev at step {}: PER {:.2f}%  WER {:.2f}% ({} words, {:.1f} s)\n", r.step, e.rates.per(),
                               e.rates.wer(), e.rates.words(), e.seconds);
      if (o.until_converged) {
        if (e.rates.per() < best_per) {
          best_per = e.rates.per(), stale = 0;
          trainer.save(best);
        } else if (++stale >= o.patience) {
          std::cout << fmt::format("dev PER has not improved for {} evaluations: stopping, keeping the best\n", stale);
          trainer.load(best);
          break;
        }
      }
      next_eval += o.eval_minutes * 60.0;
    }
    if (trained >= next_save) {
      trainer.save(checkpoint);
      next_save += 120.0;
    }
  }
  trainer.save(checkpoint);
  g2p::write_curves(o.out, curves);
  const double tokens_per_s = static_cast<double>(total_tokens) / std::max(session, 1e-9);
  std::cout << fmt::format("trained {} steps in {} ({} target tokens/s); checkpoint {}\n", trainer.steps_done(),
                           clock_text(session), thousands(tokens_per_s), checkpoint);
  if (averaged && session_steps > 0)
    std::cout << fmt::format("the parameter average (--ema {}) took {:.1f} ms a step of the training time\n", o.ema,
                             1e3 * averaged->seconds_averaging() / session_steps);

  // --- evaluation ---
  auto [encode, step] = decoders();
  g2p::Results results;
  results.minutes = trained / 60.0, results.steps = trainer.steps_done(), results.tokens_per_s = tokens_per_s;
  results.beam = o.beam;
  results.model = g2p::describe(config);
  results.heads_per_layer = lstm ? 0 : config.heads;
  g2p::Evaluation dev = g2p::evaluate(*encode, *step, letters, phones, split.dev, {});
  results.rows = {{"dev, greedy", dev.rates, dev.seconds}};
  if (averaged) {  // what the average adds, on dev
    auto [last_encode, last_step] = decoders(false);
    g2p::Evaluation last = g2p::evaluate(*last_encode, *last_step, letters, phones, split.dev, {});
    results.rows.push_back({"dev, greedy, last weights", last.rates, last.seconds});
  }
  // --no-test: recipes are compared on dev, and the test words stay unseen until the chosen one.
  g2p::Evaluation greedy, beam;
  if (o.test) {
    greedy = g2p::evaluate(*encode, *step, letters, phones, split.test, {});
    beam = g2p::evaluate(*encode, *step, letters, phones, split.test, {.beam = o.beam});
    results.rows.push_back({"test, greedy", greedy.rates, greedy.seconds});
    results.rows.push_back({fmt::format("test, beam {}", o.beam), beam.rates, beam.seconds});
  }
  std::cout << "\n";
  for (const g2p::ResultRow& row : results.rows)
    std::cout << fmt::format("{:<26} PER {:6.2f}%   WER {:6.2f}%   ({} words, {:.1f} s)\n", row.name, row.rates.per(),
                             row.rates.wer(), row.rates.words(), row.seconds);

  if (o.test) std::cout << "\nsome test words (beam search):\n";
  for (size_t i = 0; o.test && i < 12 && i < split.test.size(); ++i) {
    const g2p::Word& w = split.test[i];
    bool right = beam.decoded[i].phonemes == w.phonemes;
    results.samples.push_back({w.spelling, joined(w.phonemes), joined(beam.decoded[i].phonemes), right});
    std::cout << fmt::format("  {:<14} {:<28} {}\n", w.spelling, joined(beam.decoded[i].phonemes),
                             right ? "ok" : "(dictionary: " + joined(w.phonemes) + ")");
  }

  // --- report and export ---
  std::vector<std::string> shown = {"phoneme", "knight", "weft", "through", "cough"};
  std::vector<g2p::Pronunciation> drawn =
      g2p::pronounce(*encode, *step, letters, phones, shown, {.beam = 1, .attention = true});
  for (size_t i = 0; i < shown.size(); ++i) results.attention.push_back({shown[i], drawn[i]});
  std::string graph_svg;
  if (!o.weft_dump.empty()) {
    std::string svg = o.out + "/model.svg";
    std::string cmd =
        fmt::format("'{}' '{}/model.weft' --format svg --depth 2 -o '{}' 2>/dev/null", o.weft_dump, o.out, svg);
    if (std::system(cmd.c_str()) == 0) graph_svg = svg;
  }
  g2p::write_report(o.out + "/report.html", results, curves, graph_svg);
  weft::write_graph_file(o.out + "/encode.weft",
                         g2p::graph_of("encode", [&](weft::dsl::Builder& g) { g2p::build_encode_graph(g, config); }));
  weft::write_graph_file(o.out + "/decode_step.weft", g2p::graph_of("decode_step", [&](weft::dsl::Builder& g) {
                           g2p::build_step_graph(g, config);
                         }));
  g2p::save_inference_weights(o.out + "/weights.safetensors", *encode, *step);
  g2p::write_vocab_header(o.out + "/g2p_vocab.h", letters, phones);
  g2p::write_results_json(o.out + "/results.json", results);
  std::cout << fmt::format(
      "\nwrote {0}/report.html, {0}/results.json, {0}/curves.csv, and for weft-compile: "
      "{0}/encode.weft, {0}/decode_step.weft, {0}/weights.safetensors, {0}/g2p_vocab.h\n",
      o.out);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app(
      "example_g2p: train, evaluate and export the CMU-dictionary grapheme-to-phoneme Transformer "
      "(docs/g2p.md)");
  app.add_option("--dictionary", o.dictionary, "cmudict-0.4.out (Debian's festlex-cmu)");
  app.add_option("--out", o.out, "output directory (default out/g2p)");
  app.add_option("--minutes", o.minutes, "training wall-clock budget in minutes (default 10)")
      ->check(CLI::PositiveNumber);
  app.add_option("--max-steps", o.max_steps,
                 "stop after this many steps in all (a resumed run's included) if the budget lasts that long")
      ->check(CLI::PositiveNumber);
  app.add_flag("!--no-test", o.test, "score dev only (greedy), leaving the test words out of the final evaluation");
  app.add_flag("--until-converged", o.until_converged, "train until dev PER stops improving (ignores --minutes)");
  app.add_option("--patience", o.patience, "--until-converged: evaluations without improvement before stopping")
      ->check(CLI::PositiveNumber);
  app.add_flag("--resume", o.resume, "continue from OUT/checkpoint.safetensors when it exists");
  app.add_option("--batch", o.batch, "words per batch (default 64; the reference: 256)")
      ->check(CLI::Range(1, int(g2p::kMaxBatch)));
  app.add_option("--warmup", o.warmup,
                 "warm-up steps of the inverse-square-root schedule (default 400; the reference: 4000)")
      ->check(CLI::PositiveNumber);
  app.add_option("--lr-factor", o.lr_factor,
                 "f of the schedule lr = f * d^-0.5 * min(s^-0.5, s * w^-1.5) (default 0.5; the reference: 1)")
      ->check(CLI::PositiveNumber);
  app.add_option("--ema", o.ema,
                 "evaluate and export an exponential moving average of the parameters with this decay (default "
                 "0.999; 0: the last parameters, as the reference)")
      ->check(CLI::Range(0.0, 0.9999));
  app.add_option("--eval-minutes", o.eval_minutes, "dev evaluation every this many training minutes")
      ->check(CLI::PositiveNumber);
  app.add_option("--beam", o.beam, "beam width of the test evaluation")->check(CLI::Range(2, 64));
  app.add_option("--seed", o.seed, "the data order's seed");
  app.add_option("--model", o.kind, "transformer (default) or lstm (LSTM encoder-decoder, additive attention)")
      ->check(CLI::IsMember({"transformer", "lstm"}));
  app.add_option("--lstm-lr", o.lstm_lr, "--model lstm: Adam's constant learning rate (default 1e-3)")
      ->check(CLI::PositiveNumber);
  app.add_option("--d-model", o.model.d_model, "model width, the LSTM's hidden size (default 256)")
      ->check(CLI::PositiveNumber);
  app.add_option("--layers", o.model.layers, "encoder and decoder layers (default 3)")->check(CLI::PositiveNumber);
  app.add_option("--heads", o.model.heads, "attention heads (default 4)")->check(CLI::PositiveNumber);
  app.add_option("--ff", o.model.feedforward, "feed-forward width (default 1024)")->check(CLI::PositiveNumber);
  app.add_option("--dropout", o.model.dropout, "the Transformer's dropout (default 0; the reference: 0.1)")
      ->check(CLI::Range(0.0, 0.9));
  app.add_option("--label-smoothing", o.model.label_smoothing, "the Transformer's label smoothing (default 0.1)")
      ->check(CLI::Range(0.0, 0.9));
  app.add_option("--weft-dump", o.weft_dump, "weft-dump's path, to draw the model's graph into the report");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::cerr << "example_g2p: " << e.what() << "\n";
    return 1;
  }
}
