#include "ir/shape.h"

#include <algorithm>
#include <cctype>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ir/error.h"

namespace weft {

Dim::Dim(int64_t value) : coeff_(value) {}

Dim Dim::symbol(const std::string& name) {
  Dim d;
  d.coeff_ = 1;
  d.symbols_ = {name};
  return d;
}

int64_t Dim::value() const {
  WEFT_CHECK(is_static(), "value() of symbolic dim " + str());
  return coeff_;
}

int64_t Dim::evaluate(const SymbolBindings& bindings) const {
  int64_t v = coeff_;
  for (const auto& s : symbols_) {
    auto it = bindings.find(s);
    if (it == bindings.end())
      throw Error(fmt::format("symbolic dim '{}' has no value: bind it by passing an input whose shape uses it", s));
    if (__builtin_mul_overflow(v, it->second, &v))
      throw Error(fmt::format("symbolic dim {} overflows 64 bits with {} = {}", str(), s, it->second));
  }
  return v;
}

int64_t checked_num_elements(const std::vector<int64_t>& sizes, const std::string& what) {
  if (sizes.size() > static_cast<size_t>(kMaxRank))
    throw Error(fmt::format("{}: a tensor has at most {} dims, but got {}", what, kMaxRank, sizes.size()));
  int64_t n = 1;
  for (int64_t d : sizes)
    if (d < 0) throw Error(fmt::format("{}: dims must be non-negative, but got [{}]", what, fmt::join(sizes, ", ")));
  for (int64_t d : sizes)
    if (__builtin_mul_overflow(n, d, &n) || n > kMaxElements)
      throw Error(fmt::format("{}: a tensor holds at most 2^48 = {} elements, but [{}] holds more", what,
                              kMaxElements, fmt::join(sizes, ", ")));
  return n;
}

bool Dim::is_bound_by(const SymbolBindings& bindings) const {
  return std::all_of(symbols_.begin(), symbols_.end(), [&](const std::string& s) { return bindings.count(s) > 0; });
}

std::optional<Dim> Dim::divided_by(const Dim& other) const {
  if (other.coeff_ == 0 || coeff_ % other.coeff_ != 0) return std::nullopt;
  Dim r;
  r.coeff_ = coeff_ / other.coeff_;
  r.symbols_ = symbols_;
  for (const auto& s : other.symbols_) {
    auto it = std::find(r.symbols_.begin(), r.symbols_.end(), s);
    if (it == r.symbols_.end()) return std::nullopt;
    r.symbols_.erase(it);
  }
  return r;
}

std::string Dim::str() const {
  std::string out;
  if (coeff_ != 1 || symbols_.empty()) out = std::to_string(coeff_);
  for (const auto& s : symbols_) {
    if (!out.empty()) out += '*';
    out += s;
  }
  return out;
}

static bool is_symbol_name(const std::string& s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

std::optional<Dim> Dim::parse(const std::string& text) {
  Dim d(1);
  size_t start = 0;
  if (text.empty()) return std::nullopt;
  while (true) {
    size_t star = text.find('*', start);
    std::string part = text.substr(start, star == std::string::npos ? std::string::npos : star - start);
    if (part.empty()) return std::nullopt;
    if (std::isdigit(static_cast<unsigned char>(part[0]))) {
      if (part.size() > 18 || !std::all_of(part.begin(), part.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
        return std::nullopt;
      d.coeff_ *= std::stoll(part);
      if (d.coeff_ > (int64_t{1} << 50)) return std::nullopt;
    } else if (is_symbol_name(part)) {
      d.symbols_.push_back(part);
    } else {
      return std::nullopt;
    }
    if (star == std::string::npos) break;
    start = star + 1;
  }
  std::sort(d.symbols_.begin(), d.symbols_.end());
  if (!d.symbols_.empty() && d.coeff_ == 0) return Dim(0);
  return d;
}

Dim operator*(const Dim& a, const Dim& b) {
  Dim r;
  r.coeff_ = a.coeff_ * b.coeff_;
  if (r.coeff_ == 0) return Dim(0);
  r.symbols_ = a.symbols_;
  r.symbols_.insert(r.symbols_.end(), b.symbols_.begin(), b.symbols_.end());
  std::sort(r.symbols_.begin(), r.symbols_.end());
  return r;
}

bool Dim::operator<(const Dim& other) const {
  if (symbols_ != other.symbols_) return symbols_ < other.symbols_;
  return coeff_ < other.coeff_;
}

Dim num_elements(const Shape& shape) {
  Dim n(1);
  for (const auto& d : shape) n = n * d;
  return n;
}

std::string shape_str(const Shape& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) out += ", ";
    out += shape[i].str();
  }
  return out + "]";
}

std::vector<int64_t> evaluate_shape(const Shape& shape, const SymbolBindings& bindings) {
  std::vector<int64_t> out;
  out.reserve(shape.size());
  for (const auto& d : shape) out.push_back(d.evaluate(bindings));
  return out;
}

Shape static_shape(const std::vector<int64_t>& sizes) { return Shape(sizes.begin(), sizes.end()); }

std::string TensorType::str() const { return std::string(dtype_name(dtype)) + shape_str(shape); }

int normalize_axis(int64_t axis, int rank, const std::string& what) {
  int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank)
    throw Error(fmt::format("{}: axis {} is out of range for a tensor of rank {} (valid: {} to {})", what, axis,
                            rank, -rank, rank - 1));
  return static_cast<int>(a);
}

}  // namespace weft
