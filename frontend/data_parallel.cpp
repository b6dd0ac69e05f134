#include "frontend/data_parallel.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "passes/rewrite.h"

namespace weft::train {

std::vector<std::vector<size_t>> gradient_buckets(const std::vector<int64_t>& bytes, int64_t bucket_bytes) {
  std::vector<size_t> order(bytes.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return bytes[a] > bytes[b]; });
  std::vector<std::vector<size_t>> buckets;
  int64_t filled = 0;
  for (size_t i : order) {
    if (buckets.empty() || filled + bytes[i] > bucket_bytes) {
      buckets.emplace_back();
      filled = 0;
    }
    buckets.back().push_back(i);
    filled += bytes[i];
  }
  return buckets;
}

namespace {

int64_t static_numel(const TensorType& type, const std::string& name) {
  int64_t n = 1;
  for (const Dim& d : type.shape) {
    if (!d.is_static())
      throw Error(
          fmt::format("make_train_step: data-parallel training averages gradients of static shape, but "
                      "parameter '{}' is {}",
                      name, type.str()));
    n *= d.value();
  }
  return n;
}

}  // namespace

std::vector<ParamGrad> average_gradients(GraphBuilder& b, const std::vector<ParamGrad>& grads,
                                         const DataParallelOptions& options) {
  if (options.bucket_bytes < 1)
    throw Error(fmt::format("make_train_step: data_parallel.bucket_bytes must be at least 1, but it is {}",
                            options.bucket_bytes));
  if (options.group.empty())
    throw Error("make_train_step: data_parallel.group must name a communicator group, but it is empty");
  const std::string previous_scope = b.scope();
  b.set_scope("data_parallel");
  const Attrs reduce{{"reduce", std::string("mean")}, {"group", options.group}};
  std::vector<ParamGrad> out = grads;
  // Gradients of one dtype share buckets; f32 and f64 never do.
  for (DType dtype : {DType::f32, DType::f64, DType::f16, DType::bf16}) {
    std::vector<size_t> members;
    std::vector<int64_t> bytes;
    for (size_t i = 0; i < grads.size(); ++i) {
      const TensorType& t = b.type(grads[i].grad);
      if (t.dtype != dtype) continue;
      members.push_back(i);
      bytes.push_back(static_numel(t, grads[i].name) * static_cast<int64_t>(dtype_size(dtype)));
    }
    for (const std::vector<size_t>& bucket : gradient_buckets(bytes, options.bucket_bytes)) {
      if (bucket.size() == 1) {  // alone: reduced where it lies, without a copy
        ParamGrad& g = out[members[bucket[0]]];
        g.grad = b.emit1(OpKind::all_reduce, {g.grad}, reduce);
        continue;
      }
      std::vector<ValueId> flat;
      std::vector<int64_t> sizes;
      for (size_t k : bucket) {
        const ParamGrad& g = grads[members[k]];
        sizes.push_back(bytes[k] / static_cast<int64_t>(dtype_size(dtype)));
        flat.push_back(b.reshape(g.grad, Shape{Dim(sizes.back())}));
      }
      ValueId reduced =
          b.emit1(OpKind::all_reduce, {b.emit1(OpKind::concat, flat, Attrs{{"axis", int64_t{0}}})}, reduce);
      int64_t offset = 0;
      for (size_t j = 0; j < bucket.size(); ++j) {
        ParamGrad& g = out[members[bucket[j]]];
        ValueId part = b.emit1(OpKind::slice, {reduced},
                               Attrs{{"axis", int64_t{0}}, {"start", offset}, {"end", offset + sizes[j]}});
        g.grad = b.reshape(part, b.type(grads[members[bucket[j]]].grad).shape);
        offset += sizes[j];
      }
    }
  }
  b.set_scope(previous_scope);
  return out;
}

Graph offset_randomness_by_rank(const Graph& model, const std::string& step_input, const std::string& rank_input) {
  const InputDecl* step = model.find_input(step_input);
  const TensorType scalar{DType::i64, {}};
  if (!step || model.type(step->value) != scalar) return model;
  if (model.find_input(rank_input) || model.find_param(rank_input))
    throw Error(
        fmt::format("make_train_step: data-parallel training adds the input '{}' (the rank, which keys the "
                    "randomness read from '{}'), but graph '{}' already has an input or parameter of that name",
                    rank_input, step_input, model.name()));
  GraphRewriter r(model);
  ValueId rank = r.graph().add_input(rank_input, scalar);
  GraphBuilder b(r.graph());
  b.set_scope("data_parallel");
  ValueId stride = b.constant(4294967296.0, DType::i64);  // 2^32: the offset's high Philox word
  r.replace(step->value, b.binary(OpKind::add, r.map(step->value), b.binary(OpKind::mul, rank, stride)));
  for (const Node& node : model.nodes()) r.copy(node);
  return std::move(r).finish();
}

}  // namespace weft::train
