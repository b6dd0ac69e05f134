/** \file
 * The JIT's perf map. See jit_perf_map.h.
 */
#include "backends/llvm/jit_perf_map.h"

#include <fmt/format.h>
#include <llvm/ExecutionEngine/JITLink/JITLink.h>
#include <llvm/ExecutionEngine/Orc/ObjectLinkingLayer.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "ir/error.h"

namespace weft::llvm_backend {

namespace {

bool is_named_function(const llvm::jitlink::Symbol& symbol) {
  const auto protection = static_cast<unsigned>(symbol.getBlock().getSection().getMemProt());
  return (protection & static_cast<unsigned>(llvm::orc::MemProt::Exec)) != 0 && symbol.hasName() &&
         symbol.getSize() > 0;
}

/// Writes each function of a linked graph once its addresses are final.
class PerfMapPlugin : public llvm::orc::ObjectLinkingLayer::Plugin {
 public:
  explicit PerfMapPlugin(PerfMap& map) : map_(map) {}

  void modifyPassConfig(llvm::orc::MaterializationResponsibility&, llvm::jitlink::LinkGraph&,
                        llvm::jitlink::PassConfiguration& config) override {
    // An internal function (a region's `.task`) is reached through a relocation against its
    // section, not its symbol, so pruning would drop its name; keeping the named functions alive
    // keeps no extra code (their blocks are reachable) and lets them be written below.
    config.PrePrunePasses.push_back([](llvm::jitlink::LinkGraph& graph) {
      for (llvm::jitlink::Symbol* symbol : graph.defined_symbols())
        if (is_named_function(*symbol)) symbol->setLive(true);
      return llvm::Error::success();
    });
    config.PostFixupPasses.push_back([this](llvm::jitlink::LinkGraph& graph) {
      for (llvm::jitlink::Symbol* symbol : graph.defined_symbols())
        if (is_named_function(*symbol))
          map_.write(symbol->getAddress().getValue(), symbol->getSize(), symbol->getName());
      return llvm::Error::success();
    });
  }
  llvm::Error notifyFailed(llvm::orc::MaterializationResponsibility&) override { return llvm::Error::success(); }
  llvm::Error notifyRemovingResources(llvm::orc::JITDylib&, llvm::orc::ResourceKey) override {
    return llvm::Error::success();
  }
  void notifyTransferringResources(llvm::orc::JITDylib&, llvm::orc::ResourceKey, llvm::orc::ResourceKey) override {}

 private:
  PerfMap& map_;
};

}  // namespace

PerfMap::PerfMap(const std::string& path) : file_(std::fopen(path.c_str(), "w")) {
  if (!file_)
    throw Error(fmt::format("cannot write the JIT's perf map '{}' (WEFT_PERF_MAP=1): {}", path, std::strerror(errno)));
}

PerfMap::~PerfMap() { std::fclose(file_); }

std::string PerfMap::default_path() { return fmt::format("/tmp/perf-{}.map", ::getpid()); }

void PerfMap::set_label(const std::string& symbol, const std::string& label) {
  std::lock_guard lock(mutex_);
  labels_.emplace(symbol, label);
}

std::string PerfMap::name_of(std::string_view symbol) const {
  std::lock_guard lock(mutex_);
  if (auto it = labels_.find(std::string(symbol)); it != labels_.end()) return "weft: " + it->second;
  // A helper of a labelled function: `f.task` -> "weft: <f's label> (task)".
  for (size_t dot = symbol.find('.'); dot != std::string_view::npos; dot = symbol.find('.', dot + 1)) {
    if (auto it = labels_.find(std::string(symbol.substr(0, dot))); it != labels_.end())
      return fmt::format("weft: {} ({})", it->second, symbol.substr(dot + 1));
  }
  return fmt::format("weft: {}", symbol);
}

void PerfMap::write(uint64_t start, uint64_t size, std::string_view symbol) {
  std::string line = fmt::format("{:x} {:x} {}\n", start, size, name_of(symbol));
  std::lock_guard lock(mutex_);
  std::fputs(line.c_str(), file_);
  std::fflush(file_);
}

void PerfMap::attach(llvm::orc::ObjectLinkingLayer& layer) { layer.addPlugin(std::make_unique<PerfMapPlugin>(*this)); }

}  // namespace weft::llvm_backend
