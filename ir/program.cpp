#include "ir/program.h"

#include <fmt/format.h>

#include "ir/ops.h"

namespace weft {

std::string_view storage_name(BufferStorage s) {
  switch (s) {
    case BufferStorage::input:
      return "input";
    case BufferStorage::param:
      return "param";
    case BufferStorage::arena:
      return "arena";
  }
  return "?";
}

std::string_view access_name(Access a) {
  switch (a) {
    case Access::in:
      return "in";
    case Access::out:
      return "out";
    case Access::inout:
      return "inout";
  }
  return "?";
}

namespace {

std::string ref_str(const BufferRef& r) { return fmt::format("b{}@{}:{}", r.buffer, r.offset, r.type.str()); }

}  // namespace

std::string print_program(const Program& p) {
  std::string out = fmt::format("program {}: arena {} bytes at the bounds", p.name, p.arena_bytes);
  std::string bounds;
  for (const SymbolDecl& s : p.symbols)
    if (s.bound) bounds += fmt::format("{}{}={}", bounds.empty() ? "" : ", ", s.name, *s.bound);
  if (!bounds.empty()) out += " (" + bounds + ")";
  out += "\nbuffers:\n";
  for (size_t i = 0; i < p.buffers.size(); ++i) {
    const Buffer& b = p.buffers[i];
    if (b.storage == BufferStorage::arena)
      out += fmt::format("  b{} arena @{} {} bytes ({})\n", i, b.offset, b.max_bytes, b.bytes.str());
    else
      out += fmt::format("  b{} {} {} ({} bytes)\n", i, storage_name(b.storage), b.name, b.bytes.str());
  }
  out += "calls:\n";
  for (size_t i = 0; i < p.calls.size(); ++i) {
    const KernelCall& c = p.calls[i];
    std::string name(op_name(c.op));
    if (c.op == OpKind::fusion && c.attrs.has("kind")) name += "." + c.attrs.get_string("kind");
    std::string ins, outs;
    for (size_t k = 0; k < c.operands.size(); ++k) {
      const BufferRef& r = c.operands[k];
      std::string s = ref_str(r) + (r.access == Access::inout ? " inout" : "");
      std::string& list = static_cast<int32_t>(k) < c.num_inputs ? ins : outs;
      list += (list.empty() ? "" : ", ") + s;
    }
    out += fmt::format("  {}: {}({}) -> ({})\n", i, name, ins, outs);
  }
  for (const ProgramValue& o : p.outputs) out += fmt::format("output {} = b{}\n", o.name, o.buffer);
  for (const ProgramUpdate& u : p.updates)
    out += u.value == u.param_buffer ? fmt::format("update {} in place (b{})\n", u.param, u.value)
                                     : fmt::format("update {} = b{}\n", u.param, u.value);
  return out;
}

}  // namespace weft
