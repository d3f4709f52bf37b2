// The one table of the tensor element types the JS API can hold: LibTorch's scalar type, the dtype
// name TS uses and the TypedArray that carries it. The binding pairs each row with Node-API's
// TypedArray kind (binding/dtype_table.h, checked row by row at compile time) and hands the table to
// TypeScript at load, so src/ holds no copy of it.
#pragma once

#include <c10/core/ScalarType.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>

namespace torchvideo {

struct DtypeRow {
  c10::ScalarType scalarType;
  const char* name;
  const char* typedArray;
};

inline constexpr std::array<DtypeRow, 7> kDtypeTable{{
    {c10::ScalarType::Float, "float32", "Float32Array"},
    {c10::ScalarType::Double, "float64", "Float64Array"},
    {c10::ScalarType::Int, "int32", "Int32Array"},
    {c10::ScalarType::Long, "int64", "BigInt64Array"},
    {c10::ScalarType::Byte, "uint8", "Uint8Array"},
    {c10::ScalarType::Char, "int8", "Int8Array"},
    {c10::ScalarType::Short, "int16", "Int16Array"},
}};

static_assert(sizeof(c10::impl::ScalarTypeToCPPTypeT<c10::ScalarType::Float>) == 4 &&
                  sizeof(c10::impl::ScalarTypeToCPPTypeT<c10::ScalarType::Double>) == 8,
              "float32/float64 must be IEEE single/double");

inline std::optional<DtypeRow> dtypeByScalarType(c10::ScalarType type) {
  for (const auto& row : kDtypeTable) {
    if (row.scalarType == type) return row;
  }
  return std::nullopt;
}

// Name for any scalar type, including ones the JS API cannot hold (e.g. 'float16' on CUDA).
std::string dtypeName(c10::ScalarType type);

}  // namespace torchvideo
