#include "backends/cuda/cuda_source.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string_view>

#include "ir/error.h"
#include "ir/ops.h"

namespace weft::cuda_backend {

using llvm_backend::Access;
using llvm_backend::AxisClass;
using llvm_backend::LoweredRegion;
using llvm_backend::Reduction;
using llvm_backend::Store;
using llvm_backend::Term;
using llvm_backend::TermKind;

namespace {

/// Helpers every kernel may use: the interpreter's semantics where C's differ (term_codegen.h).
constexpr std::string_view kPrelude = R"(
typedef long long i64;
typedef unsigned long long u64;
typedef unsigned int u32;
__device__ __forceinline__ bool weft_neg_sign(float x) { return __float_as_int(x) < 0; }
__device__ __forceinline__ bool weft_neg_sign(double x) { return __double_as_longlong(x) < 0; }
/* NaN-propagating max and min; -0 < +0 (LLVM's maximum and minimum). */
template <class T> __device__ __forceinline__ T weft_fmax(T x, T y) {
  if (x != x) return x;
  if (y != y) return y;
  if (x == y) return weft_neg_sign(x) ? y : x;
  return x > y ? x : y;
}
template <class T> __device__ __forceinline__ T weft_fmin(T x, T y) {
  if (x != x) return x;
  if (y != y) return y;
  if (x == y) return weft_neg_sign(x) ? x : y;
  return x < y ? x : y;
}
/* Wrapping integer arithmetic: signed overflow is undefined in C, unsigned wraps. */
__device__ __forceinline__ int weft_add(int x, int y) { return (int)((u32)x + (u32)y); }
__device__ __forceinline__ int weft_sub(int x, int y) { return (int)((u32)x - (u32)y); }
__device__ __forceinline__ int weft_mul(int x, int y) { return (int)((u32)x * (u32)y); }
__device__ __forceinline__ i64 weft_add(i64 x, i64 y) { return (i64)((u64)x + (u64)y); }
__device__ __forceinline__ i64 weft_sub(i64 x, i64 y) { return (i64)((u64)x - (u64)y); }
__device__ __forceinline__ i64 weft_mul(i64 x, i64 y) { return (i64)((u64)x * (u64)y); }
/* x / 0 = 0; MIN / -1 wraps to MIN. */
template <class T> __device__ __forceinline__ T weft_div(T x, T y) {
  if (y == 0) return 0;
  if (y == -1) return weft_sub((T)0, x);
  return x / y;
}
/* Saturating float -> int (NaN -> 0), as LLVM's fptosi.sat. */
template <class I> __device__ __forceinline__ I weft_f2i(double x, double lo, double hi, I ilo, I ihi) {
  if (x != x) return 0;
  if (x <= lo) return ilo;
  if (x >= hi) return ihi;
  return (I)x;
}
)";

std::string ctype(DType t) {
  switch (t) {
    case DType::f32:
      return "float";
    case DType::f64:
      return "double";
    case DType::i32:
      return "int";
    case DType::i64:
      return "i64";
    case DType::boolean:
      return "bool";
    default:
      break;
  }
  throw InternalError(fmt::format("CUDA kernels have no {} values", dtype_name(t)));
}

std::string literal(double v, DType t) {
  switch (t) {
    case DType::f32: {
      float f = static_cast<float>(v);
      if (std::isnan(f)) return "__int_as_float(0x7fc00000)";
      if (std::isinf(f)) return f > 0 ? "__int_as_float(0x7f800000)" : "__int_as_float(0xff800000)";
      return fmt::format("{:a}f", static_cast<double>(f));
    }
    case DType::f64:
      if (std::isnan(v)) return "__longlong_as_double(0x7ff8000000000000LL)";
      if (std::isinf(v))
        return v > 0 ? "__longlong_as_double(0x7ff0000000000000LL)" : "__longlong_as_double(0xfff0000000000000LL)";
      return fmt::format("{:a}", v);
    case DType::i32:
      return fmt::format("(int){}", static_cast<int64_t>(v));
    case DType::i64:
      return fmt::format("(i64){}LL", static_cast<int64_t>(v));
    case DType::boolean:
      return v != 0 ? "true" : "false";
    default:
      break;
  }
  throw InternalError(fmt::format("CUDA kernels have no {} constants", dtype_name(t)));
}

/// The lowest and highest value of an integer type, as C literals.
std::pair<std::string, std::string> int_range(DType t) {
  if (t == DType::i32) return {"(-2147483647 - 1)", "2147483647"};
  return {"(-9223372036854775807LL - 1)", "9223372036854775807LL"};
}

class Generator {
 public:
  Generator(const LoweredRegion& r, std::string name, int block) : r_(r), name_(std::move(name)), block_(block) {}

