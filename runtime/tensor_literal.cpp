#include "runtime/tensor_literal.h"

#include <fmt/format.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <vector>

#include "ir/error.h"

namespace weft {

namespace {

/// A recursive-descent reader of nested lists; values are kept as text until the dtype reads them.
class Reader {
 public:
  Reader(std::string_view text, DType dtype, const std::string& what) : text_(text), dtype_(dtype), what_(what) {}

  Tensor read() {
    skip_space();
    std::vector<int64_t> shape;
    value(0, shape);
    skip_space();
    if (at_ < text_.size()) fail(fmt::format("unexpected '{}' after the value", text_[at_]));
    for (size_t d = 0; d < *rank_; ++d) shape.push_back(*dims_[d]);
    Tensor t = Tensor::zeros(dtype_, shape);
    for (size_t i = 0; i < values_.size(); ++i) store(t, i, values_[i]);
    return t;
  }

 private:
  [[noreturn]] void fail(const std::string& why, size_t column) const {
    throw Error(fmt::format("{}: not a tensor literal: {} (at column {} of '{}')", what_, why, column + 1,
                            text_.substr(0, 80)));
  }
  [[noreturn]] void fail(const std::string& why) const { fail(why, at_); }

  void skip_space() {
    while (at_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[at_]))) ++at_;
  }

  /// A value at nesting `depth`; the first list at each depth fixes that dim, later ones must match.
  void value(size_t depth, std::vector<int64_t>& shape) {
    if (depth > 64) fail("lists nested more than 64 deep");
    if (at_ < text_.size() && text_[at_] == '[') {
      const size_t open = at_++;
      int64_t count = 0;
      skip_space();
      if (at_ < text_.size() && text_[at_] == ']') {
        ++at_;
      } else {
        for (;;) {
          skip_space();
          value(depth + 1, shape);
          ++count;
          skip_space();
          if (at_ < text_.size() && text_[at_] == ',') {
            ++at_;
            continue;
          }
          if (at_ < text_.size() && text_[at_] == ']') {
            ++at_;
            break;
          }
          fail(at_ < text_.size() ? fmt::format("expected ',' or ']' but got '{}'", text_[at_])
                                  : "the list opened here is not closed",
               at_ < text_.size() ? at_ : open);
        }
      }
      fix_dim(depth, count, shape, open);
      if (count == 0) fix_rank(depth + 1, shape, open);
      return;
    }
    size_t start = at_;
    while (at_ < text_.size() && !std::isspace(static_cast<unsigned char>(text_[at_])) && text_[at_] != ',' &&
           text_[at_] != ']' && text_[at_] != '[')
      ++at_;
    if (at_ == start) fail(at_ < text_.size() ? fmt::format("expected a value but got '{}'", text_[at_]) : "no value");
    fix_rank(depth, shape, start);
    values_.emplace_back(text_.substr(start, at_ - start), start);
  }

  /// Inner lists close first, so each depth's length is kept apart until the end.
  void fix_dim(size_t depth, int64_t count, std::vector<int64_t>& shape, size_t where) {
    (void)shape;
    if (dims_.size() <= depth) dims_.resize(depth + 1);
    if (dims_[depth] && *dims_[depth] != count)
      fail(fmt::format("rows of different lengths: this list has {} element{}, an earlier one {}", count,
                       count == 1 ? "" : "s", *dims_[depth]),
           where);
    dims_[depth] = count;
  }

  /// The first scalar (or empty list) fixes the rank; every other must sit at the same depth.
  void fix_rank(size_t depth, std::vector<int64_t>& shape, size_t where) {
    if (!rank_) rank_ = depth;
    if (*rank_ != depth)
      fail(fmt::format("a value at depth {} where an earlier one is at depth {}", depth, *rank_), where);
    (void)shape;
  }

  void store(Tensor& t, size_t i, const std::pair<std::string_view, size_t>& v) const {
    const auto [token, column] = v;
    const std::string s(token);
    if (dtype_ == DType::boolean) {
      bool b;
      if (s == "true" || s == "1")
        b = true;
      else if (s == "false" || s == "0")
        b = false;
      else
        fail(fmt::format("'{}' is not a bool (true, false, 1 or 0)", s), column);
      static_cast<bool*>(t.raw())[i] = b;
      return;
    }
    if (dtype_ == DType::i32 || dtype_ == DType::i64) {
      int64_t n = 0;
      auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
      if (ec == std::errc::result_out_of_range ||
          (ec == std::errc() && end == s.data() + s.size() && dtype_ == DType::i32 && (n < INT32_MIN || n > INT32_MAX)))
        fail(fmt::format("{} does not fit in {}", s, dtype_name(dtype_)), column);
      if (ec != std::errc() || end != s.data() + s.size())
        fail(fmt::format("'{}' is not an integer (the input is {})", s, dtype_name(dtype_)), column);
      if (dtype_ == DType::i32)
        static_cast<int32_t*>(t.raw())[i] = static_cast<int32_t>(n);
      else
        static_cast<int64_t*>(t.raw())[i] = n;
      return;
    }
    if (dtype_ == DType::f32 || dtype_ == DType::f64) {
      char* end = nullptr;
      errno = 0;
      double d = std::strtod(s.c_str(), &end);
      if (end != s.c_str() + s.size() || s.empty() || std::isspace(static_cast<unsigned char>(s[0])))
        fail(fmt::format("'{}' is not a number", s), column);
      if (dtype_ == DType::f32)
        static_cast<float*>(t.raw())[i] = static_cast<float>(d);
      else
        static_cast<double*>(t.raw())[i] = d;
      return;
    }
    fail(fmt::format("a {} input cannot be written as a literal (give a .npy or safetensors file)", dtype_name(dtype_)),
         0);
  }

  std::string_view text_;
  DType dtype_;
  const std::string& what_;
  size_t at_ = 0;
  std::optional<size_t> rank_;
  std::vector<std::optional<int64_t>> dims_;  // the length of the lists at each depth
  std::vector<std::pair<std::string_view, size_t>> values_;
};

}  // namespace

Tensor parse_tensor_literal(std::string_view text, DType dtype, const std::string& what) {
  return Reader(text, dtype, what).read();
}

bool looks_like_tensor_literal(std::string_view text) {
  if (text.empty()) return false;
  if (text[0] == '[' || text == "true" || text == "false") return true;
  std::string s(text);
  char* end = nullptr;
  std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size() && !std::isspace(static_cast<unsigned char>(s[0]));
}

}  // namespace weft
