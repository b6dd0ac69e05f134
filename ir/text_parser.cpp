/** \file
 * The text-IR parser: hand-written recursive descent over the tokens of text_lexer.h.
 *
 * It checks everything a graph must satisfy, so that a file it accepts is a well-typed graph: names
 * are defined once and before use, each node is re-checked by its op's shape rule (through
 * GraphBuilder) and its declared result types must equal the inferred ones, outputs and state updates
 * have the declared types, and initializers are valid. Every failure is a `weft::Error` that starts
 * with `<file>:<line>:<col>: `. It never recurses more deeply than the nesting of sub-graphs, which
 * is limited to 64 levels, so hostile input cannot overflow the stack.
 */
#include <fmt/format.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "ir/file_io.h"
#include "ir/graph_builder.h"
#include "ir/init.h"
#include "ir/ops.h"
#include "ir/text.h"
#include "ir/text_parser_base.h"

namespace weft {

namespace {

using text::Token;
using text::TokenKind;

constexpr int kMaxGraphDepth = 64;

/// An input or parameter declared before it can be added to the graph (see `materialize_inputs`).
struct PendingDecl {
  std::string name;
  Token where;
  TypeWithBounds type;
};

struct OutputSpec {
  std::string name;
  Token where;
  TensorType type;
};

/// Per-graph parsing state: the graph being built and the names in scope.
struct Scope {
  Graph graph;
  std::map<std::string, std::pair<ValueId, Token>> named;    // inputs and parameters
  std::map<std::string, std::pair<ValueId, Token>> results;  // %name -> value
  std::map<std::string, Token> bounded;                      // symbols given a bound, and where
  std::map<std::string, Token> updated;                      // params with an update, and where
  std::vector<PendingDecl> inputs;
};

/// Up to three names of ops spelled like `name`, for "did you mean" hints.
std::string close_op_names(const std::string& name) {
  auto distance = [](const std::string& a, const std::string& b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
      size_t diag = row[0];
      row[0] = i;
      for (size_t j = 1; j <= b.size(); ++j) {
        size_t up = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
        diag = up;
      }
    }
    return row[b.size()];
  };
  std::vector<std::string> close;
  if (name.size() > 64) return "";
  for (const OpDef* def : all_ops()) {
    bool prefix = name.size() >= 3 && def->name.rfind(name, 0) == 0;
    if ((prefix || distance(name, def->name) <= 2) && close.size() < 3) close.push_back(def->name);
  }
  std::string out;
  for (const auto& c : close) out += (out.empty() ? "" : ", ") + c;
  return out.empty() ? "" : fmt::format(" (did you mean: {}?)", out);
}

class Parser : public ParserBase {
 public:
  using ParserBase::ParserBase;

  Graph parse_file() {
    if (!(cur().kind == TokenKind::identifier && cur().text == "weft")) fail(cur(), "the header 'weft 1'");
    take();
    Token version = cur();
    if (version.kind != TokenKind::number) fail(version, "a version number after 'weft'");
    take();
    if (version.text != "1")
      fail_at(version, fmt::format("unsupported text-IR version {}: this build of Weft reads version 1",
                                   version.text.substr(0, 24)));
    Graph g = parse_graph_block(0);
    if (cur().kind != TokenKind::end) fail(cur(), "the end of the input after the graph's closing '}'");
    return g;
  }

 private:
  Graph parse_graph_block(int depth) {
    Token start = cur();
    expect_keyword("graph", "'graph'");
    if (depth > kMaxGraphDepth)
      fail_at(start, fmt::format("sub-graphs may nest at most {} levels deep", kMaxGraphDepth));
    Scope s;
    s.graph.set_name(parse_name("a graph name"));
    std::set<std::string> input_names, output_names;
    expect(TokenKind::lparen, "'(' to open the graph's inputs");
    while (cur().kind != TokenKind::rparen) {
      if (!s.inputs.empty()) expect(TokenKind::comma, "',' or ')' in the graph's inputs");
      PendingDecl d;
      d.where = cur();
      d.name = parse_name("an input name");
      expect(TokenKind::colon, "':' after the input name");
      d.type = parse_type(true);
      if (!input_names.insert(d.name).second) fail_at(d.where, fmt::format("input '{}' is declared twice", d.name));
      s.inputs.push_back(std::move(d));
    }
    take();
    expect(TokenKind::arrow, "'->' after the graph's inputs");
    expect(TokenKind::lparen, "'(' to open the graph's outputs");
    std::vector<OutputSpec> outputs;
    while (cur().kind != TokenKind::rparen) {
      if (!outputs.empty()) expect(TokenKind::comma, "',' or ')' in the graph's outputs");
      OutputSpec o;
      o.where = cur();
      o.name = parse_name("an output name");
      expect(TokenKind::colon, "':' after the output name");
      o.type = parse_type(false).type;
      if (!output_names.insert(o.name).second) fail_at(o.where, fmt::format("output '{}' is declared twice", o.name));
      outputs.push_back(std::move(o));
    }
    take();
    expect(TokenKind::lbrace, "'{' to open the graph's body");
    parse_body(s, outputs, depth);
    expect(TokenKind::rbrace, "'}' to close the graph after 'return'");
    return std::move(s.graph);
  }