  KernelSource run() {
    if (r_.kind != "loop" && r_.kind != "reduction" && r_.kind != "matmul")
      throw InternalError(fmt::format("no CUDA kernel for a {} region", r_.kind));
    std::string src;
    for (size_t k = 0; k < r_.constants.size(); ++k) {
      const auto& c = r_.constants[k];
      std::string values;
      for (double v : c.values) values += literal(v, c.dtype) + ",";
      src += fmt::format("__device__ const {} {}_c{}[] = {{{}}};\n", cuda_memory_type(c.dtype), name_, k, values);
    }
    std::vector<std::string> types = param_types();
    std::vector<std::string> declared;
    for (size_t i = 0; i < types.size(); ++i) declared.push_back(fmt::format("{} {}", types[i], param_name(i)));
    src += fmt::format("extern \"C\" __global__ void {}({}) {{\n", name_, fmt::join(declared, ", "));
    for (size_t d = 0; d < r_.space.size(); ++d) src += fmt::format("  const i64 n{} = {};\n", d, dim(r_.space[d]));
    src += r_.kind == "reduction" ? reduction_body() : loop_body();
    src += "}\n";
    return {name_, std::string(kPrelude) + src, src, types};
  }

 private:
  std::vector<std::string> param_types() const {
    std::vector<std::string> p;
    for (int b = 0; b < buffer_count(); ++b) {
      const bool output = b >= r_.num_inputs;
      p.push_back(fmt::format("{}{}*", output ? "" : "const ", cuda_memory_type(buffer_dtype(b))));
    }
    if (r_.kind == "matmul") p.push_back("const float*");
    for (size_t s = 0; s < r_.symbols.size(); ++s) p.push_back("i64");
    return p;
  }

  /// Parameter i's name: b<k> for buffer k, `gemm`, s<k> for symbol k.
  std::string param_name(size_t i) const {
    const size_t buffers = static_cast<size_t>(buffer_count());
    if (i < buffers) return fmt::format("b{}", i);
    if (r_.kind == "matmul" && i == buffers) return "gemm";
    return fmt::format("s{}", i - buffers - (r_.kind == "matmul" ? 1 : 0));
  }

  int buffer_count() const {
    int n = r_.num_inputs;
    for (const Store& s : r_.stores) n = std::max(n, r_.num_inputs + s.output + 1);
    return n;
  }

  /// A buffer's element type, from the accesses to it (a buffer no access reads is typed f32: it
  /// is passed, never dereferenced).
  DType buffer_dtype(int b) const {
    for (const Access& a : r_.accesses) {
      if (a.constant >= 0 || a.input < 0) continue;
      const int buffer = a.output ? r_.num_inputs + a.input : a.input;
      if (buffer == b) return a.dtype;
    }
    return DType::f32;
  }

  std::string dim(const Dim& d) const {
    std::string e = fmt::format("(i64){}", d.coefficient());
    for (const std::string& s : d.symbols()) {
      auto it = std::find(r_.symbols.begin(), r_.symbols.end(), s);
      if (it == r_.symbols.end()) throw InternalError(fmt::format("a region dim uses '{}', not among its symbols", s));
      e += fmt::format("*s{}", it - r_.symbols.begin());
    }
    return d.is_static() ? fmt::format("(i64){}", d.value()) : "(" + e + ")";
  }

  /// `Σ offset + Σ stride·i` of access `k`.
  std::string offset(int k) const {
    const Access& a = r_.accesses[static_cast<size_t>(k)];
    std::string e = "0";
    for (const Dim& d : a.offset) e += " + " + dim(d);
    for (size_t d = 0; d < a.strides.size(); ++d)
      if (!(a.strides[d] == Dim(0))) e += fmt::format(" + {}*i{}", dim(a.strides[d]), d);
    return e;
  }

  std::string pointer(int k) const {
    const Access& a = r_.accesses[static_cast<size_t>(k)];
    if (a.constant >= 0) return fmt::format("{}_c{}", name_, a.constant);
    return fmt::format("b{}", a.output ? r_.num_inputs + a.input : a.input);
  }

