/** \file
 * Helpers for the C runtime's tests: tensors that own their shape and bytes, running an entry of
 * the "testnet" model (model_desc.c) by name, and checking a status together with its message.
 */
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "runtime/capi/weft_model.h"

namespace weft::capi_test {

/// A tensor for weft_run: owns its shape and bytes.
struct Arg {
  int32_t dtype = WEFT_F32;
  std::vector<int64_t> shape;
  std::vector<unsigned char> bytes;

  weft_tensor view() {
    return {dtype, static_cast<int32_t>(shape.size()), shape.data(), bytes.empty() ? nullptr : bytes.data()};
  }
  template <typename T>
  std::vector<T> values() const {
    std::vector<T> out(bytes.size() / sizeof(T));
    if (!out.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
    return out;
  }
};

template <typename T>
Arg make_arg(int32_t dtype, std::vector<int64_t> shape, const std::vector<T>& values) {
  Arg a{dtype, std::move(shape), std::vector<unsigned char>(values.size() * sizeof(T))};
  if (!values.empty()) std::memcpy(a.bytes.data(), values.data(), a.bytes.size());
  return a;
}

inline Arg f32(std::vector<int64_t> shape, const std::vector<float>& v) {
  return make_arg(WEFT_F32, std::move(shape), v);
}
inline Arg i32(std::vector<int64_t> shape, const std::vector<int32_t>& v) {
  return make_arg(WEFT_I32, std::move(shape), v);
}
inline Arg i64(std::vector<int64_t> shape, const std::vector<int64_t>& v) {
  return make_arg(WEFT_I64, std::move(shape), v);
}

/// An output of `dtype` and `shape` with room for its elements (filled with a marker byte).
inline Arg out(int32_t dtype, std::vector<int64_t> shape, size_t elem = 4) {
  size_t n = 1;
  for (int64_t d : shape) n *= static_cast<size_t>(d);
  return Arg{dtype, std::move(shape), std::vector<unsigned char>(n * elem, 0xAB)};
}

inline int32_t entry(const char* name) {
  int32_t e = -1;
  EXPECT_EQ(weft_find_entry(name, &e), WEFT_OK) << weft_last_error();
  return e;
}

inline int32_t run(weft_model* m, const char* name, std::vector<Arg*> ins, std::vector<Arg*> outs) {
  std::vector<weft_tensor> i, o;
  for (Arg* a : ins) i.push_back(a->view());
  for (Arg* a : outs) o.push_back(a->view());
  return weft_run(m, entry(name), i.data(), static_cast<int32_t>(i.size()), o.data(), static_cast<int32_t>(o.size()));
}

/// An instance, destroyed at the end of the scope.
struct Instance {
  weft_model* m = nullptr;
  explicit Instance(const weft_options* options = nullptr) {
    EXPECT_EQ(weft_create(options, &m), WEFT_OK) << weft_last_error();
  }
  ~Instance() { weft_destroy(m); }
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;
};

inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace weft::capi_test

/// `call` returns `status`, and the thread's message contains `text`.
#define EXPECT_WEFT_ERROR(call, status, text)                                       \
  do {                                                                              \
    int32_t rc_ = (call);                                                           \
    EXPECT_EQ(rc_, status) << weft_status_name(rc_) << ": " << weft_last_error();   \
    EXPECT_TRUE(::weft::capi_test::contains(weft_last_error(), text))               \
        << "message: " << weft_last_error() << "\nexpected to contain: " << (text); \
  } while (0)

#define EXPECT_WEFT_OK(call)                                                       \
  do {                                                                             \
    int32_t rc_ = (call);                                                          \
    EXPECT_EQ(rc_, WEFT_OK) << weft_status_name(rc_) << ": " << weft_last_error(); \
  } while (0)
