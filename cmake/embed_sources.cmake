# Writes OUT: a C++ source defining weft::llvm_backend::FUNCTION() (default aot_runtime_files), the
# text of every file in FILES (the C runtime of compiled models, runtime/capi/; or a library's shim,
# backends/onednn/capi/), which weft-compile writes out and compiles into each shared object. Run as
# `cmake -DOUT=... -DFILES="a|b" [-DFUNCTION=name] -P embed_sources.cmake`.
if(NOT FUNCTION)
  set(FUNCTION aot_runtime_files)
endif()
set(content "// Generated from runtime/capi by cmake/embed_sources.cmake: do not edit.\n")
string(APPEND content "#include \"backends/llvm/aot.h\"\n\nnamespace weft::llvm_backend {\n\n")
string(APPEND content "const std::vector<AotSourceFile>& ${FUNCTION}() {\n  static const std::vector<AotSourceFile> files = {\n")
string(REPLACE "|" ";" FILES "${FILES}")
foreach(f ${FILES})
  file(READ ${f} text)
  get_filename_component(name ${f} NAME)
  string(APPEND content "      {\"${name}\", R\"weft_rt(${text})weft_rt\"},\n")
endforeach()
string(APPEND content "  };\n  return files;\n}\n\n}  // namespace weft::llvm_backend\n")
file(WRITE ${OUT}.tmp "${content}")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different ${OUT}.tmp ${OUT})