  /// The C statements defining `tK` for every term in `needed`, in order (operands come first).
  std::string terms(const std::set<int>& needed, const std::string& indent) const {
    std::string out;
    for (int k : needed) out += indent + fmt::format("const {} t{} = {};\n", ctype(term(k).dtype), k, expr(k));
    return out;
  }

  /// `roots` and every term they read, through operands (row values stop the walk: they are
  /// variables of the row).
  std::set<int> closure(std::vector<int> roots) const {
    std::set<int> seen;
    while (!roots.empty()) {
      int k = roots.back();
      roots.pop_back();
      if (!seen.insert(k).second) continue;
      for (int o : term(k).operands) {
        if (o >= k) throw InternalError("a region's terms are not in order");
        roots.push_back(o);
      }
    }
    return seen;
  }

  const Term& term(int k) const { return r_.terms[static_cast<size_t>(k)]; }

  std::string expr(int k) const {
    const Term& t = term(k);
    switch (t.kind) {
      case TermKind::scalar:
        return literal(t.value, t.dtype);
      case TermKind::load: {
        std::string v = fmt::format("{}[{}]", pointer(t.access), offset(t.access));
        return t.dtype == DType::boolean ? "(" + v + " != 0)" : v;
      }
      case TermKind::iota:
        return fmt::format("({})({})", ctype(t.dtype), offset(t.access));
      case TermKind::row_value:
        return fmt::format("({})rv{}", ctype(t.dtype), t.reduction);
      case TermKind::gemm:
        return "gemm[lin]";
      case TermKind::op:
        return op(t);
    }
    throw InternalError("a term of unknown kind");
  }

  std::string op(const Term& t) const {
    const Node& n = *t.node;
    auto x = [&](size_t i) { return fmt::format("t{}", t.operands.at(i)); };
    if (n.op == OpKind::select) return fmt::format("({} ? {} : {})", x(0), x(1), x(2));
    const DType in = term(t.operands[0]).dtype;
    if (n.op == OpKind::cast) return convert(x(0), in, t.dtype);
    if (t.operands.size() == 1) return unary(n, x(0), in);
    if (t.operands.size() == 2) return binary(n.op, x(0), x(1), in);
    throw InternalError(fmt::format("CUDA kernels have no {}", op_name(n.op)));
  }

  static std::string convert(const std::string& v, DType from, DType to) {
    if (from == to) return v;
    if (to == DType::boolean) return fmt::format("({} != 0)", v);  // NaN -> true
    if (is_float(from) && is_int(to)) {
      auto [lo, hi] = int_range(to);
      const std::string flo = to == DType::i32 ? "-2147483648.0" : "-9223372036854775808.0";
      const std::string fhi = to == DType::i32 ? "2147483647.0" : "9223372036854775807.0";
      return fmt::format("weft_f2i<{}>((double){}, {}, {}, {}, {})", ctype(to), v, flo, fhi, lo, hi);
    }
    return fmt::format("(({}){})", ctype(to), v);
  }

  std::string unary(const Node& node, const std::string& x, DType t) const {
    const bool f = is_float(t), f32 = t == DType::f32;
    const std::string T = ctype(t);
    auto fn = [&](const char* name) { return fmt::format("{}{}({})", name, f32 ? "f" : "", x); };
    switch (node.op) {
      case OpKind::neg:
        return f ? "(-" + x + ")" : fmt::format("weft_sub(({})0, {})", T, x);
      case OpKind::abs:
        return f ? fn("fabs") : fmt::format("({0} < 0 ? weft_sub(({1})0, {0}) : {0})", x, T);
      case OpKind::exp:
        return fn("exp");
      case OpKind::log:
        return fn("log");
      case OpKind::sqrt:
        return fn("sqrt");
      case OpKind::rsqrt:
        return fmt::format("(({})1 / {})", T, fn("sqrt"));
      case OpKind::tanh:
        return fn("tanh");
      case OpKind::sigmoid:
        return fmt::format("(({0})1 / (({0})1 + {1}{2}(-{3})))", T, "exp", f32 ? "f" : "", x);
      case OpKind::relu:
        if (f) return fmt::format("(({0} > 0 || {0} != {0}) ? {0} : ({1})0)", x, T);  // NaN stays NaN
        return fmt::format("({0} > 0 ? {0} : ({1})0)", x, T);
      case OpKind::gelu: {
        const std::string suffix = f32 ? "f" : "";
        if (node.attrs.get_string("approximate") == "tanh") {
          double k = f32 ? static_cast<double>(0.044715f) : 0.044715;
          double s = f32 ? static_cast<double>(0.79788456080286535588f) : 0.79788456080286535588;
          return fmt::format("(({2})0.5 * {0} * (({2})1 + tanh{1}({3} * ({0} + {4} * {0} * {0} * {0}))))", x, suffix, T,
                             literal(s, t), literal(k, t));
        }
        double r = f32 ? static_cast<double>(0.70710678118654752440f) : 0.70710678118654752440;
        return fmt::format("(({2})0.5 * {0} * (({2})1 + erf{1}({0} * {3})))", x, suffix, T, literal(r, t));
      }
      case OpKind::sin:
        return fn("sin");
      case OpKind::cos:
        return fn("cos");
      case OpKind::logical_not:
        return "(!" + x + ")";
      default:
        break;
    }
    throw InternalError(fmt::format("CUDA kernels have no unary {}", op_name(node.op)));
  }

