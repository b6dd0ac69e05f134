/** \file
 * NVRTC and cuBLAS, loaded at run time like the driver (cuda_driver.h): linked, the two libraries
 * cost every Weft process 0.2 s at start-up (cuBLAS and cuBLASLt are hundreds of megabytes of
 * relocations), whether or not it ever uses a GPU. They are opened on first use, from the toolkit
 * Weft was built with (its library directory, then the loader's search path).
 */
#pragma once

#include <cublas_v2.h>
#include <nvrtc.h>

namespace weft::cuda_backend {

struct NvrtcApi {
  nvrtcResult (*CreateProgram)(nvrtcProgram*, const char*, const char*, int, const char* const*, const char* const*);
  nvrtcResult (*CompileProgram)(nvrtcProgram, int, const char* const*);
  nvrtcResult (*DestroyProgram)(nvrtcProgram*);
  nvrtcResult (*GetProgramLogSize)(nvrtcProgram, size_t*);
  nvrtcResult (*GetProgramLog)(nvrtcProgram, char*);
  nvrtcResult (*GetPTXSize)(nvrtcProgram, size_t*);
  nvrtcResult (*GetPTX)(nvrtcProgram, char*);
  const char* (*GetErrorString)(nvrtcResult);
  nvrtcResult (*Version)(int*, int*);
};

struct CublasApi {
  cublasStatus_t (*Create)(cublasHandle_t*);
  cublasStatus_t (*Destroy)(cublasHandle_t);
  cublasStatus_t (*SgemmStridedBatched)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                                        const float*, const float*, int, long long, const float*, int, long long,
                                        const float*, float*, int, long long, int);
};

/// Throw weft::Error naming the library and why it could not be loaded.
const NvrtcApi& nvrtc();
const CublasApi& cublas();

}  // namespace weft::cuda_backend
