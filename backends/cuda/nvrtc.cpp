#include "backends/cuda/nvrtc.h"

#include <fmt/format.h>

#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "backends/cuda/cuda_libraries.h"
#include "ir/error.h"

namespace weft::cuda_backend {

namespace {

void check(nvrtcResult r, const char* what) {
  if (r != NVRTC_SUCCESS) throw Error(fmt::format("NVRTC: {} failed: {}", what, nvrtc().GetErrorString(r)));
}

/// One NVRTC program, destroyed on every path out.
class Program {
 public:
  Program(const std::string& source, const std::string& name) {
    check(nvrtc().CreateProgram(&p_, source.c_str(), (name + ".cu").c_str(), 0, nullptr, nullptr),
          "nvrtcCreateProgram");
  }
  ~Program() { nvrtc().DestroyProgram(&p_); }
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;
  nvrtcProgram get() const { return p_; }

  std::string log() const {
    size_t size = 0;
    if (nvrtc().GetProgramLogSize(p_, &size) != NVRTC_SUCCESS || size == 0) return "";
    std::string text(size, '\0');
    if (nvrtc().GetProgramLog(p_, text.data()) != NVRTC_SUCCESS) return "";
    while (!text.empty() && (text.back() == '\0' || text.back() == '\n')) text.pop_back();
    return text;
  }

 private:
  nvrtcProgram p_ = nullptr;
};

struct Cache {
  std::mutex mutex;
  std::map<std::pair<std::string, int>, std::string> ptx;  // (source, cc) -> PTX
};

Cache& cache() {
  static Cache c;
  return c;
}

/// The source with line numbers, for a compile error's message.
std::string numbered(const std::string& source) {
  std::string out;
  int line = 1;
  size_t start = 0;
  while (start < source.size()) {
    size_t end = source.find('\n', start);
    if (end == std::string::npos) end = source.size();
    out += fmt::format("{:4} {}\n", line++, source.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace

Ptx compile_to_ptx(const std::string& source, const std::string& kernel, int cc) {
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.ptx.find({source, cc});
    if (it != c.ptx.end()) return {it->second, true};
  }
  Program program(source, kernel);
  const std::string arch = fmt::format("--gpu-architecture=compute_{}", cc);
  std::vector<const char*> options = {arch.c_str(), "--std=c++17", "--fmad=false"};
  nvrtcResult r = nvrtc().CompileProgram(program.get(), static_cast<int>(options.size()), options.data());
  if (r != NVRTC_SUCCESS)
    throw Error(fmt::format("NVRTC could not compile the generated kernel '{}' ({}):\n{}\nsource:\n{}", kernel,
                            nvrtc().GetErrorString(r), program.log(), numbered(source)));
  size_t size = 0;
  check(nvrtc().GetPTXSize(program.get(), &size), "nvrtcGetPTXSize");
  std::string text(size, '\0');
  check(nvrtc().GetPTX(program.get(), text.data()), "nvrtcGetPTX");
  while (!text.empty() && text.back() == '\0') text.pop_back();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.ptx.emplace(std::make_pair(source, cc), text);
  return {text, false};
}

std::string nvrtc_version() {
  int major = 0, minor = 0;
  check(nvrtc().Version(&major, &minor), "nvrtcVersion");
  return fmt::format("{}.{}", major, minor);
}

}  // namespace weft::cuda_backend
