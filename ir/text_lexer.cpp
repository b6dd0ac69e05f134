#include "ir/text_lexer.h"

#include <fmt/format.h>

#include <algorithm>

namespace weft::text {

bool is_identifier_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }

bool is_identifier_char(char c) { return is_identifier_start(c) || (c >= '0' && c <= '9') || c == '.'; }

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool is_plain_identifier(std::string_view name) {
  if (name.empty() || !is_identifier_start(name[0])) return false;
  for (char c : name)
    if (!is_identifier_char(c)) return false;
  return true;
}

void Lexer::advance(size_t n) {
  for (size_t i = 0; i < n && pos_ < src_.size(); ++i) {
    if (src_[pos_] == '\n') {
      ++line_;
      column_ = 1;
    } else {
      ++column_;
    }
    ++pos_;
  }
}

void Lexer::skip_space_and_comments() {
  while (!at_end()) {
    char c = peek();
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      advance();
    } else if (c == '#') {
      while (!at_end() && peek() != '\n') advance();
    } else {
      break;
    }
  }
}

Token Lexer::make(TokenKind kind, std::string text, int line, int column) const {
  return Token{kind, std::move(text), line, column};
}

Token Lexer::next() {
  skip_space_and_comments();
  int line = line_, column = column_;
  if (at_end()) return make(TokenKind::end, "", line, column);
  char c = peek();
  auto single = [&](TokenKind kind) {
    advance();
    return make(kind, std::string(1, c), line, column);
  };
  switch (c) {
    case '(':
      return single(TokenKind::lparen);
    case ')':
      return single(TokenKind::rparen);
    case '{':
      return single(TokenKind::lbrace);
    case '}':
      return single(TokenKind::rbrace);
    case '[':
      return single(TokenKind::lbracket);
    case ']':
      return single(TokenKind::rbracket);
    case ',':
      return single(TokenKind::comma);
    case ':':
      return single(TokenKind::colon);
    case '=':
      return single(TokenKind::equals);
    case '*':
      return single(TokenKind::star);
    case '"':
      return lex_string(line, column);
    default:
      break;
  }
  if (c == '-' && peek(1) == '>') {
    advance(2);
    return make(TokenKind::arrow, "->", line, column);
  }
  if (c == '<' && peek(1) == '=') {
    advance(2);
    return make(TokenKind::less_equal, "<=", line, column);
  }
  if (c == '-' && peek(1) == 'i' && peek(2) == 'n' && peek(3) == 'f' && !is_identifier_char(peek(4))) {
    advance(4);
    return make(TokenKind::number, "-inf", line, column);
  }
  if (is_digit(c) || (c == '-' && is_digit(peek(1)))) return lex_number(line, column);
  if (is_identifier_start(c)) {
    size_t start = pos_;
    while (!at_end() && is_identifier_char(peek())) advance();
    return make(TokenKind::identifier, std::string(src_.substr(start, pos_ - start)), line, column);
  }
  if (c == '%') {
    advance();
    size_t start = pos_;
    while (!at_end() && (is_identifier_char(peek()))) advance();
    if (pos_ == start) return make(TokenKind::error, "'%' must be followed by a value name such as %0", line, column);
    return make(TokenKind::result, std::string(src_.substr(start, pos_ - start)), line, column);
  }
  auto printable = static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f;
  std::string shown = printable ? fmt::format("'{}'", c) : fmt::format("byte 0x{:02x}", static_cast<unsigned char>(c));
  advance();
  return make(TokenKind::error, fmt::format("a token but found unexpected character {}", shown), line, column);
}

Token Lexer::lex_number(int line, int column) {
  size_t start = pos_;
  if (peek() == '-') advance();
  while (is_digit(peek())) advance();
  if (peek() == '.') {
    advance();
    while (is_digit(peek())) advance();
  }
  if (peek() == 'e' || peek() == 'E') {
    size_t ahead = 1;
    if (peek(ahead) == '+' || peek(ahead) == '-') ++ahead;
    if (!is_digit(peek(ahead)))
      return make(TokenKind::error, "a number but found an exponent without digits", line, column);
    advance(ahead);
    while (is_digit(peek())) advance();
  }
  if (is_identifier_char(peek())) {
    std::string spelled(src_.substr(start, std::min<size_t>(pos_ - start + 1, 24)));
    while (is_identifier_char(peek())) advance();
    return make(TokenKind::error, fmt::format("a number but found '{}...' (a name cannot start with a digit)", spelled),
                line, column);
  }
  return make(TokenKind::number, std::string(src_.substr(start, pos_ - start)), line, column);
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Token Lexer::lex_string(int line, int column) {
  advance();  // the opening quote
  std::string out;
  while (true) {
    if (at_end() || peek() == '\n')
      return make(TokenKind::error, "a closing '\"' but found the end of the line (unterminated string)", line, column);
    char c = peek();
    if (c == '"') {
      advance();
      return make(TokenKind::string, std::move(out), line, column);
    }
    if (c != '\\') {
      out += c;
      advance();
      continue;
    }
    int esc_line = line_, esc_column = column_;
    char e = peek(1);
    switch (e) {
      case '"':
        out += '"';
        advance(2);
        continue;
      case '\\':
        out += '\\';
        advance(2);
        continue;
      case 'n':
        out += '\n';
        advance(2);
        continue;
      case 't':
        out += '\t';
        advance(2);
        continue;
      case 'x': {
        int hi = hex_value(peek(2)), lo = hex_value(peek(3));
        if (hi < 0 || lo < 0)
          return make(TokenKind::error, "two hex digits after \\x in a string but found something else", esc_line,
                      esc_column);
        out += static_cast<char>(hi * 16 + lo);
        advance(4);
        continue;
      }
      default:
        return make(TokenKind::error, "an escape (\\\" \\\\ \\n \\t or \\xHH) but found an unknown escape in a string",
                    esc_line, esc_column);
    }
  }
}

std::string describe(const Token& token) {
  auto clip = [](const std::string& s) { return s.size() > 24 ? s.substr(0, 24) + "..." : s; };
  switch (token.kind) {
    case TokenKind::end:
      return "the end of the input";
    case TokenKind::error:
      return token.text;
    case TokenKind::identifier:
      return fmt::format("'{}'", clip(token.text));
    case TokenKind::result:
      return fmt::format("'%{}'", clip(token.text));
    case TokenKind::number:
      return fmt::format("number {}", clip(token.text));
    case TokenKind::string: {
      std::string shown;
      for (char c : clip(token.text)) shown += (static_cast<unsigned char>(c) < 0x20) ? '?' : c;
      return fmt::format("string \"{}\"", shown);
    }
    default:
      return fmt::format("'{}'", token.text);
  }
}

}  // namespace weft::text
