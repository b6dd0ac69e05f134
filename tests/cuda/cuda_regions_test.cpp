// Generated kernels against the interpreter: every loop and reduction region of a Transformer train
// step, an LSTM train step and the elementwise-op model, each on random inputs (symbols at small odd
// sizes), run by the interpreter on the region's body and by its kernel:
//  - CudaEmulation: the kernels' CUDA C compiled for the CPU (cuda_emulation.h), on every machine;
//  - CudaDevice: the kernels compiled by NVRTC and run on the GPU, skipped with the reason where
//    there is none (cuda_driver.h).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "backends/cuda/cuda_driver.h"
#include "backends/cuda/cuda_runner.h"
#include "backends/interp/interpreter.h"
#include "tests/cuda/cuda_emulation.h"
#include "tests/cuda/cuda_testing.h"

namespace weft::cuda_backend {
namespace {

weft::Tensor random_tensor(DType dtype, const std::vector<int64_t>& shape, std::mt19937_64& rng) {
  weft::Tensor t = weft::Tensor::zeros(dtype, shape);
  std::uniform_real_distribution<float> real(-2.0f, 2.0f);
  std::uniform_int_distribution<int> small(0, 2);
  for (int64_t i = 0; i < t.numel(); ++i) {
    switch (dtype) {
      case DType::f32:
        t.data<float>()[i] = real(rng);
        break;
      case DType::f64:
        t.data<double>()[i] = real(rng);
        break;
      case DType::i32:
        t.data<int32_t>()[i] = small(rng);
        break;
      case DType::i64:
        t.data<int64_t>()[i] = small(rng);
        break;
      case DType::boolean:
        t.data<bool>()[i] = small(rng) == 1;
        break;
      default:
        throw InternalError("random_tensor: an unexpected dtype");
    }
  }
  return t;
}

double element(const weft::Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::f32:
      return t.data<float>()[i];
    case DType::f64:
      return t.data<double>()[i];
    case DType::i32:
      return t.data<int32_t>()[i];
    case DType::i64:
      return static_cast<double>(t.data<int64_t>()[i]);
    case DType::boolean:
      return t.data<bool>()[i] ? 1 : 0;
    default:
      throw InternalError("element: an unexpected dtype");
  }
}

/// One region with its inputs, the interpreter's outputs, and buffers (inputs, then outputs) for
/// the kernel to write.
struct Case {
  std::string what;
  std::shared_ptr<const Graph> body;  // the region's terms point at its nodes
  llvm_backend::LoweredRegion region;
  SymbolBindings sizes;
  std::vector<weft::Tensor> expected;
  std::vector<weft::Tensor> buffers;
  size_t num_inputs = 0;
};

std::vector<Case> cases_of(const Graph& model) {
  std::mt19937_64 rng(2026);
  std::vector<Case> cases;
  for_each_region(lowered_for_cuda(model), [&](const Node& n) {
    const std::string kind = n.attrs.get_string("kind");
    if (kind != "loop" && kind != "reduction") return;
    llvm_backend::LowerResult lowered = llvm_backend::lower_region(*n.body, kind);
    if (!lowered.region) return;
    Case c{fmt::format("{} ({})", n.scope, kind), n.body, *lowered.region};
    for (const std::string& s : c.region.symbols) c.sizes[s] = 3 + 2 * static_cast<int64_t>(c.sizes.size() % 3);
    auto shape_of = [&](const TensorType& t) {
      std::vector<int64_t> shape;
      for (const Dim& d : t.shape) shape.push_back(d.evaluate(c.sizes));
      return shape;
    };
    const Graph& body = *n.body;
    for (const InputDecl& in : body.inputs()) {
      const TensorType& t = body.type(in.value);
      c.buffers.push_back(random_tensor(t.dtype, shape_of(t), rng));
    }
    c.num_inputs = c.buffers.size();
    // The region's symbols may appear in no input's shape (an output of [B*T]): bound from outside,
    // as the executor binds a scan body's.
    auto reference = InterpBackend().compile(body);
    auto* chain = dynamic_cast<CompiledExecutable*>(reference.get());
    if (!chain) throw InternalError("the interpreter did not give a CompiledExecutable");
    c.expected = chain->run_nested(std::vector<weft::Tensor>(c.buffers.begin(), c.buffers.end()), c.sizes);
    for (const auto& out : body.outputs()) {
      const TensorType& t = body.type(out.value);
      c.buffers.push_back(weft::Tensor::zeros(t.dtype, shape_of(t)));
    }
    cases.push_back(std::move(c));
  });
  return cases;
}

void expect_matches(const Case& c) {
  for (size_t o = 0; o < c.expected.size(); ++o) {
    const weft::Tensor& want = c.expected[o];
    const weft::Tensor& got = c.buffers[c.num_inputs + o];
    ASSERT_EQ(want.numel(), got.numel()) << c.what;
    for (int64_t i = 0; i < want.numel(); ++i) {
      const double w = element(want, i), g = element(got, i);
      if (std::isnan(w) && std::isnan(g)) continue;
      ASSERT_NEAR(g, w, 1e-5 + 1e-4 * std::fabs(w)) << c.what << ", output " << o << ", element " << i;
    }
  }
}

/// Threads of an emulated reduction block: enough for a tree of several levels and rows longer than
/// the block, few enough that starting a thread each is cheap.
constexpr int kEmulatedReductionBlock = 4;

/// Runs every case's kernel on the CPU; returns how many it compared.
int emulate(const Graph& model) {
  std::vector<Case> cases = cases_of(model);
  std::vector<KernelSource> kernels;
  for (size_t k = 0; k < cases.size(); ++k)
    kernels.push_back(cuda_source(cases[k].region, fmt::format("region_{}", k), kEmulatedReductionBlock));
  EmulatedKernels emulated(kernels);
  for (size_t k = 0; k < cases.size(); ++k) {
    Case& c = cases[k];
    std::vector<void*> pointers;
    for (weft::Tensor& t : c.buffers) pointers.push_back(t.raw());
    std::vector<int64_t> dims;
    for (const std::string& s : c.region.symbols) dims.push_back(c.sizes.at(s));
    std::vector<void*> args;
    for (void*& p : pointers) args.push_back(&p);
    for (int64_t& d : dims) args.push_back(&d);
    // Two blocks, so that rows (and a loop's elements) are shared out in grid strides; a reduction
    // block has the threads its shared-memory tree is sized for, a loop block a few.
    LaunchShape shape = launch_shape(c.region, c.sizes, 1);
    const unsigned grid = std::min(shape.grid, 2u);
    const unsigned block = c.region.kind == "reduction" ? kEmulatedReductionBlock : 3;
    if (grid > 0) emulated.launch(k, grid, block, args.data());
    expect_matches(c);
    if (::testing::Test::HasFatalFailure()) return 0;
  }
  return static_cast<int>(cases.size());
}

/// Runs every case's kernel on the GPU; returns how many it compared.
int on_device(const Graph& model) {
  std::vector<Case> cases = cases_of(model);
  for (Case& c : cases) {
    std::vector<weft::Tensor*> pointers;
    for (weft::Tensor& t : c.buffers) pointers.push_back(&t);
    run_region_on_device(c.region, pointers, c.sizes);
    expect_matches(c);
    if (::testing::Test::HasFatalFailure()) return 0;
  }
  return static_cast<int>(cases.size());
}

TEST(CudaEmulation, ElementwiseOpKernelsMatchTheInterpreter) { EXPECT_GT(emulate(elementwise_ops()), 0); }

TEST(CudaEmulation, TransformerTrainStepKernelsMatchTheInterpreter) {
  EXPECT_GT(emulate(transformer_train_step()), 10);
}

TEST(CudaEmulation, LstmTrainStepKernelsMatchTheInterpreter) { EXPECT_GT(emulate(lstm_train_step()), 5); }

class CudaDevice : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::optional<std::string> why = gpu_unavailable()) GTEST_SKIP() << "no GPU: " << *why;
  }
};

TEST_F(CudaDevice, ElementwiseOpKernelsMatchTheInterpreter) { EXPECT_GT(on_device(elementwise_ops()), 0); }

TEST_F(CudaDevice, TransformerTrainStepKernelsMatchTheInterpreter) {
  EXPECT_GT(on_device(transformer_train_step()), 10);
}

TEST_F(CudaDevice, LstmTrainStepKernelsMatchTheInterpreter) { EXPECT_GT(on_device(lstm_train_step()), 5); }

}  // namespace
}  // namespace weft::cuda_backend
