#include "ir/attrs.h"

#include <charconv>
#include <cmath>

namespace weft {

AttrKind attr_kind(const AttrValue& v) { return static_cast<AttrKind>(v.index()); }

std::string_view attr_kind_name(AttrKind k) {
  switch (k) {
    case AttrKind::boolean: return "bool";
    case AttrKind::integer: return "int";
    case AttrKind::real: return "float";
    case AttrKind::string: return "string";
    case AttrKind::integers: return "int list";
    case AttrKind::reals: return "float list";
    case AttrKind::dtype: return "dtype";
    case AttrKind::shape: return "shape";
  }
  return "?";
}

const AttrValue& Attrs::at(const std::string& name) const {
  auto it = map_.find(name);
  WEFT_CHECK(it != map_.end(), "missing attribute '" + name + "'");
  return it->second;
}

std::string real_str(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, res.ptr);
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";
  return s;
}

static std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string attr_value_str(const AttrValue& v) {
  switch (attr_kind(v)) {
    case AttrKind::boolean: return std::get<bool>(v) ? "true" : "false";
    case AttrKind::integer: return std::to_string(std::get<int64_t>(v));
    case AttrKind::real: return real_str(std::get<double>(v));
    case AttrKind::string: return quote(std::get<std::string>(v));
    case AttrKind::integers: {
      std::string out = "[";
      const auto& xs = std::get<std::vector<int64_t>>(v);
      for (size_t i = 0; i < xs.size(); ++i) out += (i ? ", " : "") + std::to_string(xs[i]);
      return out + "]";
    }
    case AttrKind::reals: {
      std::string out = "[";
      const auto& xs = std::get<std::vector<double>>(v);
      for (size_t i = 0; i < xs.size(); ++i) out += (i ? ", " : "") + real_str(xs[i]);
      return out + "]";
    }
    case AttrKind::dtype: return std::string(dtype_name(std::get<DType>(v)));
    case AttrKind::shape: return shape_str(std::get<Shape>(v));
  }
  return "?";
}

}  // namespace weft
