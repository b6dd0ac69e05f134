/** \file
 * The lexer of the text IR (`.weft` files), shared by the parser and its tests.
 *
 * Newlines are whitespace (every statement starts with a token that says what it is), and `#` starts
 * a comment that runs to the end of the line. The lexer never throws for a bad character: it returns
 * an `error` token carrying the message, so that the parser reports it with the usual
 * `<file>:<line>:<col>: ...` prefix. Tokens refer to the source text by position only.
 */
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace weft::text {

enum class TokenKind : uint8_t {
  end,         // end of input
  error,       // a lexical error; `text` holds the message
  identifier,  // [A-Za-z_][A-Za-z0-9_.]*
  result,      // %name: `text` is the name without '%'
  number,      // -?digits[.digits][e[+-]digits], or inf, -inf, nan
  string,      // "..." with escapes; `text` holds the decoded contents
  lparen,
  rparen,
  lbrace,
  rbrace,
  lbracket,
  rbracket,
  comma,
  colon,
  equals,
  star,
  arrow,       // ->
  less_equal,  // <=
};

struct Token {
  TokenKind kind = TokenKind::end;
  std::string text;  // the spelling (decoded for strings; the message for errors)
  int line = 1;
  int column = 1;
};

class Lexer {
 public:
  explicit Lexer(std::string_view source) : src_(source) {}
  /// The next token; `end` forever once the input is exhausted.
  Token next();

 private:
  char peek(size_t ahead = 0) const { return pos_ + ahead < src_.size() ? src_[pos_ + ahead] : '\0'; }
  bool at_end(size_t ahead = 0) const { return pos_ + ahead >= src_.size(); }
  void advance(size_t n = 1);
  void skip_space_and_comments();
  Token make(TokenKind kind, std::string text, int line, int column) const;
  Token lex_number(int line, int column);
  Token lex_string(int line, int column);

  std::string_view src_;
  size_t pos_ = 0;
  int line_ = 1;
  int column_ = 1;
};

/// A short, readable description of a token for "expected X but found Y" messages.
std::string describe(const Token& token);

bool is_identifier_start(char c);
bool is_identifier_char(char c);
/// Whether `name` can be written bare (as an identifier) rather than quoted.
bool is_plain_identifier(std::string_view name);

}  // namespace weft::text