  static std::string binary(OpKind op, const std::string& x, const std::string& y, DType t) {
    const bool f = is_float(t);
    auto infix = [&](const char* o) { return fmt::format("({} {} {})", x, o, y); };
    auto call = [&](const char* name) { return fmt::format("{}({}, {})", name, x, y); };
    switch (op) {
      case OpKind::add:
        return f ? infix("+") : call("weft_add");
      case OpKind::sub:
        return f ? infix("-") : call("weft_sub");
      case OpKind::mul:
        return f ? infix("*") : call("weft_mul");
      case OpKind::div:
        return f ? infix("/") : call("weft_div");
      case OpKind::pow:
        return t == DType::f32 ? call("powf") : call("pow");
      case OpKind::maximum:
        return f ? call("weft_fmax") : fmt::format("({0} > {1} ? {0} : {1})", x, y);
      case OpKind::minimum:
        return f ? call("weft_fmin") : fmt::format("({0} < {1} ? {0} : {1})", x, y);
      case OpKind::eq:
        return infix("==");
      case OpKind::ne:
        return fmt::format("(!({} == {}))", x, y);  // unordered: NaN != NaN
      case OpKind::lt:
        return infix("<");
      case OpKind::le:
        return infix("<=");
      case OpKind::gt:
        return infix(">");
      case OpKind::ge:
        return infix(">=");
      case OpKind::logical_and:
        return infix("&&");
      case OpKind::logical_or:
        return infix("||");
      default:
        break;
    }
    throw InternalError(fmt::format("CUDA kernels have no binary {}", op_name(op)));
  }

  std::string store(const Store& s, const std::string& indent) const {
    const Access& a = r_.accesses[static_cast<size_t>(s.access)];
    std::string v = fmt::format("t{}", s.term);
    if (a.dtype == DType::boolean) v = "(unsigned char)" + v;
    return indent + fmt::format("{}[{}] = {};\n", pointer(s.access), offset(s.access), v);
  }

  /// Splits `linear` into the indices of `axes` (row-major: the last one varies fastest).
  static std::string split(const std::vector<size_t>& axes, const std::string& linear, const std::string& indent) {
    if (axes.empty()) return "";
    std::string out = indent + fmt::format("i64 rest_{} = {};\n", linear, linear);
    for (size_t j = axes.size(); j-- > 1;) {
      out += indent + fmt::format("const i64 i{0} = rest_{1} % n{0}; rest_{1} /= n{0};\n", axes[j], linear);
    }
    out += indent + fmt::format("const i64 i{} = rest_{};\n", axes[0], linear);
    return out;
  }

  std::string loop_body() const {
    std::vector<size_t> axes;
    std::string total = "(i64)1";
    for (size_t d = 0; d < r_.space.size(); ++d) {
      axes.push_back(d);
      total += fmt::format(" * n{}", d);
    }
    std::string out = fmt::format("  const i64 total = {};\n", total);
    out +=
        "  for (i64 lin = (i64)blockIdx.x * blockDim.x + threadIdx.x; lin < total; lin += (i64)gridDim.x * blockDim.x) "
        "{\n";
    out += split(axes, "lin", "    ");
    std::vector<int> roots;
    for (const Store& s : r_.stores) roots.push_back(s.term);
    out += terms(closure(roots), "    ");
    for (const Store& s : r_.stores) out += store(s, "    ");
    out += "  }\n";
    return out;
  }

