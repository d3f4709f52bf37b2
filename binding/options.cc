#include "binding/options.h"

#include <cmath>

#include "cpp/errors.h"

namespace torchvideo::binding {
namespace {

std::optional<Napi::Value> field(const Napi::Object& options, const char* name) {
  const Napi::Value value = options.Get(name);
  if (value.IsUndefined()) return std::nullopt;
  return value;
}

bool isInteger(double value) { return std::isfinite(value) && std::floor(value) == value; }

}  // namespace

std::optional<std::string> optionalString(const Napi::Object& options, const char* name) {
  auto value = field(options, name);
  if (!value) return std::nullopt;
  if (!value->IsString()) throw Error::type(std::string("expected options.") + name + " to be a string");
  return value->As<Napi::String>().Utf8Value();
}

std::optional<bool> optionalBool(const Napi::Object& options, const char* name) {
  auto value = field(options, name);
  if (!value) return std::nullopt;
  if (!value->IsBoolean()) throw Error::type(std::string("expected options.") + name + " to be a boolean");
  return value->As<Napi::Boolean>().Value();
}

std::optional<int> optionalPositiveInt(const Napi::Object& options, const char* name) {
  auto value = field(options, name);
  if (!value) return std::nullopt;
  if (!value->IsNumber()) throw Error::type(std::string("expected options.") + name + " to be a number");
  const double number = value->As<Napi::Number>().DoubleValue();
  if (!isInteger(number) || number < 1 || number > 4096) {
    throw Error::range(std::string("expected options.") + name + " to be a positive integer, got " +
                       std::to_string(number));
  }
  return static_cast<int>(number);
}

std::optional<std::vector<int64_t>> optionalIntArray(const Napi::Object& options, const char* name) {
  auto value = field(options, name);
  if (!value) return std::nullopt;
  if (!value->IsArray()) throw Error::type(std::string("expected options.") + name + " to be an array of integers");
  const auto array = value->As<Napi::Array>();
  std::vector<int64_t> numbers;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    const Napi::Value item = array.Get(i);
    if (!item.IsNumber() || !isInteger(item.As<Napi::Number>().DoubleValue()) ||
        item.As<Napi::Number>().DoubleValue() < 1) {
      throw Error::range(std::string("expected options.") + name + "[" + std::to_string(i) +
                         "] to be a positive integer");
    }
    numbers.push_back(static_cast<int64_t>(item.As<Napi::Number>().DoubleValue()));
  }
  return numbers;
}

}  // namespace torchvideo::binding

namespace torchvideo::binding {

std::vector<int64_t> nonNegativeIntegers(const Napi::Value& value, const std::string& name) {
  if (!value.IsArray()) throw Error::type("expected " + name + " to be an array of non-negative integers");
  const auto array = value.As<Napi::Array>();
  std::vector<int64_t> numbers;
  numbers.reserve(array.Length());
  for (uint32_t i = 0; i < array.Length(); ++i) {
    const Napi::Value item = array.Get(i);
    const std::string element = name + "[" + std::to_string(i) + "]";
    if (!item.IsNumber()) throw Error::type("expected " + element + " to be a number");
    const double number = item.As<Napi::Number>().DoubleValue();
    if (!(number >= 0) || !isInteger(number) || number > 9007199254740991.0) {
      throw Error::range("expected " + element + " to be a non-negative integer, got " + std::to_string(number));
    }
    numbers.push_back(static_cast<int64_t>(number));
  }
  return numbers;
}

std::optional<std::vector<double>> optionalNumberArray(const Napi::Object& options, const char* name) {
  auto value = field(options, name);
  if (!value) return std::nullopt;
  if (!value->IsArray()) throw Error::type(std::string("expected options.") + name + " to be an array of numbers");
  const auto array = value->As<Napi::Array>();
  std::vector<double> numbers;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    const Napi::Value item = array.Get(i);
    if (!item.IsNumber() || !std::isfinite(item.As<Napi::Number>().DoubleValue())) {
      throw Error::type(std::string("expected options.") + name + "[" + std::to_string(i) + "] to be a finite number");
    }
    numbers.push_back(item.As<Napi::Number>().DoubleValue());
  }
  return numbers;
}

std::optional<uint64_t> optionalUnsigned(const Napi::Object& options, const char* name) {
  auto value = field(options, name);
  if (!value) return std::nullopt;
  if (!value->IsNumber()) throw Error::type(std::string("expected options.") + name + " to be a number");
  const double number = value->As<Napi::Number>().DoubleValue();
  if (!isInteger(number) || number < 0 || number > 9007199254740991.0) {
    throw Error::range(std::string("expected options.") + name + " to be a non-negative integer");
  }
  return static_cast<uint64_t>(number);
}

}  // namespace torchvideo::binding
