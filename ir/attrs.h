/** \file
 * Node attributes: a small sorted map from name to a typed value.
 *
 * The op table declares each op's attributes (name, kind, default); the builder and the parser
 * fill in defaults so that every node carries every attribute its op declares, and the printer
 * leaves out those equal to their default.
 */
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "ir/dtype.h"
#include "ir/error.h"
#include "ir/shape.h"

namespace weft {

enum class AttrKind : uint8_t { boolean, integer, real, string, integers, reals, dtype, shape };

/// The alternatives are in AttrKind order.
using AttrValue =
    std::variant<bool, int64_t, double, std::string, std::vector<int64_t>, std::vector<double>, DType, Shape>;

AttrKind attr_kind(const AttrValue& v);
std::string_view attr_kind_name(AttrKind k);

class Attrs {
 public:
  Attrs() = default;
  Attrs(std::initializer_list<std::pair<const std::string, AttrValue>> init) : map_(init) {}

  bool has(const std::string& name) const { return map_.count(name) > 0; }
  void set(const std::string& name, AttrValue v) { map_[name] = std::move(v); }
  void erase(const std::string& name) { map_.erase(name); }
  const AttrValue& at(const std::string& name) const;

  /// Typed access; internal error if absent or of another kind (the op table guarantees both).
  template <typename T>
  const T& get(const std::string& name) const {
    const AttrValue& v = at(name);
    const T* p = std::get_if<T>(&v);
    WEFT_CHECK(p != nullptr, "attribute '" + name + "' has kind " + std::string(attr_kind_name(attr_kind(v))));
    return *p;
  }
  int64_t get_int(const std::string& name) const { return get<int64_t>(name); }
  double get_real(const std::string& name) const { return get<double>(name); }
  bool get_bool(const std::string& name) const { return get<bool>(name); }
  const std::vector<int64_t>& get_ints(const std::string& name) const { return get<std::vector<int64_t>>(name); }
  const std::vector<double>& get_reals(const std::string& name) const { return get<std::vector<double>>(name); }
  const std::string& get_string(const std::string& name) const { return get<std::string>(name); }
  DType get_dtype(const std::string& name) const { return get<DType>(name); }
  const Shape& get_shape(const std::string& name) const { return get<Shape>(name); }

  const std::map<std::string, AttrValue>& items() const { return map_; }
  bool operator==(const Attrs& other) const = default;

 private:
  std::map<std::string, AttrValue> map_;
};

/// Prints a value exactly as the text IR does: `true`, `3`, `0.5`, `"s"`, `[1, 2]`, `[0.5, 1.0]`, `f32`,
/// `[B*T, 512]`.
/// Reals always carry a '.' or exponent and round-trip bit-exactly.
std::string attr_value_str(const AttrValue& v);
std::string real_str(double v);

}  // namespace weft
