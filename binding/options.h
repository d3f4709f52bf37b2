// Reading optional fields of a JS options object, with errors that name the field.
#pragma once

#include <napi.h>

#include <optional>
#include <string>
#include <vector>

namespace torchvideo::binding {

std::optional<std::string> optionalString(const Napi::Object& options, const char* name);
std::optional<bool> optionalBool(const Napi::Object& options, const char* name);
std::optional<int> optionalPositiveInt(const Napi::Object& options, const char* name);
std::optional<std::vector<int64_t>> optionalIntArray(const Napi::Object& options, const char* name);

}  // namespace torchvideo::binding

namespace torchvideo::binding {

// A JS array of non-negative integers (a shape, frame indices); errors name `name` and the element.
std::vector<int64_t> nonNegativeIntegers(const Napi::Value& value, const std::string& name);

std::optional<std::vector<double>> optionalNumberArray(const Napi::Object& options, const char* name);
// A non-negative integer up to 2^53, e.g. a seed.
std::optional<uint64_t> optionalUnsigned(const Napi::Object& options, const char* name);

}  // namespace torchvideo::binding
