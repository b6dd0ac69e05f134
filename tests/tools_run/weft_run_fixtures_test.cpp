// weft-run on the committed fixtures, on every backend: inputs written as .npy, outputs read back
// and compared with the interpreter run in process on the same graph and inputs (bit for bit on
// the interpreter; within the LLVM backend tests' tolerance, 1e-5 + 1e-4·|want|, on llvm).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "backends/backend.h"
#include "ir/text.h"
#include "runtime/npy.h"

namespace weft {
namespace {

namespace fs = std::filesystem;

/// Inputs for `sig` with every symbol at a small value, filled with distinct small values (integers
/// in [0, 3), so that they are valid class labels and indices in the fixtures).
std::vector<Tensor> make_inputs(const Signature& sig) {
  SymbolBindings bindings{{"B", 2}, {"T", 3}, {"N", 4}};
  std::vector<Tensor> inputs;
  for (const auto& spec : sig.inputs) {
    Tensor t = Tensor::zeros(spec.type.dtype, evaluate_shape(spec.type.shape, bindings));
    for (int64_t i = 0; i < t.numel(); ++i) {
      double v = ((i * 7) % 11 - 5) * 0.25;
      switch (t.dtype()) {
        case DType::f32:
          t.data<float>()[i] = static_cast<float>(v);
          break;
        case DType::f64:
          t.data<double>()[i] = v;
          break;
        case DType::i32:
          t.data<int32_t>()[i] = static_cast<int32_t>(i % 3);
          break;
        case DType::i64:
          t.data<int64_t>()[i] = i % 3;
          break;
        case DType::boolean:
          t.data<bool>()[i] = i % 2 == 1;
          break;
        default:
          ADD_FAILURE() << "no test values for " << t.type_str();
      }
    }
    inputs.push_back(t);
  }
  return inputs;
}

void expect_close(const Tensor& want, const Tensor& got, bool exact, const std::string& what) {
  ASSERT_EQ(got.type_str(), want.type_str()) << what;
  if (exact || !is_float(want.dtype())) {
    EXPECT_EQ(std::memcmp(got.raw(), want.raw(), want.nbytes()), 0) << what;
    return;
  }
  int reported = 0;
  for (int64_t i = 0; i < want.numel() && reported < 5; ++i) {
    double w = want.at(i), g = got.at(i);
    if (std::isnan(w) && std::isnan(g)) continue;
    if (!(std::abs(g - w) <= 1e-5 + 1e-4 * std::abs(w))) {
      ADD_FAILURE() << what << " element " << i << ": want " << w << ", got " << g;
      ++reported;
    }
  }
}

struct Case {
  std::string fixture;
  std::string backend;
};

class WeftRunFixtures : public ::testing::TestWithParam<Case> {};

TEST_P(WeftRunFixtures, OutputsEqualTheInterpreterInProcess) {
  const Case& c = GetParam();
  fs::path tool = fs::path(WEFT_BINARY_DIR) / "tools" / "weft-run";
  if (!fs::exists(tool)) GTEST_SKIP() << "weft-run is not built at " << tool;
  std::vector<std::string> backends = backend_names();
  if (std::find(backends.begin(), backends.end(), c.backend) == backends.end())
    GTEST_SKIP() << "backend " << c.backend << " is not built";

  fs::path model = fs::path(WEFT_SOURCE_DIR) / "tests" / "fixtures" / (c.fixture + ".weft");
  fs::path dir = fs::temp_directory_path() / fmt::format("weft_run_fixture_{}_{}", c.fixture, c.backend);
  fs::remove_all(dir);
  fs::create_directories(dir);

  Graph graph = read_graph_file(model.string());
  std::unique_ptr<Executable> oracle = make_backend("interp")->compile(graph);
  std::vector<Tensor> inputs = make_inputs(oracle->signature());
  std::vector<Tensor> want = oracle->run(inputs);

  std::string args;
  for (size_t i = 0; i < inputs.size(); ++i) {
    fs::path path = dir / fmt::format("in{}.npy", i);
    write_npy(path.string(), inputs[i]);
    args += fmt::format(" --input '{}={}'", oracle->signature().inputs[i].name, path.string());
  }
  std::string cmd = fmt::format("'{}' '{}' --backend {} --quiet --output-dir '{}'{} 2>'{}'", tool.string(),
                                model.string(), c.backend, (dir / "out").string(), args, (dir / "err.txt").string());
  int raw = std::system(cmd.c_str());
  std::ifstream err_file(dir / "err.txt");
  std::stringstream err;
  err << err_file.rdbuf();
  ASSERT_TRUE(WIFEXITED(raw) && WEXITSTATUS(raw) == 0) << cmd << "\n" << err.str();

  const auto& outputs = oracle->signature().outputs;
  ASSERT_EQ(want.size(), outputs.size());
  for (size_t i = 0; i < outputs.size(); ++i) {
    Tensor got = read_npy((dir / "out" / (outputs[i].name + ".npy")).string());
    expect_close(want[i], got, c.backend == "interp", c.fixture + " output " + outputs[i].name);
  }
  fs::remove_all(dir);
}

std::vector<Case> cases() {
  std::vector<Case> all;
  for (const char* fixture : {"elementwise", "attributes", "composites", "mlp", "scan_rnn", "train_step", "fusion"})
    for (const char* backend : {"interp", "llvm"}) all.push_back({fixture, backend});
  return all;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, WeftRunFixtures, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.fixture + "_" + info.param.backend;
                         });

}  // namespace
}  // namespace weft
