/** \file
 * Element types. Dtypes are strict: no op promotes implicitly; `cast` is the only conversion.
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace weft {

enum class DType : uint8_t { f32, f64, f16, bf16, i32, i64, boolean };

size_t dtype_size(DType t);
std::string_view dtype_name(DType t);  // "f32", "i64", "bool", ...
std::optional<DType> parse_dtype(std::string_view name);
bool is_float(DType t);
bool is_int(DType t);

}  // namespace weft