  std::string reduction_body() const {
    std::vector<size_t> outer, inner;
    std::string rows = "(i64)1", count = "(i64)1";
    for (size_t d = 0; d < r_.space.size(); ++d) {
      if (r_.axis_class[d] == AxisClass::outer) {
        outer.push_back(d);
        rows += fmt::format(" * n{}", d);
      } else {
        inner.push_back(d);
        count += fmt::format(" * n{}", d);
      }
    }
    const uint64_t inner_mask = r_.inner_mask();
    std::string out = fmt::format("  const i64 rows = {};\n  const i64 count = {};\n", rows, count);
    for (size_t k = 0; k < r_.reductions.size(); ++k) {
      const Reduction& red = r_.reductions[k];
      out += fmt::format("  __shared__ {} sh{}[{}];\n", ctype(red.dtype), k, block_);
      if (red.op == OpKind::argmax) out += fmt::format("  __shared__ i64 shi{}[{}];\n", k, block_);
    }
    out += "  const int tid = threadIdx.x;\n";
    out += "  for (i64 row = blockIdx.x; row < rows; row += gridDim.x) {\n";
    out += split(outer, "row", "    ");
    int stages = 0;
    for (const Reduction& red : r_.reductions) stages = std::max(stages, red.stage);
    for (int stage = 1; stage <= stages; ++stage) out += reduction_stage(stage, inner);
    std::vector<int> full, row_level;
    for (const Store& s : r_.stores) (term(s.term).depends & inner_mask ? full : row_level).push_back(s.term);
    if (!full.empty()) {
      out += "    for (i64 e = tid; e < count; e += blockDim.x) {\n";
      out += split(inner, "e", "      ");
      out += terms(closure(full), "      ");
      for (const Store& s : r_.stores)
        if (term(s.term).depends & inner_mask) out += store(s, "      ");
      out += "    }\n";
    }
    if (!row_level.empty()) {
      out += "    if (tid == 0) {\n";
      for (size_t d : inner) out += fmt::format("      const i64 i{} = 0;\n", d);
      out += terms(closure(row_level), "      ");
      for (const Store& s : r_.stores)
        if (!(term(s.term).depends & inner_mask)) out += store(s, "      ");
      out += "    }\n";
    }
    out += "    __syncthreads();\n  }\n";
    return out;
  }

  /// One pass over the row for the reductions of `stage`: per-thread partials, then the block's
  /// tree; defines `rvK` for each of them.
  std::string reduction_stage(int stage, const std::vector<size_t>& inner) const {
    std::string out;
    std::vector<int> roots;
    for (size_t k = 0; k < r_.reductions.size(); ++k) {
      const Reduction& red = r_.reductions[k];
      if (red.stage != stage) continue;
      const std::string T = ctype(red.dtype);
      out += fmt::format("    {} acc{} = {};\n", T, k, identity(red));
      if (red.op == OpKind::argmax) out += fmt::format("    i64 acci{} = -1;\n", k);
      roots.push_back(red.operand);
    }
    out += "    for (i64 e = tid; e < count; e += blockDim.x) {\n";
    out += split(inner, "e", "      ");
    out += terms(closure(roots), "      ");
    for (size_t k = 0; k < r_.reductions.size(); ++k) {
      const Reduction& red = r_.reductions[k];
      if (red.stage != stage) continue;
      const std::string x = fmt::format("t{}", red.operand);
      if (red.op == OpKind::argmax) {
        // Greater, or NaN over a number, or the first element: the earliest maximum wins (NaN is
        // the maximum), as the interpreter's argmax.
        const std::string nan = is_float(red.dtype) ? fmt::format(" || ({0} != {0} && acc{1} == acc{1})", x, k) : "";
        out += fmt::format("      if (acci{1} < 0 || {0} > acc{1}{2}) {{ acc{1} = {0}; acci{1} = e; }}\n", x, k, nan);
      } else {
        out += fmt::format("      acc{} = {};\n", k, merge(red, fmt::format("acc{}", k), x));
      }
    }
    out += "    }\n";
    for (size_t k = 0; k < r_.reductions.size(); ++k) {
      const Reduction& red = r_.reductions[k];
      if (red.stage != stage) continue;
      out += fmt::format("    sh{0}[tid] = acc{0};\n", k);
      if (red.op == OpKind::argmax) out += fmt::format("    shi{0}[tid] = acci{0};\n", k);
    }
    out += "    __syncthreads();\n";
    out += fmt::format("    for (int w = {} / 2; w > 0; w /= 2) {{\n      if (tid < w) {{\n", block_);
    for (size_t k = 0; k < r_.reductions.size(); ++k) {
      const Reduction& red = r_.reductions[k];
      if (red.stage != stage) continue;
      if (red.op == OpKind::argmax) {
        out += combine_argmax(red, static_cast<int>(k));
      } else {
        out += fmt::format("        sh{0}[tid] = {1};\n", k,
                           merge(red, fmt::format("sh{}[tid]", k), fmt::format("sh{}[tid + w]", k)));
      }
    }
    out += "      }\n      __syncthreads();\n    }\n";
    for (size_t k = 0; k < r_.reductions.size(); ++k) {
      const Reduction& red = r_.reductions[k];
      if (red.stage != stage) continue;
      out += fmt::format("    const {} rv{} = {};\n", red.op == OpKind::argmax ? "i64" : ctype(red.dtype), k,
                         finish(red, static_cast<int>(k)));
    }
    out += "    __syncthreads();\n";  // the shared partials are written again by the next stage or row
    return out;
  }

