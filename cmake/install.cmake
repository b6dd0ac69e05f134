# Install rules: `cmake --install build --prefix DIR` puts the libraries in DIR/lib, the headers in
# DIR/include/weft (included as "frontend/nn/nn.h", as inside the repository), the tools in DIR/bin,
# a CMake package (DIR/lib/cmake/Weft: find_package(Weft) gives the target Weft::weft) and a
# pkg-config file (DIR/lib/pkgconfig/weft.pc).
include(CMakePackageConfigHelpers)
include(GNUInstallDirs)

# Weft::weft: everything a program needs, in one name: static libraries in dependency order
# (weft_registry holds make_backend and uses every provider's library, which uses weft_backends).
add_library(weft INTERFACE)
add_library(Weft::weft ALIAS weft)
set(WEFT_LIBRARIES weft_frontend weft_registry weft_backends weft_passes weft_runtime weft_ir)
if(TARGET weft_llvm)
  list(INSERT WEFT_LIBRARIES 2 weft_llvm)
  set(WEFT_WITH_LLVM ON)
else()
  set(WEFT_WITH_LLVM OFF)
endif()
if(TARGET weft_cuda)  # uses weft_llvm's region lowering: before it
  list(INSERT WEFT_LIBRARIES 2 weft_cuda)
  set(WEFT_WITH_CUDA ON)
else()
  set(WEFT_WITH_CUDA OFF)
endif()
if(TARGET weft_onednn)
  list(INSERT WEFT_LIBRARIES 2 weft_onednn)  # before weft_llvm, whose provider its chain uses
endif()
target_link_libraries(weft INTERFACE ${WEFT_LIBRARIES})
target_compile_features(weft INTERFACE cxx_std_20)

install(TARGETS weft ${WEFT_LIBRARIES} EXPORT WeftTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
if(TARGET weft_omp_env)  # the onednn provider's shared library (backends/onednn/omp_env.c)
  install(TARGETS weft_omp_env EXPORT WeftTargets LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
endif()
foreach(dir ir passes runtime backends frontend)
  install(DIRECTORY ${CMAKE_SOURCE_DIR}/${dir} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/weft FILES_MATCHING
          PATTERN "*.h")
endforeach()
foreach(tool weft-dump weft-opt weft-compile weft-run)
  if(TARGET ${tool})
    install(TARGETS ${tool} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
    set_target_properties(${tool} PROPERTIES INSTALL_RPATH "$ORIGIN/../${CMAKE_INSTALL_LIBDIR}")
  endif()
endforeach()

set(WEFT_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/Weft)
install(EXPORT WeftTargets NAMESPACE Weft:: DESTINATION ${WEFT_CMAKE_DIR})
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/WeftConfig.cmake.in ${CMAKE_BINARY_DIR}/WeftConfig.cmake
                              INSTALL_DESTINATION ${WEFT_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/WeftConfigVersion.cmake VERSION ${PROJECT_VERSION}
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/WeftConfig.cmake ${CMAKE_BINARY_DIR}/WeftConfigVersion.cmake
        DESTINATION ${WEFT_CMAKE_DIR})

# pkg-config: the same libraries, in dependency order.
set(WEFT_PC_LIBS "-lweft_frontend -lweft_registry")
set(WEFT_PC_CFLAGS "")
if(WEFT_WITH_CUDA)
  string(APPEND WEFT_PC_LIBS " -lweft_cuda")
endif()
if(TARGET weft_onednn)
  string(APPEND WEFT_PC_LIBS " -lweft_onednn")
endif()
if(WEFT_WITH_LLVM)
  string(APPEND WEFT_PC_LIBS " -lweft_llvm")
  string(APPEND WEFT_PC_CFLAGS " -isystem ${WEFT_LLVM_INCLUDE_DIRS}")
endif()
string(APPEND WEFT_PC_LIBS " -lweft_backends -lweft_passes -lweft_runtime -lweft_ir")
if(MPI_C_FOUND)
  # weft_runtime's communicator calls Open MPI (runtime/mpi_communicator.cpp).
  foreach(lib ${MPI_C_LIBRARIES})
    string(APPEND WEFT_PC_LIBS " ${lib}")
  endforeach()
endif()
if(WEFT_WITH_LLVM)
  string(APPEND WEFT_PC_LIBS " -L${WEFT_LLVM_LIBRARY_DIR} -lLLVM -Wl,-rpath,${WEFT_LLVM_LIBRARY_DIR}")
endif()
if(WEFT_WITH_CUDA)
  # The driver, NVRTC and cuBLAS are opened at run time (backends/cuda/cuda_libraries.h).
  string(APPEND WEFT_PC_LIBS " -ldl")
  string(APPEND WEFT_PC_CFLAGS " -isystem ${WEFT_CUDA_INCLUDE_DIRS}")
endif()
if(TARGET weft_onednn)
  string(APPEND WEFT_PC_LIBS " ${WEFT_DNNL_LIBRARY} ${WEFT_GOMP_LIBRARY} -lweft_omp_env -Wl,-rpath,\${libdir}")
endif()
configure_file(${CMAKE_SOURCE_DIR}/cmake/weft.pc.in ${CMAKE_BINARY_DIR}/weft.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/weft.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
