/** \file
 * The token-level half of the text-IR parser: the token cursor, error reporting, and the grammar of
 * the leaves — names, numbers, dims, types, attribute values and source locations. text_parser.cpp
 * builds graphs on top of it.
 *
 * Every error is a `weft::Error` reading `<file>:<line>:<col>: <what was expected> but found <token>`
 * (or `<file>:<line>:<col>: <message>` for errors that are not about syntax). Numbers are checked
 * for overflow: a dim or the element count of a shape above 2^48 is rejected, so no later shape
 * computation can overflow on hostile input.
 */
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ir/attrs.h"
#include "ir/error.h"
#include "ir/shape.h"
#include "ir/text_lexer.h"

namespace weft {

/// The largest static dim, and the largest product of a shape's static factors, the parser accepts.
constexpr int64_t kMaxTextDim = int64_t{1} << 48;

/// `B<=4096` written at one dim of an input's or parameter's type.
struct SymbolBound {
  std::string symbol;
  int64_t bound = 0;
  text::Token where;
};

struct TypeWithBounds {
  TensorType type;
  std::vector<SymbolBound> bounds;
};

class ParserBase {
 public:
  ParserBase(std::string_view source, std::string filename);

 protected:
  const text::Token& cur() const { return tokens_[pos_]; }
  /// The token `n` ahead of the current one (the last token, `end` or `error`, repeats).
  const text::Token& peek(size_t n) const;
  text::Token take();
  bool is_keyword(std::string_view word) const;

  /// Throws "<file>:<line>:<col>: <expected> but found <token>".
  [[noreturn]] void fail(const text::Token& at, const std::string& expected) const;
  /// Throws "<file>:<line>:<col>: <message>".
  [[noreturn]] void fail_at(const text::Token& at, const std::string& message) const;
  text::Token expect(text::TokenKind kind, const std::string& expected);
  void expect_keyword(std::string_view word, const std::string& expected);

  /// An identifier or a quoted string.
  std::string parse_name(const std::string& what);
  int64_t parse_int(const std::string& what);
  double parse_real(const std::string& what);
  uint64_t parse_seed();
  /// A symbol's bound, after `<=`.
  int64_t parse_bound();
  /// `64`, `B`, `B*T`, `8*T`; negative factors only where `allow_negative` (shape attributes).
  Dim parse_dim(bool allow_negative);
  /// `f32[B, 784]`; with `allow_bounds`, dims may carry `<=N` (inputs and parameters).
  TypeWithBounds parse_type(bool allow_bounds);
  AttrValue parse_attr_value(AttrKind kind);
  /// "file:line" or "file:line:col" from a string token.
  SourceLoc parse_loc(const text::Token& value) const;

 private:
  template <typename Item>
  void parse_list(const std::string& what, Item item);
  void check_element_count(const Shape& shape, const text::Token& at) const;

  std::string filename_;
  std::vector<text::Token> tokens_;
  size_t pos_ = 0;
};

}  // namespace weft