  void parse_body(Scope& s, const std::vector<OutputSpec>& outputs, int depth) {
    while (is_keyword("symbol")) parse_symbol(s);
    materialize_inputs(s);
    while (true) {
      const Token& t = cur();
      if (is_keyword("return")) return parse_return(s, outputs);
      if (is_keyword("param"))
        parse_param(s);
      else if (is_keyword("update"))
        parse_update(s);
      else if (is_keyword("symbol"))
        fail_at(t, "'symbol' lines must come first in a graph's body");
      else if (t.kind == TokenKind::result || (t.kind == TokenKind::identifier && peek(1).kind == TokenKind::lparen))
        parse_node(s, depth);
      else
        fail(t, "a statement ('param', '%name = op(...)', 'update' or 'return')");
    }
  }

  void parse_symbol(Scope& s) {
    take();
    Token where = cur();
    if (where.kind != TokenKind::identifier) fail(where, "a symbol name after 'symbol'");
    take();
    if (s.graph.find_symbol(where.text)) fail_at(where, fmt::format("symbol '{}' is declared twice", where.text));
    std::optional<int64_t> bound;
    if (cur().kind == TokenKind::less_equal) {
      take();
      bound = parse_bound();
      s.bounded.emplace(where.text, where);
    }
    s.graph.declare_symbol(where.text, bound);
  }

  void add_bounds(Scope& s, const std::vector<SymbolBound>& bounds) {
    for (const auto& b : bounds) {
      auto [it, fresh] = s.bounded.emplace(b.symbol, b.where);
      if (!fresh)
        fail_at(b.where, fmt::format("symbol '{}' already has a bound (given at line {}, column {})", b.symbol,
                                     it->second.line, it->second.column));
      s.graph.declare_symbol(b.symbol, b.bound);
    }
  }

  /// Inputs are added once the `symbol` lines are read: those lines declare their symbols first, so
  /// that any order of a graph's symbols can be written down.
  void materialize_inputs(Scope& s) {
    for (const auto& d : s.inputs) {
      ValueId v = s.graph.add_input(d.name, d.type.type);
      add_bounds(s, d.type.bounds);
      s.named.emplace(d.name, std::make_pair(v, d.where));
    }
    for (const auto& d : s.inputs) {  // once every bound is known
      try {
        check_tensor_size(s.graph, d.type.type, fmt::format("input '{}'", d.name));
      } catch (const Error& e) {
        fail_at(d.where, e.what());
      }
    }
  }

  void check_new_name(const Scope& s, const std::string& name, const Token& where) {
    auto it = s.named.find(name);
    if (it != s.named.end())
      fail_at(where, fmt::format("'{}' is already defined (at line {}, column {})", name, it->second.second.line,
                                 it->second.second.column));
  }

  void parse_param(Scope& s) {
    take();
    Token where = cur();
    std::string name = parse_name("a parameter name");
    check_new_name(s, name, where);
    expect(TokenKind::colon, "':' after the parameter name");
    TypeWithBounds type = parse_type(true);
    Initializer init;
    if (is_keyword("init") && peek(1).kind == TokenKind::equals) {
      take();
      take();
      init = parse_initializer();
    }
    ValueId v = s.graph.add_param(name, type.type, std::move(init));
    add_bounds(s, type.bounds);
    s.named.emplace(name, std::make_pair(v, where));
  }

