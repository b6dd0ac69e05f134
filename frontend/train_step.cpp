#include "frontend/train_step.h"

#include <fmt/format.h>

#include <algorithm>

#include "passes/autodiff.h"
#include "passes/hoist_scan_invariants.h"
#include "passes/pipeline.h"

namespace weft::train {

namespace {

/// The scalar input `name` of `dtype`: the model's own if it has one of that type, else a new one.
ValueId scalar_input(Graph& g, const std::string& name, DType dtype, const char* meaning) {
  const TensorType want{dtype, {}};
  if (const InputDecl* in = g.find_input(name)) {
    if (g.type(in->value) != want)
      throw Error(
          fmt::format("make_train_step: input '{}' is the {}, which must be {}, but the model declares it as {}", name,
                      meaning, want.str(), g.type(in->value).str()));
    return in->value;
  }
  if (g.find_param(name))
    throw Error(fmt::format("make_train_step: the {} is the input '{}', but the model has a parameter of that name",
                            meaning, name));
  return g.add_input(name, want);
}

/// Every floating-point parameter the model does not update itself, in declaration order.
std::vector<std::string> default_trainable(const Graph& model) {
  std::vector<std::string> out;
  for (const ParamDecl& p : model.params()) {
    bool updated = std::any_of(model.updates().begin(), model.updates().end(),
                               [&](const StateUpdate& u) { return u.param == p.name; });
    if (is_float(model.type(p.value).dtype) && !updated) out.push_back(p.name);
  }
  if (out.empty())
    throw Error(
        fmt::format("make_train_step: a train step needs a floating-point parameter to train, but graph '{}' "
                    "has none",
                    model.name()));
  return out;
}

}  // namespace

Graph make_train_step(const Graph& model, const TrainStepOptions& options, std::source_location loc) {
  const SourceLoc where = SourceLoc::from(loc);
  try {
    std::vector<std::string> trainable = options.trainable.empty() ? default_trainable(model) : options.trainable;
    for (const std::string& name : trainable)
      if (!model.find_param(name))
        throw Error(
            fmt::format("make_train_step: only parameters can be trained, but graph '{}' has no parameter "
                        "named '{}'",
                        model.name(), name));
    // Each rank draws its own dropout masks: the model's randomness is keyed by the rank too.
    const Graph keyed = options.data_parallel
                            ? offset_randomness_by_rank(model, options.step_input, options.data_parallel->rank_input)
                            : model;
    // Loop invariants leave scan bodies before autodiff, so that their gradients flow back once.
    Graph g = differentiate(hoist_scan_invariants(keyed), options.loss, trainable);

    // Autodiff returned the model's outputs, then grad.<name> in `trainable` order: the gradients
    // feed the optimizer instead of leaving the graph.
    const size_t n_model = model.outputs().size();
    std::vector<OutputDecl>& outputs = g.mutable_outputs();
    WEFT_CHECK(outputs.size() == n_model + trainable.size(), "make_train_step: autodiff returned unexpected outputs");
    std::vector<ParamGrad> grads;
    for (size_t i = 0; i < trainable.size(); ++i) {
      WEFT_CHECK(outputs[n_model + i].name == "grad." + trainable[i], "make_train_step: gradient outputs out of order");
      grads.push_back(ParamGrad{trainable[i], outputs[n_model + i].value});
    }
    outputs.resize(n_model);

    GraphBuilder b(g);
    b.set_loc(where);
    OptimizerInputs inputs{scalar_input(g, options.lr_input, DType::f32, "learning rate"),
                           scalar_input(g, options.step_input, DType::i64, "step count")};
    // The ranks average their gradients before clipping, so that every rank clips and updates alike.
    if (options.data_parallel) grads = average_gradients(b, grads, *options.data_parallel);
    if (options.clip_grad_norm) {
      if (std::any_of(outputs.begin(), outputs.end(), [](const OutputDecl& o) { return o.name == "grad_norm"; }))
        throw Error(
            fmt::format("make_train_step: clipping returns the gradient norm as output 'grad_norm', but graph "
                        "'{}' already has an output of that name",
                        model.name()));
      ClippedGrads clipped = clip_grad_norm(b, grads, *options.clip_grad_norm);
      grads = std::move(clipped.grads);
      g.add_output("grad_norm", clipped.norm);
    }
    apply_optimizer(b, options.optimizer, grads, inputs);
    // The pipeline's first stages tidy the step (what autodiff left unread goes) and verify it; the
    // composites stay for the backend that compiles it.
    LoweringOptions tidy;
    tidy.until = LoweringStage::simplified;
    tidy.decompose = false;
    return lower_graph(g, tidy);
  } catch (const Error& e) {
    throw Error(with_location(e.what(), where));
  }
}

}  // namespace weft::train
