// The one table that maps LibTorch scalar types to the dtype names the JS API uses. The binding
// pairs each row with its TypedArray kind; src/dtypes.ts holds the same names.
#pragma once

#include <c10/core/ScalarType.h>

#include <array>
#include <optional>
#include <string>

namespace torchvideo {

struct DtypeRow {
  c10::ScalarType scalarType;
  const char* name;
  size_t elementSize;
};

inline constexpr std::array<DtypeRow, 7> kDtypeTable{{
    {c10::ScalarType::Float, "float32", 4},
    {c10::ScalarType::Double, "float64", 8},
    {c10::ScalarType::Int, "int32", 4},
    {c10::ScalarType::Long, "int64", 8},
    {c10::ScalarType::Byte, "uint8", 1},
    {c10::ScalarType::Char, "int8", 1},
    {c10::ScalarType::Short, "int16", 2},
}};

static_assert(sizeof(float) == 4 && sizeof(double) == 8, "float32/float64 must be IEEE single/double");

inline std::optional<DtypeRow> dtypeByScalarType(c10::ScalarType type) {
  for (const auto& row : kDtypeTable) {
    if (row.scalarType == type) return row;
  }
  return std::nullopt;
}

// Name for any scalar type, including ones the JS API cannot hold (e.g. 'float16' on CUDA).
std::string dtypeName(c10::ScalarType type);

}  // namespace torchvideo