  static std::string identity(const Reduction& red) {
    const bool f = is_float(red.dtype);
    const DType t = red.dtype;
    switch (red.op) {
      case OpKind::reduce_sum:
      case OpKind::reduce_mean:
        return fmt::format("({})0", ctype(t));
      case OpKind::reduce_max:
      case OpKind::argmax:
        return f ? literal(-INFINITY, t) : int_range(t).first;
      case OpKind::reduce_min:
        return f ? literal(INFINITY, t) : int_range(t).second;
      default:
        break;
    }
    throw InternalError("a reduction region with an unknown reduction");
  }

  static std::string merge(const Reduction& red, const std::string& a, const std::string& b) {
    const bool f = is_float(red.dtype);
    switch (red.op) {
      case OpKind::reduce_max:
        return f ? fmt::format("weft_fmax({}, {})", a, b) : fmt::format("({0} > {1} ? {0} : {1})", a, b);
      case OpKind::reduce_min:
        return f ? fmt::format("weft_fmin({}, {})", a, b) : fmt::format("({0} < {1} ? {0} : {1})", a, b);
      default:
        return f ? fmt::format("({} + {})", a, b) : fmt::format("weft_add({}, {})", a, b);
    }
  }

  /// Thread tid's (value, index) against tid + w's: the other wins when it is valid and the
  /// greater (NaN counts as the maximum), or equal with an earlier index.
  static std::string combine_argmax(const Reduction& red, int k) {
    const bool f = is_float(red.dtype);
    std::string greater = fmt::format("sh{0}[tid + w] > sh{0}[tid]", k);
    std::string equal = fmt::format("sh{0}[tid + w] == sh{0}[tid]", k);
    if (f) {
      greater = fmt::format("(sh{0}[tid] == sh{0}[tid] && (sh{0}[tid + w] != sh{0}[tid + w] || {1}))", k, greater);
      equal = fmt::format("({1} || (sh{0}[tid + w] != sh{0}[tid + w] && sh{0}[tid] != sh{0}[tid]))", k, equal);
    }
    return fmt::format(
        "        if (shi{0}[tid + w] >= 0 && (shi{0}[tid] < 0 || {1} || ({2} && shi{0}[tid + w] < shi{0}[tid]))) {{\n"
        "          sh{0}[tid] = sh{0}[tid + w]; shi{0}[tid] = shi{0}[tid + w];\n        }}\n",
        k, greater, equal);
  }

  static std::string finish(const Reduction& red, int k) {
    const std::string T = ctype(red.dtype);
    if (red.op == OpKind::argmax) return fmt::format("(shi{0}[0] > 0 ? shi{0}[0] : 0)", k);
    if (red.op != OpKind::reduce_mean) return fmt::format("sh{}[0]", k);
    if (is_float(red.dtype)) return fmt::format("sh{}[0] / ({})count", k, T);  // 0/0 = NaN
    return fmt::format("(count == 0 ? ({1})0 : ({1})((i64)sh{0}[0] / count))", k, T);
  }

  const LoweredRegion& r_;
  std::string name_;
  int block_;  // a reduction block's threads
};

}  // namespace

std::string_view cuda_prelude() { return kPrelude; }

std::string cuda_memory_type(DType t) { return t == DType::boolean ? "unsigned char" : ctype(t); }

KernelSource cuda_source(const LoweredRegion& region, const std::string& name, int reduction_block) {
  if (reduction_block < 1 || (reduction_block & (reduction_block - 1)) != 0)
    throw InternalError(fmt::format("a reduction block of {} threads: not a power of two", reduction_block));
  return Generator(region, name, reduction_block).run();
}

}  // namespace weft::cuda_backend
