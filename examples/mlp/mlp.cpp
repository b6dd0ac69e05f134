/** \file
 * A two-layer perceptron (784 -> 256 -> 10, ReLU) written with the builder DSL, saved as text IR
 * and run once on the reference interpreter.
 *
 *   example_mlp [out/mlp.weft]
 *
 * The graph's batch dim is the symbol B, bounded at 4096 where the input is declared; the run binds
 * it to 4. Parameters are initialized as PyTorch's nn.Linear does (deterministic seeds), so the
 * printed numbers are the same on every machine.
 */
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <random>
#include <source_location>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "frontend/builder.h"
#include "frontend/tensor_ops.h"
#include "ir/init.h"
#include "ir/text.h"

namespace {

using weft::dsl::Tensor;

/// y = x Wᵀ + b, with nn.Linear's parameter names and initializers. Its nodes (and any shape error)
/// point at the line that called it.
Tensor linear(weft::Builder& b, const Tensor& x, const std::string& name, int64_t in, int64_t out,
              std::source_location loc = std::source_location::current()) {
  auto at = b.at(loc);
  auto scope = b.scope(name);
  Tensor w = b.param("weight", weft::DType::f32, {out, in}, weft::linear_weight_init(b.next_seed()));
  Tensor bias = b.param("bias", weft::DType::f32, {out}, weft::linear_bias_init(in, b.next_seed()));
  return matmul(x, w, {.transpose_b = true}) + bias;
}

weft::Graph build_mlp() {
  weft::Builder b("mlp");
  // Record locations relative to the source tree, as "examples/mlp/mlp.cpp:<line>".
  std::string here = __FILE__, tail = "examples/mlp/mlp.cpp";
  if (here.ends_with(tail)) b.set_source_root(here.substr(0, here.size() - tail.size()));

  Tensor x = b.input("x", "f32[B<=4096, 784]");
  Tensor h = relu(linear(b, x, "fc1", 784, 256));
  Tensor y = linear(b, h, "fc2", 256, 10);
  b.output("y", y);
  return b.finish();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 2 || (argc == 2 && (std::string(argv[1]) == "-h" || std::string(argv[1]) == "--help"))) {
    std::cerr << "usage: example_mlp [OUT.weft]   (default: out/mlp.weft)\n";
    return argc > 2 ? 2 : 0;
  }
  std::string path = argc == 2 ? argv[1] : "out/mlp.weft";
  try {
    weft::Graph graph = build_mlp();
    std::filesystem::path parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent);
    weft::write_graph_file(path, graph);
    std::cout << fmt::format("wrote {} ({} nodes, {} parameters)\n", path, graph.nodes().size(), graph.params().size());

    // A small batch of random pixels in [0, 1).
    const int64_t batch = 4;
    std::mt19937 rng(42);
    std::uniform_real_distribution<float> pixel(0.0f, 1.0f);
    std::vector<float> pixels(batch * 784);
    for (float& p : pixels) p = pixel(rng);
    weft::Tensor x = weft::Tensor::from<float>({batch, 784}, pixels);

    auto exe = weft::make_backend("interp")->compile(graph);
    std::vector<weft::Tensor> outputs = exe->run(std::vector<weft::Tensor>{x});
    const weft::Tensor& y = outputs.at(0);
    std::cout << fmt::format("ran on the interpreter: x {} -> y {}\n", x.type_str(), y.type_str());
    for (int64_t row = 0; row < y.shape()[0]; ++row) {
      std::string line;
      for (int64_t c = 0; c < 4; ++c) line += fmt::format("{:+.4f} ", y.at(row * y.shape()[1] + c));
      std::cout << fmt::format("  y[{}, 0:4] = {}...\n", row, line);
    }
    return 0;
  } catch (const weft::Error& e) {
    std::cerr << "example_mlp: " << e.what() << "\n";
    return 1;
  }
}