  Initializer parse_initializer() {
    Token kind_token = cur();
    Initializer init;
    init.kind = parse_name("an initializer kind such as uniform or zeros");
    bool has_seed = false;
    if (cur().kind == TokenKind::lparen) {
      take();
      bool first = true;
      while (cur().kind != TokenKind::rparen) {
        if (!first) expect(TokenKind::comma, "',' or ')' in the initializer's arguments");
        first = false;
        std::string arg_name;
        if (cur().kind == TokenKind::identifier && peek(1).kind == TokenKind::equals) {
          arg_name = take().text;
          take();
        }
        if (arg_name == "seed") {
          if (has_seed) fail_at(cur(), "the initializer's seed is given twice");
          has_seed = true;
          init.seed = parse_seed();
        } else {
          init.args.emplace_back(arg_name, parse_real("an initializer argument (a number)"));
        }
      }
      take();
    }
    try {
      validate_initializer(init);
    } catch (const Error& e) {
      fail_at(kind_token, e.what());
    }
    return init;
  }

  void parse_update(Scope& s) {
    take();
    Token where = cur();
    std::string name = parse_name("the name of the parameter to update");
    const ParamDecl* param = s.graph.find_param(name);
    if (!param)
      fail_at(where, fmt::format("'update' names a parameter, but '{}' is not a parameter of graph '{}'", name,
                                 s.graph.name()));
    auto [it, fresh] = s.updated.emplace(name, where);
    if (!fresh)
      fail_at(where, fmt::format("parameter '{}' is already updated (at line {}, column {})", name, it->second.line,
                                 it->second.column));
    expect(TokenKind::equals, "'=' after the parameter name");
    Token ref_token = cur();
    ValueId v = parse_ref(s);
    const TensorType& want = s.graph.type(param->value);
    const TensorType& got = s.graph.type(v);
    if (!(want == got))
      fail_at(ref_token, fmt::format("an update must have its parameter's type: '{}' is {}, but {} is {}", name,
                                     want.str(), describe(ref_token), got.str()));
    s.graph.add_update(name, v);
  }

  void parse_return(Scope& s, const std::vector<OutputSpec>& outputs) {
    Token ret = take();
    std::vector<std::pair<ValueId, Token>> values;
    if (cur().kind != TokenKind::rbrace) {
      while (true) {
        Token t = cur();
        values.emplace_back(parse_ref(s), t);
        if (cur().kind != TokenKind::comma) break;
        take();
      }
    }
    if (values.size() != outputs.size())
      fail_at(ret, fmt::format("'return' must give one value per output of the signature ({}), but gives {}",
                               outputs.size(), values.size()));
    for (size_t i = 0; i < values.size(); ++i) {
      const TensorType& got = s.graph.type(values[i].first);
      if (!(got == outputs[i].type))
        fail_at(values[i].second, fmt::format("output '{}' is declared {}, but {} has type {}", outputs[i].name,
                                              outputs[i].type.str(), describe(values[i].second), got.str()));
      s.graph.add_output(outputs[i].name, values[i].first);
    }
  }

  ValueId parse_ref(Scope& s) {
    Token t = cur();
    if (t.kind == TokenKind::result) {
      take();
      auto it = s.results.find(t.text);
      if (it == s.results.end()) fail_at(t, fmt::format("'%{}' is not defined before this use", t.text));
      return it->second.first;
    }
    if (t.kind != TokenKind::identifier && t.kind != TokenKind::string)
      fail(t, "a value (%name, an input or a parameter)");
    take();
    auto it = s.named.find(t.text);
    if (it == s.named.end())
      fail_at(t, fmt::format("'{}' is not an input or parameter of graph '{}' defined before this use", t.text,
                             s.graph.name()));
    return it->second.first;
  }

