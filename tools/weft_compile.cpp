/** \file
 * weft-compile: text IR (plus weights) → a shared object and its C header.
 *
 *   weft-compile model.weft [more.weft ...] -o model.so [--header model.h] [--weights w.safetensors]
 *                [--external-weights] [--name NAME] [--cc cc] [--cflag FLAG ...] [--keep-temps DIR]
 *                [--decode greedy|beam [--beam K]] [--provider llvm|onednn]
 *
 * Each `.weft` file holds one graph, which becomes one entry point named after the graph
 * (`forward`, `encode`, `decode_step`, `train_step`); entries share parameters by name. The weights
 * file gives parameter values by name (the rest take their initializers); with --external-weights
 * they are not embedded and the caller passes a safetensors path or pointers at creation. The
 * header defaults to the shared object's path with `.h`. The C compiler is `--cc`, else `$CC`,
 * else `cc`. With --decode, the graphs `encode` and `decode_step` must follow the decoding naming
 * (docs/decoding.md), and the header defines WEFT_GENERATE_BEAM, the width weft_generate's caller
 * passes (1 for greedy). With --provider onednn, the matmuls (with their post-ops), softmaxes and
 * layer norms run on oneDNN, linked dynamically (libdnnl.so); the default, llvm, needs only libc,
 * libm and libpthread. See docs/shared-object.md. Errors follow tools/cli.h: `weft-compile: message` on
 * stderr, exit status 1 for bad input, 2 for a bad command line.
 */
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/llvm/aot.h"
#include "frontend/decode.h"
#include "ir/error.h"
#include "ir/text.h"
#include "passes/verify.h"
#include "tools/cli.h"

#ifdef WEFT_HAVE_ONEDNN
#include "backends/onednn/aot_calls.h"
#endif

int main(int argc, char** argv) {
  const std::string tool = "weft-compile";
  CLI::App app{
      "Compiles .weft graphs (one entry point each) into a shared object with a C header.\nDocs: "
      "docs/shared-object.md"};
  weft::tools::describe(app, tool,
                        "a graph or weights file that cannot be read or does not verify, or the C compiler failed");
  std::vector<std::string> inputs;
  std::string output, header, weights_path, name, cc, keep;
  std::vector<std::string> cflags;
  bool external = false, quiet = false;
  std::string decode, provider = "llvm";
  int beam = 4;
  app.add_option("inputs", inputs, "the .weft files: one graph, one entry point each")->required();
  app.add_option("-o,--output", output, "the shared object to write (model.so)")->required();
  app.add_option("--header", header, "the C header to write (default: the output with .h)");
  app.add_option("--weights", weights_path, "a safetensors file of parameter values, by name");
  app.add_flag("--external-weights", external, "do not embed the weights: read them at creation instead");
  app.add_option("--name", name, "the model's name (default: the first graph's name)");
  app.add_option("--cc", cc, "the C compiler to build and link with (default: $CC, else cc)");
  app.add_option("--cflag", cflags, "an extra flag for the C compiler (repeatable), e.g. -fsanitize=address");
  app.add_option("--keep-temps", keep, "write the intermediate files (desc.c, kernels.o, ...) here and keep them");
  app.add_flag("-q,--quiet", quiet, "print nothing on success");
  app.add_option("--decode", decode, "check the entries encode and decode_step for weft_generate: greedy or beam")
      ->check(CLI::IsMember({"greedy", "beam"}));
  app.add_option("--beam", beam, "the beam width weft_generate's callers use with --decode beam (default 4)")
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--provider", provider,
                 "llvm: generated code only, libc-only (default); onednn: matmuls, softmax and layer norm on "
                 "oneDNN, linking libdnnl.so")
      ->check(CLI::IsMember({"llvm", "onednn"}));
  if (int status = weft::tools::parse(app, tool, argc, argv); status >= 0) return status;

  return weft::tools::run_main(tool, [&] {
    std::vector<weft::Graph> graphs;
    for (const std::string& path : inputs) {
      graphs.push_back(weft::read_graph_file(path));
      weft::verify(graphs.back());
    }
    if (!decode.empty()) {
      const weft::Graph* encode = nullptr;
      const weft::Graph* step = nullptr;
      for (const weft::Graph& g : graphs) {
        if (g.name() == "encode") encode = &g;
        if (g.name() == "decode_step") step = &g;
      }
      if (!encode || !step)
        throw weft::Error("--decode needs two graphs named 'encode' and 'decode_step' (docs/decoding.md)");
      weft::decode::check_decode_signatures(weft::signature_of(*encode), weft::signature_of(*step));
    }
    weft::SafetensorsFile weights;
    if (!weights_path.empty()) weights = weft::read_safetensors(weights_path);
    weft::llvm_backend::AotOptions options;
    options.name = name;
    options.external_weights = external;
    if (!cc.empty())
      options.cc = cc;
    else if (const char* env = std::getenv("CC"); env && *env)
      options.cc = env;
    options.cflags = cflags;
    options.keep_dir = keep;
    if (provider == "onednn") {
#ifdef WEFT_HAVE_ONEDNN
      options.library = &weft::onednn::aot_library();
#else
      throw weft::Error("--provider onednn: this build of Weft has no oneDNN (install libdnnl-dev and rebuild)");
#endif
    }
    if (!decode.empty())  // the search weft_generate's callers ask for (runtime/capi/weft_model.h)
      options.header_extra = fmt::format(
          "/* weft-compile --decode {}: pass beam = WEFT_GENERATE_BEAM to weft_generate. */\n"
          "#define WEFT_GENERATE_BEAM {}\n",
          decode, decode == "greedy" ? 1 : beam);
    if (header.empty()) header = std::filesystem::path(output).replace_extension(".h").string();
    weft::llvm_backend::AotResult r = weft::llvm_backend::compile_shared_object(
        graphs, weights_path.empty() ? nullptr : &weights, output, header, options);
    if (!quiet) {
      std::cout << fmt::format(
          "weft-compile: model '{}' -> {} + {}: {} entr{} ({}), {} kernels for {} calls, {} parameters, {}; "
          "codegen {:.2f} s, cc {:.2f} s; needs libc, libm, libpthread{}\n",
          r.model_name, output, header, r.entries.size(), r.entries.size() == 1 ? "y" : "ies",
          fmt::join(r.entries, ", "), r.kernels, r.calls, r.num_params,
          external ? std::string("external weights") : fmt::format("{} bytes of embedded weights", r.weights_bytes),
          r.codegen_seconds, r.cc_seconds,
          options.library ? fmt::format(", {} ({} of {} calls on oneDNN)", options.library->links, r.library_calls,
                                        r.calls)
                          : "");
    }
    return 0;
  });
}
