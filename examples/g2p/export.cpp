#include "examples/g2p/export.h"

#include <fmt/format.h>

#include <fstream>
#include <set>

#include "ir/error.h"
#include "ir/safetensors.h"

namespace g2p {

void save_inference_weights(const std::string& path, const weft::Executable& encode, const weft::Executable& step) {
  weft::SafetensorsFile file;
  std::set<std::string> seen;
  for (const weft::Executable* exe : {&encode, &step}) {
    for (const weft::TensorSpec& s : exe->signature().state) {
      if (!seen.insert(s.name).second) continue;
      weft::Tensor t = exe->state(s.name);
      auto bytes = t.bytes();
      file.tensors.push_back({s.name, t.dtype(), t.shape(), std::vector<std::byte>(bytes.begin(), bytes.end())});
    }
  }
  weft::write_safetensors_atomic(path, file);
}

void write_vocab_header(const std::string& path, const Vocab& letters, const Vocab& phones) {
  std::ofstream f(path);
  // The symbols are a-z, the apostrophe and the dictionary's lower-case phoneme names: nothing a C
  // string literal would need to escape but the apostrophe, which needs none inside double quotes.
  auto array = [&](const char* name, const Vocab& v) {
    f << "static const char* const " << name << "[] = {";
    for (const std::string& s : v.symbols()) f << '"' << s << "\", ";
    f << "};\nstatic const int " << name << "_count = " << v.size() << ";\n";
  };
  f << "/* Written by example_g2p: the vocabularies of the model in g2p.so (ids are indices). */\n";
  array("g2p_letters", letters);
  array("g2p_phonemes", phones);
  if (!f) throw weft::Error(fmt::format("g2p: cannot write '{}'", path));
}

}  // namespace g2p