  void parse_node(Scope& s, int depth) {
    std::vector<Token> result_tokens;
    if (cur().kind == TokenKind::result) {
      while (true) {
        Token r = cur();
        if (r.kind != TokenKind::result) fail(r, "a result name such as %0");
        take();
        auto it = s.results.find(r.text);
        if (it != s.results.end())
          fail_at(r, fmt::format("'%{}' is already defined (at line {}, column {})", r.text, it->second.second.line,
                                 it->second.second.column));
        for (const auto& other : result_tokens)
          if (other.text == r.text) fail_at(r, fmt::format("'%{}' is defined twice by one node", r.text));
        result_tokens.push_back(r);
        if (cur().kind != TokenKind::comma) break;
        take();
      }
      expect(TokenKind::equals, "'=' or ',' after the node's result names");
    }
    Token op_token = cur();
    if (op_token.kind != TokenKind::identifier) fail(op_token, "an op name");
    take();
    std::optional<OpKind> kind = op_by_name(op_token.text);
    if (!kind) fail_at(op_token, fmt::format("unknown op '{}'{}", op_token.text, close_op_names(op_token.text)));
    const OpDef& def = op_def(*kind);

    expect(TokenKind::lparen, "'(' after the op name");
    std::vector<ValueId> operands;
    Attrs attrs;
    std::map<std::string, Token> attr_tokens;
    bool first = true;
    while (cur().kind != TokenKind::rparen) {
      if (!first) expect(TokenKind::comma, "',' or ')' in the node's arguments");
      first = false;
      if (cur().kind == TokenKind::identifier && peek(1).kind == TokenKind::equals) {
        Token name = take();
        take();
        auto spec =
            std::find_if(def.attrs.begin(), def.attrs.end(), [&](const AttrSpec& a) { return a.name == name.text; });
        if (spec == def.attrs.end()) {
          std::string known;
          for (const auto& a : def.attrs) known += (known.empty() ? "" : ", ") + a.name;
          fail_at(name, fmt::format("{}: unknown attribute '{}' (it takes: {})", def.name, name.text,
                                    known.empty() ? "no attributes" : known));
        }
        if (!attr_tokens.emplace(name.text, name).second)
          fail_at(name, fmt::format("attribute '{}' is given twice", name.text));
        attrs.set(name.text, parse_attr_value(spec->kind));
      } else {
        if (!attr_tokens.empty()) fail(cur(), "an attribute (name=value): operands come before attributes");
        operands.push_back(parse_ref(s));
      }
    }
    take();

    expect(TokenKind::colon, "':' and the result types after the node's arguments");
    std::vector<std::pair<TensorType, Token>> types;
    if (cur().kind == TokenKind::lparen) {
      take();
      expect(TokenKind::rparen, "')' (a node without results is written ': ()')");
    } else {
      while (true) {
        Token t = cur();
        types.emplace_back(parse_type(false).type, t);
        if (cur().kind != TokenKind::comma) break;
        take();
      }
    }
    if (types.size() != result_tokens.size())
      fail_at(op_token, fmt::format("the node defines {} result name(s) but gives {} result type(s)",
                                    result_tokens.size(), types.size()));

    std::string scope;
    SourceLoc loc;
    bool has_scope = false, has_loc = false;
    while ((is_keyword("scope") || is_keyword("loc")) && peek(1).kind == TokenKind::equals) {
      Token key = take();
      take();
      Token value = cur();
      if (value.kind != TokenKind::string) fail(value, fmt::format("a quoted string after '{}='", key.text));
      take();
      bool& seen = key.text == "scope" ? has_scope : has_loc;
      if (seen) fail_at(key, fmt::format("'{}' is given twice", key.text));
      seen = true;
      if (key.text == "scope")
        scope = value.text;
      else
        loc = parse_loc(value);
    }

    std::shared_ptr<const Graph> body;
    if (is_keyword("graph")) body = std::make_shared<const Graph>(parse_graph_block(depth + 1));

    GraphBuilder builder(s.graph);
    std::vector<ValueId> results;
    try {
      results = builder.emit(*kind, operands, attrs, body);
    } catch (const Error& e) {
      fail_at(op_token, e.what());
    }
    if (results.size() != result_tokens.size())
      fail_at(op_token, fmt::format("{} gives {} result(s), but the node defines {}", def.name, results.size(),
                                    result_tokens.size()));
    for (size_t i = 0; i < results.size(); ++i) {
      const TensorType& inferred = s.graph.type(results[i]);
      if (!(inferred == types[i].first))
        fail_at(types[i].second, fmt::format("{}: result {} is declared {}, but the op's shape rule gives {}", def.name,
                                             i, types[i].first.str(), inferred.str()));
      s.results.emplace(result_tokens[i].text, std::make_pair(results[i], result_tokens[i]));
    }
    Node& node = s.graph.mutable_nodes().back();
    node.scope = std::move(scope);
    node.loc = std::move(loc);
  }
};

}  // namespace

Graph parse_graph(std::string_view text, const std::string& filename) { return Parser(text, filename).parse_file(); }

Graph read_graph_file(const std::string& path) {
  std::vector<std::byte> bytes = read_whole_file(path);  // refuses a directory, caps a stream
  return parse_graph(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), path);
}

}  // namespace weft
