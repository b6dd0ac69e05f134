#include "backends/interp/constant_evaluator.h"

#include <cmath>

#include "backends/interp/interpreter.h"

namespace weft {

ConstantEvaluator interpreter_constant_evaluator() {
  return [](const Graph& graph) -> std::optional<std::vector<std::vector<double>>> {
    constexpr double kExactIntegerLimit = 9007199254740992.0;  // 2^53
    std::vector<Tensor> results = interpret(graph, {}, {});
    std::vector<std::vector<double>> out;
    for (const Tensor& t : results) {
      std::vector<double> values(static_cast<size_t>(t.numel()));
      for (int64_t i = 0; i < t.numel(); ++i) {
        values[i] = t.at(i);
        if (is_int(t.dtype()) && std::abs(values[i]) > kExactIntegerLimit) return std::nullopt;
      }
      out.push_back(std::move(values));
    }
    return out;
  };
}

}  // namespace weft
