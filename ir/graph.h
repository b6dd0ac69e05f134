/** \file
 * The graph level of the IR: a typed SSA tensor graph with value semantics.
 *
 * A `Graph` owns its values and nodes by value; copying a graph copies it (sub-graphs, owned by
 * fusion regions and scans, are shared immutable `shared_ptr<const Graph>`s). Every pass takes a
 * graph and returns one. Nodes are kept in a topological order: an operand is always defined by an
 * input, a parameter, or an earlier node.
 *
 * Values are numbered densely (`ValueId`); a value is an input, a parameter, or a node's result.
 * Every node carries its scope path (from the DSL's name scopes) and its DSL source location.
 */
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ir/attrs.h"
#include "ir/decls.h"
#include "ir/error.h"
#include "ir/op_kind.h"
#include "ir/shape.h"

namespace weft {

using ValueId = int32_t;
constexpr ValueId kNoValue = -1;

enum class ValueKind : uint8_t { input, param, result };

struct ValueInfo {
  TensorType type;
  ValueKind kind = ValueKind::result;
  int32_t owner = 0;   // input index, param index, or node index
  int32_t result = 0;  // which result of the node
};

struct InputDecl {
  std::string name;
  ValueId value = kNoValue;
};

struct ParamDecl {
  std::string name;
  ValueId value = kNoValue;
  Initializer init;
};

struct OutputDecl {
  std::string name;
  ValueId value = kNoValue;
};

/// After a run, parameter `param` takes the value `value` (in-out state, e.g. an optimizer update).
struct StateUpdate {
  std::string param;
  ValueId value = kNoValue;
};

class Graph;

struct Node {
  OpKind op{};
  std::vector<ValueId> operands;
  Attrs attrs;
  std::vector<ValueId> results;
  std::string scope;  // "encoder.layers.0.self_attn"
  SourceLoc loc;      // the DSL call site, or the text-IR line
  std::shared_ptr<const Graph> body;  // fusion region or scan body; null otherwise
};

class Graph {
 public:
  Graph() = default;
  explicit Graph(std::string name) : name_(std::move(name)) {}

  const std::string& name() const { return name_; }
  void set_name(std::string name) { name_ = std::move(name); }

  // --- construction (no shape checking here; see GraphBuilder) ---
  ValueId add_input(const std::string& name, TensorType type);
  ValueId add_param(const std::string& name, TensorType type, Initializer init = {});
  /// Appends a node whose results have the given types; returns the new node's index.
  int32_t add_node(OpKind op, std::vector<ValueId> operands, Attrs attrs, const std::vector<TensorType>& result_types,
                   std::string scope = {}, SourceLoc loc = {}, std::shared_ptr<const Graph> body = nullptr);
  void add_output(const std::string& name, ValueId value);
  void add_update(const std::string& param, ValueId value);
  /// Declares a symbol (or tightens nothing if already declared with the same bound).
  void declare_symbol(const std::string& name, std::optional<int64_t> bound = std::nullopt);

  // --- access ---
  const std::vector<InputDecl>& inputs() const { return inputs_; }
  const std::vector<ParamDecl>& params() const { return params_; }
  const std::vector<Node>& nodes() const { return nodes_; }
  std::vector<Node>& mutable_nodes() { return nodes_; }
  const std::vector<OutputDecl>& outputs() const { return outputs_; }
  std::vector<OutputDecl>& mutable_outputs() { return outputs_; }
  const std::vector<StateUpdate>& updates() const { return updates_; }
  std::vector<StateUpdate>& mutable_updates() { return updates_; }
  const std::vector<SymbolDecl>& symbols() const { return symbols_; }
  std::vector<ParamDecl>& mutable_params() { return params_; }

  size_t num_values() const { return values_.size(); }
  const ValueInfo& value(ValueId v) const;
  const TensorType& type(ValueId v) const { return value(v).type; }
  void set_type(ValueId v, TensorType t);
  /// The node defining `v`, or null for inputs and parameters.
  const Node* producer(ValueId v) const;

  const InputDecl* find_input(const std::string& name) const;
  const ParamDecl* find_param(const std::string& name) const;
  const SymbolDecl* find_symbol(const std::string& name) const;
  /// A readable name for diagnostics and printing: input/param name or "%<id>".
  std::string value_name(ValueId v) const;

 private:
  ValueId new_value(TensorType type, ValueKind kind, int32_t owner, int32_t result);

  std::string name_;
  std::vector<SymbolDecl> symbols_;
  std::vector<InputDecl> inputs_;
  std::vector<ParamDecl> params_;
  std::vector<Node> nodes_;
  std::vector<OutputDecl> outputs_;
  std::vector<StateUpdate> updates_;
  std::vector<ValueInfo> values_;
};

/// Throws weft::Error naming `what` when `t` has more than kMaxRank dims, or can hold more than
/// kMaxElements elements with every symbol of `g` at its declared bound (an unbounded symbol is
/// checked when its value is bound: Dim::evaluate, checked_num_elements).
void check_tensor_size(const Graph& g, const TensorType& t, const std::string& what);

}  // namespace weft
