#include "ir/text_parser_base.h"

#include <fmt/format.h>

#include <charconv>
#include <cstdlib>
#include <limits>

namespace weft {

using text::Token;
using text::TokenKind;

ParserBase::ParserBase(std::string_view source, std::string filename) : filename_(std::move(filename)) {
  // Tokenize up front (two-token lookahead is then trivial); stop at the end or the first error token,
  // which the parser reports only if it gets that far.
  text::Lexer lexer(source);
  while (true) {
    tokens_.push_back(lexer.next());
    if (tokens_.back().kind == TokenKind::end || tokens_.back().kind == TokenKind::error) break;
  }
}

const Token& ParserBase::peek(size_t n) const { return tokens_[std::min(pos_ + n, tokens_.size() - 1)]; }

Token ParserBase::take() {
  Token t = tokens_[pos_];
  if (pos_ + 1 < tokens_.size()) ++pos_;
  return t;
}

bool ParserBase::is_keyword(std::string_view word) const {
  return cur().kind == TokenKind::identifier && cur().text == word;
}

void ParserBase::fail(const Token& at, const std::string& expected) const {
  // A lexical error token already says what was expected and what was found.
  if (at.kind == TokenKind::error) fail_at(at, at.text);
  fail_at(at, fmt::format("{} but found {}", expected, text::describe(at)));
}

void ParserBase::fail_at(const Token& at, const std::string& message) const {
  throw Error(fmt::format("{}:{}:{}: {}", filename_, at.line, at.column, message));
}

Token ParserBase::expect(TokenKind kind, const std::string& expected) {
  if (cur().kind != kind) fail(cur(), expected);
  return take();
}

void ParserBase::expect_keyword(std::string_view word, const std::string& expected) {
  if (!is_keyword(word)) fail(cur(), expected);
  take();
}

std::string ParserBase::parse_name(const std::string& what) {
  if (cur().kind != TokenKind::identifier && cur().kind != TokenKind::string) fail(cur(), what);
  // A name reaches messages, drawings and generated C: a control character in it is refused here.
  for (char c : cur().text)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      fail_at(cur(), fmt::format("{} without control characters, but the name holds byte 0x{:02x}", what,
                                 static_cast<unsigned char>(c)));
  return take().text;
}

/// Numbers in messages are clipped: a fuzzer's million-digit number need not be echoed whole.
static std::string clipped(const std::string& s) { return s.size() > 24 ? s.substr(0, 24) + "..." : s; }

static bool is_integer_spelling(const std::string& s) {
  return !s.empty() && s.find_first_of(".eEn") == std::string::npos;
}

int64_t ParserBase::parse_int(const std::string& what) {
  const Token& t = cur();
  if (t.kind != TokenKind::number || !is_integer_spelling(t.text)) fail(t, what);
  int64_t v = 0;
  auto [end, ec] = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
  if (ec != std::errc() || end != t.text.data() + t.text.size())
    fail_at(t, fmt::format("the integer {} is out of the range of a 64-bit integer", clipped(t.text)));
  take();
  return v;
}

double ParserBase::parse_real(const std::string& what) {
  const Token& t = cur();
  bool named = t.kind == TokenKind::identifier && (t.text == "inf" || t.text == "nan");
  if (t.kind != TokenKind::number && !named) fail(t, what);
  double v = 0;
  auto [end, ec] = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
  if (ec != std::errc() || end != t.text.data() + t.text.size())
    fail_at(t, fmt::format("the number {} is out of the range of a 64-bit float", clipped(t.text)));
  take();
  return v;
}

uint64_t ParserBase::parse_seed() {
  const Token& t = cur();
  if (t.kind != TokenKind::number || !is_integer_spelling(t.text) || t.text[0] == '-')
    fail(t, "a seed (a non-negative integer)");
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
  if (ec != std::errc() || end != t.text.data() + t.text.size())
    fail_at(t, fmt::format("the seed {} is out of the range of a 64-bit unsigned integer", clipped(t.text)));
  take();
  return v;
}

int64_t ParserBase::parse_bound() {
  Token t = cur();
  int64_t v = parse_int("a bound (an integer) after '<='");
  if (v < 0 || v > kMaxTextDim) fail_at(t, fmt::format("a symbol's bound must be between 0 and 2^48, but got {}", v));
  return v;
}

Dim ParserBase::parse_dim(bool allow_negative) {
  int64_t coeff = 1;
  std::vector<std::string> symbols;
  while (true) {
    const Token& t = cur();
    if (t.kind == TokenKind::identifier) {
      symbols.push_back(take().text);
    } else if (t.kind == TokenKind::number && is_integer_spelling(t.text)) {
      Token number = t;
      int64_t v = parse_int("a dim");
      if (v < 0 && !allow_negative) fail_at(number, fmt::format("a dim must not be negative, but got {}", v));
      // |coeff| <= 2^48 here, so the check below cannot itself overflow.
      uint64_t mag = v < 0 ? uint64_t{0} - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
      uint64_t cmag = static_cast<uint64_t>(coeff < 0 ? -coeff : coeff);
      if (mag > static_cast<uint64_t>(kMaxTextDim) || (cmag != 0 && mag > static_cast<uint64_t>(kMaxTextDim) / cmag))
        fail_at(number, fmt::format("a dim must be at most 2^48 = {}, but got {}", kMaxTextDim, clipped(number.text)));
      coeff *= v;
    } else {
      fail(t, "a dim (a number or a symbol such as B)");
    }
    if (cur().kind != TokenKind::star) break;
    take();
  }
  Dim d(coeff);
  for (const auto& s : symbols) d = d * Dim::symbol(s);
  return d;
}

void ParserBase::check_element_count(const Shape& shape, const Token& at) const {
  uint64_t product = 1;
  for (const Dim& d : shape) {
    int64_t c = d.coefficient();
    uint64_t mag = c == 0 ? 1 : static_cast<uint64_t>(c < 0 ? -c : c);
    if (mag > static_cast<uint64_t>(kMaxTextDim) / product)
      fail_at(at, fmt::format("a shape may hold at most 2^48 = {} elements (counting its static factors), but {} "
                              "holds more",
                              kMaxTextDim, shape_str(shape)));
    product *= mag;
  }
}

template <typename Item>
void ParserBase::parse_list(const std::string& what, Item item) {
  expect(TokenKind::lbracket, fmt::format("'[' to open {}", what));
  bool first = true;
  while (cur().kind != TokenKind::rbracket) {
    if (!first) expect(TokenKind::comma, fmt::format("',' or ']' in {}", what));
    first = false;
    item();
  }
  take();
}

TypeWithBounds ParserBase::parse_type(bool allow_bounds) {
  Token start = cur();
  if (start.kind != TokenKind::identifier) fail(start, "a type such as f32[B, 784]");
  std::optional<DType> dtype = parse_dtype(start.text);
  if (!dtype) fail(start, "a dtype (f32, f64, f16, bf16, i32, i64 or bool)");
  take();
  TypeWithBounds out;
  out.type.dtype = *dtype;
  parse_list("the shape", [&] {
    Token dim_token = cur();
    Dim d = parse_dim(false);
    out.type.shape.push_back(d);
    if (cur().kind != TokenKind::less_equal) return;
    if (!allow_bounds) fail_at(cur(), "a bound (<=) may be declared only in the type of an input or a parameter");
    if (d.coefficient() != 1 || d.symbols().size() != 1)
      fail_at(cur(), fmt::format("a bound (<=) applies to a single symbol such as B<=4096, not to '{}'", d.str()));
    take();
    int64_t bound = parse_bound();
    out.bounds.push_back(SymbolBound{d.symbols()[0], bound, dim_token});
  });
  check_element_count(out.type.shape, start);
  return out;
}

AttrValue ParserBase::parse_attr_value(AttrKind kind) {
  Token start = cur();
  switch (kind) {
    case AttrKind::boolean:
      if (is_keyword("true") || is_keyword("false")) return take().text == "true";
      fail(start, "true or false");
    case AttrKind::integer:
      return parse_int("an integer");
    case AttrKind::real:
      return parse_real("a number");
    case AttrKind::string:
      return expect(TokenKind::string, "a quoted string").text;
    case AttrKind::integers: {
      std::vector<int64_t> xs;
      parse_list("a list of integers", [&] { xs.push_back(parse_int("an integer")); });
      return xs;
    }
    case AttrKind::reals: {
      std::vector<double> xs;
      parse_list("a list of numbers", [&] { xs.push_back(parse_real("a number")); });
      return xs;
    }
    case AttrKind::dtype: {
      std::optional<DType> t = start.kind == TokenKind::identifier ? parse_dtype(start.text) : std::nullopt;
      if (!t) fail(start, "a dtype (f32, f64, f16, bf16, i32, i64 or bool)");
      take();
      return *t;
    }
    case AttrKind::shape: {
      Shape shape;
      parse_list("a shape", [&] { shape.push_back(parse_dim(true)); });
      check_element_count(shape, start);
      return shape;
    }
  }
  fail(start, "an attribute value");
}

/// Splits "<rest>:<int>" at the last colon; false if the text after it is not an int.
static bool split_number(std::string_view s, std::string_view& rest, int& value) {
  size_t colon = s.rfind(':');
  if (colon == std::string_view::npos) return false;
  std::string_view tail = s.substr(colon + 1);
  if (tail.empty() || tail == "-") return false;
  for (size_t i = 0; i < tail.size(); ++i)
    if (!((tail[i] >= '0' && tail[i] <= '9') || (i == 0 && tail[i] == '-'))) return false;
  auto [end, ec] = std::from_chars(tail.data(), tail.data() + tail.size(), value);
  if (ec != std::errc() || end != tail.data() + tail.size()) return false;
  rest = s.substr(0, colon);
  return true;
}

SourceLoc ParserBase::parse_loc(const Token& value) const {
  // Numbers are read from the right, so a file name may itself contain colons.
  std::string_view rest;
  int last = 0;
  if (!split_number(value.text, rest, last)) fail(value, "a location such as \"model.cpp:14\" or \"model.cpp:14:3\"");
  SourceLoc loc;
  std::string_view file;
  int line = 0;
  if (split_number(rest, file, line)) {
    loc = SourceLoc{std::string(file), line, last};
  } else {
    loc = SourceLoc{std::string(rest), last, 0};
  }
  return loc;
}

}  // namespace weft
