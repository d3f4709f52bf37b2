// cpp/dtypes.h's table, row for row, with the Node-API TypedArray kind of each dtype. The
// static_asserts prove at compile time that each row pairs a scalar type with a TypedArray whose
// elements have the same size, and that this table and cpp/dtypes.h list the same types in order.
#pragma once

#include <napi.h>

#include <array>
#include <cstddef>
#include <optional>

#include "cpp/dtypes.h"

namespace torchvideo::binding {

struct TypedArrayRow {
  c10::ScalarType scalarType;
  napi_typedarray_type arrayType;
};

inline constexpr std::array<TypedArrayRow, kDtypeTable.size()> kTypedArrayTable{{
    {c10::ScalarType::Float, napi_float32_array},
    {c10::ScalarType::Double, napi_float64_array},
    {c10::ScalarType::Int, napi_int32_array},
    {c10::ScalarType::Long, napi_bigint64_array},
    {c10::ScalarType::Byte, napi_uint8_array},
    {c10::ScalarType::Char, napi_int8_array},
    {c10::ScalarType::Short, napi_int16_array},
}};

constexpr size_t typedArrayElementSize(napi_typedarray_type type) {
  switch (type) {
    case napi_int8_array:
    case napi_uint8_array:
    case napi_uint8_clamped_array: return 1;
    case napi_int16_array:
    case napi_uint16_array: return 2;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array: return 4;
    default: return 8;  // float64, bigint64, biguint64
  }
}

template <size_t Row>
constexpr bool rowMatches() {
  constexpr auto row = kTypedArrayTable[Row];
  return row.scalarType == kDtypeTable[Row].scalarType &&
         sizeof(c10::impl::ScalarTypeToCPPTypeT<row.scalarType>) == typedArrayElementSize(row.arrayType);
}

static_assert(rowMatches<0>(), "row 0 (float32) of the dtype tables disagrees");
static_assert(rowMatches<1>(), "row 1 (float64) of the dtype tables disagrees");
static_assert(rowMatches<2>(), "row 2 (int32) of the dtype tables disagrees");
static_assert(rowMatches<3>(), "row 3 (int64) of the dtype tables disagrees");
static_assert(rowMatches<4>(), "row 4 (uint8) of the dtype tables disagrees");
static_assert(rowMatches<5>(), "row 5 (int8) of the dtype tables disagrees");
static_assert(rowMatches<6>(), "row 6 (int16) of the dtype tables disagrees");
static_assert(kTypedArrayTable.size() == 7, "a new row needs its static_assert above");

inline std::optional<c10::ScalarType> scalarTypeOfTypedArray(napi_typedarray_type type) {
  for (const auto& row : kTypedArrayTable) {
    if (row.arrayType == type) return row.scalarType;
  }
  return std::nullopt;
}

}  // namespace torchvideo::binding
