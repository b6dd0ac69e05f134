/** \file
 * Optimizers as graph ops: functions that append a parameter update to a train-step graph.
 *
 * Each optimizer takes the trainable parameters with the values holding their gradients, creates
 * its state as parameters of the graph (zeros: `sgd.momentum_buffer.<param>`, `adam.m.<param>`,
 * `adam.v.<param>`, `adamw.m.<param>`, ...) and declares state updates (`Graph::add_update`) for
 * the parameters and that state, so one run of the compiled graph performs one optimizer step in
 * place. The learning rate and the step count are graph *inputs* (an f32 scalar and an i64 scalar,
 * 1 for the first update), so a schedule changes them from run to run without recompiling.
 *
 * The formulas are PyTorch's (torch.optim.SGD, Adam, AdamW, and torch.nn.utils.clip_grad_norm_),
 * written out in docs/training.md, so a PyTorch user's hyper-parameters mean the same here.
 *
 * The functions emit through an ir `GraphBuilder`, whose current scope and location label the
 * nodes (train_step.h points them at the user's call); each parameter's nodes are scoped
 * `<optimizer>.<param>` so that a NaN trap inside an update names the parameter.
 */
#pragma once

#include <string>
#include <variant>
#include <vector>

#include "ir/graph_builder.h"

namespace weft::train {

/// A trainable parameter (by full name) and the value of the train-step graph holding its gradient.
struct ParamGrad {
  std::string name;
  ValueId grad = kNoValue;
};

/// The run-time scalars an update reads: `lr` is f32[], `step` is i64[] (1 for the first update).
struct OptimizerInputs {
  ValueId lr = kNoValue;
  ValueId step = kNoValue;
};

/// torch.optim.SGD: g += weight_decay·p; buf = momentum·buf + (1 - dampening)·g (buf = g on step 1);
/// g = nesterov ? g + momentum·buf : buf; p -= lr·g.
struct SgdOptions {
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

/// torch.optim.Adam: L2 weight decay added to the gradient, bias-corrected moments.
struct AdamOptions {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
};

/// torch.optim.AdamW: Adam with decoupled weight decay, p *= 1 - lr·weight_decay before the step.
struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;
};

using OptimizerConfig = std::variant<SgdOptions, AdamOptions, AdamWOptions>;

/// "sgd", "adam" or "adamw": the prefix of the optimizer's state names.
std::string optimizer_name(const OptimizerConfig& config);

/// Appends the updates of `params` (each a floating-point parameter of `b.graph()` not updated
/// already) to the graph. Throws weft::Error naming the parameter or the input when one is not as
/// described, when an option is out of range, or when a state name is already taken.
void sgd_update(GraphBuilder& b, const std::vector<ParamGrad>& params, const OptimizerInputs& inputs,
                const SgdOptions& options);
void adam_update(GraphBuilder& b, const std::vector<ParamGrad>& params, const OptimizerInputs& inputs,
                 const AdamOptions& options);
void adamw_update(GraphBuilder& b, const std::vector<ParamGrad>& params, const OptimizerInputs& inputs,
                  const AdamWOptions& options);
/// Dispatches on `config`.
void apply_optimizer(GraphBuilder& b, const OptimizerConfig& config, const std::vector<ParamGrad>& params,
                     const OptimizerInputs& inputs);

/// The global L2 norm of all `grads` together (an f32 scalar): sqrt(Σ_g Σ_i g_i²).
ValueId global_norm(GraphBuilder& b, const std::vector<ValueId>& grads);

struct ClippedGrads {
  ValueId norm = kNoValue;       // the norm before clipping (f32[])
  std::vector<ParamGrad> grads;  // the gradients to apply, scaled
};

/// torch.nn.utils.clip_grad_norm_: every gradient times min(1, max_norm / (norm + 1e-6)).
ClippedGrads clip_grad_norm(GraphBuilder& b, const std::vector<ParamGrad>& grads, double max_norm);

}  // namespace weft::train
