/** \file
 * oneDNN primitives per run size. See primitive_cache.h.
 */
#include "backends/onednn/primitive_cache.h"

#include <fmt/format.h>
#include <omp.h>

#include <dnnl.hpp>
#include <functional>
#include <numeric>
#include <optional>
#include <unordered_map>

#include "backends/onednn/dnnl_context.h"
#include "runtime/thread_pool.h"

namespace weft::onednn {

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream& stream() {
  thread_local dnnl::stream s(engine());
  return s;
}

namespace {

using dims = dnnl::memory::dims;
using dt = dnnl::memory::data_type;
using dnnl::algorithm;


algorithm eltwise_alg(Eltwise e) {
  switch (e) {
    case Eltwise::relu:
      return algorithm::eltwise_relu;
    case Eltwise::tanh:
      return algorithm::eltwise_tanh;
    case Eltwise::logistic:
      return algorithm::eltwise_logistic;
    case Eltwise::gelu_erf:
      return algorithm::eltwise_gelu_erf;
    case Eltwise::gelu_tanh:
      return algorithm::eltwise_gelu_tanh;
    case Eltwise::exp:
      return algorithm::eltwise_exp;
    case Eltwise::log:
      return algorithm::eltwise_log;
    case Eltwise::sqrt:
      return algorithm::eltwise_sqrt;
    case Eltwise::abs:
      return algorithm::eltwise_abs;
    case Eltwise::linear:
      return algorithm::eltwise_linear;
    case Eltwise::pow:
      return algorithm::eltwise_pow;
    case Eltwise::square:
      return algorithm::eltwise_square;
  }
  return algorithm::undef;
}

algorithm binary_alg(Binary b) {
  switch (b) {
    case Binary::add:
      return algorithm::binary_add;
    case Binary::sub:
      return algorithm::binary_sub;
    case Binary::mul:
      return algorithm::binary_mul;
    case Binary::div:
      return algorithm::binary_div;
    case Binary::max:
      return algorithm::binary_max;
    case Binary::min:
      return algorithm::binary_min;
  }
  return algorithm::undef;
}

algorithm reduction_alg(Reduce r) {
  switch (r) {
    case Reduce::sum:
      return algorithm::reduction_sum;
    case Reduce::mean:
      return algorithm::reduction_mean;
    case Reduce::max:
      return algorithm::reduction_max;
    case Reduce::min:
      return algorithm::reduction_min;
  }
  return algorithm::undef;
}

/// The product of v[from], ..., v[to - 1] (to the end when `to` is past it).
int64_t product(const std::vector<int64_t>& v, size_t from = 0, size_t to = SIZE_MAX) {
  auto first = v.begin() + static_cast<std::ptrdiff_t>(std::min(from, v.size()));
  auto last = v.begin() + static_cast<std::ptrdiff_t>(std::min(to, v.size()));
  return std::accumulate(first, last, int64_t{1}, std::multiplies<>());
}

dims row_major_strides(const dims& d) {
  dims s(d.size(), 1);
  for (size_t i = d.size(); i-- > 1;) s[i - 1] = s[i] * std::max<int64_t>(d[i], 1);
  return s;
}

/// A dense row-major f32 tensor; a scalar is a 1-element vector (oneDNN has no rank 0).
dnnl::memory::desc plain(dims d) {
  if (d.empty()) d = {1};
  return {d, dt::f32, row_major_strides(d)};
}

/// `d` right-aligned to `rank` dims (leading 1s), as NumPy broadcasting reads it.
dims padded(const std::vector<int64_t>& d, size_t rank) {
  dims out(rank - std::min(rank, d.size()), 1);
  out.insert(out.end(), d.end() - static_cast<std::ptrdiff_t>(std::min(rank, d.size())), d.end());
  return out;
}

/// A matmul operand of `rank` dims stored as `d`, read transposed (last two dims swapped) when asked.
dnnl::memory::desc matrix(const std::vector<int64_t>& d, size_t rank, bool transposed) {
  dims stored = padded(d, rank);
  dims strides = row_major_strides(stored);
  if (transposed) {
    std::swap(stored[rank - 1], stored[rank - 2]);
    std::swap(strides[rank - 1], strides[rank - 2]);
  }
  return {stored, dt::f32, strides};
}

}  // namespace

/// A primitive at one set of sizes and the memory objects of its arguments, each bound to a call
/// operand (or to a scalar the entry owns).
struct PrimitiveCache::Entry {
  dnnl::primitive primitive;
  std::unordered_map<int, dnnl::memory> args;
  std::vector<std::pair<int, int>> operand_of;  // (argument, call operand)
  std::vector<float> scalars;                   // the scalar post-ops' values
  bool empty = false;                           // nothing to compute (a zero-size result)
  bool serial = false;                          // too small to wake the OpenMP workers for
  std::string refused;                          // oneDNN could not make it: why
};

PrimitiveCache::PrimitiveCache(Plan plan, const KernelCall& call) : plan_(std::move(plan)) {
  for (const BufferRef& ref : call.operands) types_.push_back(ref.type);
}

PrimitiveCache::~PrimitiveCache() = default;

size_t PrimitiveCache::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

PrimitiveCache::Entry& PrimitiveCache::entry_for(const std::vector<std::vector<int64_t>>& shapes) {
  auto it = entries_.find(shapes);
  if (it != entries_.end()) return *it->second;
  auto entry = std::make_unique<Entry>();
  Entry& e = *entry;
  entries_.emplace(shapes, std::move(entry));
  const std::vector<int64_t>& out = shapes[plan_.dst];
  if (product(out) == 0) {
    e.empty = true;
    return e;
  }
  for (const auto& s : shapes)
    if (product(s) == 0) {
      e.refused = "an operand with no elements";
      return e;
    }
  const size_t rank = std::max<size_t>(out.size(), 1);
  auto bind = [&](int arg, const dnnl::memory::desc& md, int operand) {
    e.args[arg] = dnnl::memory(md, engine(), DNNL_MEMORY_NONE);
    e.operand_of.emplace_back(arg, operand);
  };
  // Post-ops: each binary one reads a call operand broadcast to the result, or a scalar.
  dnnl::primitive_attr attr;
  dnnl::post_ops ops;
  e.scalars.reserve(plan_.post_ops.size());
  std::vector<std::pair<int, dnnl::memory::desc>> post_args;
  for (size_t i = 0; i < plan_.post_ops.size(); ++i) {
    const PostOp& p = plan_.post_ops[i];
    if (!p.is_binary) {
      ops.append_eltwise(1.0f, eltwise_alg(p.eltwise), p.alpha, p.beta);
      continue;
    }
    dnnl::memory::desc md = plain(p.operand >= 0 ? padded(shapes[p.operand], rank) : dims(rank, 1));
    ops.append_binary(binary_alg(p.binary), md);
    const int arg = DNNL_ARG_ATTR_MULTIPLE_POST_OP(static_cast<int>(i)) | DNNL_ARG_SRC_1;
    if (p.operand >= 0) {
      bind(arg, md, p.operand);
    } else {
      e.scalars.push_back(p.scalar);
      e.args[arg] = dnnl::memory(md, engine(), &e.scalars.back());
    }
  }
  attr.set_post_ops(ops);
  dnnl::memory::desc dst_md = plain(out);
  try {
    switch (plan_.primitive) {
      case Primitive::matmul: {
        dnnl::memory::desc a = matrix(shapes[plan_.src0], rank, plan_.transpose_a);
        dnnl::memory::desc b = matrix(shapes[plan_.src1], rank, plan_.transpose_b);
        std::optional<dnnl::matmul::desc> d;
        if (plan_.bias >= 0) {
          dims bias_dims(rank, 1);
          bias_dims.back() = out.back();
          dnnl::memory::desc bias = plain(bias_dims);
          d.emplace(a, b, bias, dst_md);
          bind(DNNL_ARG_BIAS, bias, plan_.bias);
        } else {
          d.emplace(a, b, dst_md);
        }
        e.primitive = dnnl::matmul(dnnl::matmul::primitive_desc(*d, attr, engine()));
        bind(DNNL_ARG_SRC, a, plan_.src0);
        bind(DNNL_ARG_WEIGHTS, b, plan_.src1);
        break;
      }
      case Primitive::eltwise: {
        dnnl::eltwise_forward::desc d(dnnl::prop_kind::forward_inference, eltwise_alg(plan_.eltwise), dst_md,
                                      plan_.alpha, plan_.beta);
        e.primitive = dnnl::eltwise_forward(dnnl::eltwise_forward::primitive_desc(d, attr, engine()));
        bind(DNNL_ARG_SRC, dst_md, plan_.src0);
        break;
      }
      case Primitive::binary: {
        dnnl::memory::desc src1 = plain(padded(shapes[plan_.src1], rank));
        dnnl::binary::desc d(binary_alg(plan_.binary), dst_md, src1, dst_md);
        e.primitive = dnnl::binary(dnnl::binary::primitive_desc(d, attr, engine()));
        bind(DNNL_ARG_SRC_0, dst_md, plan_.src0);
        bind(DNNL_ARG_SRC_1, src1, plan_.src1);
        break;
      }
      case Primitive::reduction: {
        const std::vector<int64_t>& in = shapes[plan_.src0];
        dims kept(in.begin(), in.end());
        for (int64_t a : plan_.axes) kept[a] = 1;
        dnnl::memory::desc src = plain(in);
        dst_md = plain(kept);
        dnnl::reduction::desc d(reduction_alg(plan_.reduce), src, dst_md, 0.0f, 0.0f);
        e.primitive = dnnl::reduction(dnnl::reduction::primitive_desc(d, attr, engine()));
        bind(DNNL_ARG_SRC, src, plan_.src0);
        break;
      }
      case Primitive::softmax:
      case Primitive::log_softmax: {
        // Folded to [outer, C] or [outer, C, inner]: the same memory, the axis in the middle.
        const size_t axis = static_cast<size_t>(plan_.axes[0]);
        dims folded{product(out, 0, axis), out[axis]};
        if (int64_t inner = product(out, axis + 1); inner > 1) folded.push_back(inner);
        dst_md = plain(folded);
        if (plan_.primitive == Primitive::softmax) {
          dnnl::softmax_forward::desc d(dnnl::prop_kind::forward_inference, dst_md, 1);
          e.primitive = dnnl::softmax_forward(dnnl::softmax_forward::primitive_desc(d, attr, engine()));
        } else {
          dnnl::logsoftmax_forward::desc d(dnnl::prop_kind::forward_inference, dst_md, 1);
          e.primitive = dnnl::logsoftmax_forward(dnnl::logsoftmax_forward::primitive_desc(d, attr, engine()));
        }
        bind(DNNL_ARG_SRC, dst_md, plan_.src0);
        break;
      }
      case Primitive::reorder: {
        // The source at the transpose's operand shape, read in the transpose's order: dims and
        // strides permuted; the result dense at the transposed shape (reshapes only rename).
        const std::vector<int64_t>& v = shapes.back();  // the view's shape, after the operands'
        const dims strides = row_major_strides(dims(v.begin(), v.end()));
        dims d, st;
        for (int64_t p : plan_.axes) {
          const size_t axis = static_cast<size_t>(p < 0 ? p + static_cast<int64_t>(v.size()) : p);
          d.push_back(v[axis]);
          st.push_back(strides[axis]);
        }
        dnnl::memory::desc src(d, dt::f32, st);
        dst_md = plain(d);
        e.primitive = dnnl::reorder(dnnl::reorder::primitive_desc(engine(), src, engine(), dst_md, attr));
        bind(DNNL_ARG_FROM, src, plan_.src0);
        break;
      }
      case Primitive::layer_norm: {
        const int64_t c = out.back();
        dst_md = plain({product(out) / c, c});
        dnnl::normalization_flags flags = dnnl::normalization_flags::none;
        if (plan_.scale >= 0) flags = dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
        dnnl::layer_normalization_forward::desc d(dnnl::prop_kind::forward_inference, dst_md, plan_.eps, flags);
        e.primitive =
            dnnl::layer_normalization_forward(dnnl::layer_normalization_forward::primitive_desc(d, attr, engine()));
        bind(DNNL_ARG_SRC, dst_md, plan_.src0);
        if (plan_.scale >= 0) {
          bind(DNNL_ARG_SCALE, plain({c}), plan_.scale);
          bind(DNNL_ARG_SHIFT, plain({c}), plan_.bias);
        }
        break;
      }
    }
  } catch (const dnnl::error& err) {
    e.refused = fmt::format("oneDNN 2.6 has no {} for these shapes ({})", primitive_name(plan_.primitive), err.what());
    e.args.clear();
    e.operand_of.clear();
    return e;
  }
  bind(DNNL_ARG_DST, dst_md, plan_.dst);
  // Waking sleeping OpenMP workers costs a few microseconds (measured: a relu of 8 floats, 8.8 us
  // on 2 threads, 0.6 us on the caller alone). As Weft's GEMM does, a product under 2^18
  // multiply-adds, or another primitive over fewer than 2^16 elements, runs on the caller.
  int64_t work = 0;
  for (const auto& s : shapes) work = std::max(work, product(s));
  if (plan_.primitive == Primitive::matmul) {
    const std::vector<int64_t>& a = shapes[plan_.src0];
    work = product(out) * a[a.size() - (plan_.transpose_a ? 2 : 1)];
    e.serial = work < (int64_t{1} << 18);
  } else {
    e.serial = work < (int64_t{1} << 16);
  }
  return e;
}

std::vector<std::vector<int64_t>> PrimitiveCache::shapes_at(const SymbolBindings& sizes) const {
  std::vector<std::vector<int64_t>> shapes;
  shapes.reserve(types_.size() + 1);
  for (const TensorType& t : types_) shapes.push_back(evaluate_shape(t.shape, sizes));
  // A reorder's view may split a dim the operands only have as a product (B*T into B, T).
  if (plan_.primitive == Primitive::reorder) shapes.push_back(evaluate_shape(plan_.view.shape, sizes));
  return shapes;
}

std::string PrimitiveCache::try_create(const SymbolBindings& sizes) {
  std::vector<std::vector<int64_t>> shapes = shapes_at(sizes);
  std::lock_guard lock(mutex_);
  return entry_for(shapes).refused;
}

bool PrimitiveCache::run(std::span<void* const> buffers, const SymbolBindings& sizes) {
  std::vector<std::vector<int64_t>> shapes = shapes_at(sizes);
  // One lock for the lookup and the run: the entry's memory objects are rebound per run.
  std::lock_guard lock(mutex_);
  Entry& e = entry_for(shapes);
  if (e.empty) return true;
  if (!e.refused.empty()) return false;
  for (const auto& [arg, operand] : e.operand_of) e.args.at(arg).set_data_handle(buffers[operand]);
  match_openmp_to_pool(e.serial);
  e.primitive.execute(stream(), e.args);
  stream().wait();
  return true;
}

}  // namespace weft::onednn
