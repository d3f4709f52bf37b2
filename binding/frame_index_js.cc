#include "binding/frame_index_js.h"

#include <cmath>
#include <string>
#include <vector>

#include "cpp/errors.h"

namespace torchvideo::binding {
namespace {

// Timestamps travel as JS numbers: exact up to 2^53, far beyond any stream's.
constexpr double kMaxSafe = 9007199254740991.0;

Napi::Array numbers(Napi::Env env, const std::vector<int64_t>& values) {
  auto array = Napi::Array::New(env, values.size());
  for (size_t i = 0; i < values.size(); ++i) array.Set(static_cast<uint32_t>(i), static_cast<double>(values[i]));
  return array;
}

int64_t integerOf(const Napi::Value& value, const std::string& name) {
  if (!value.IsNumber()) throw Error::type("expected frameIndex." + name + " to be an integer");
  const double number = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(number) || std::floor(number) != number || std::fabs(number) > kMaxSafe) {
    throw Error::range("expected frameIndex." + name + " to be a safe integer, got " + std::to_string(number));
  }
  return static_cast<int64_t>(number);
}

std::vector<int64_t> integersOf(const Napi::Object& object, const char* name) {
  const auto value = object.Get(name);
  if (!value.IsArray()) throw Error::type(std::string("expected frameIndex.") + name + " to be an array of integers");
  const auto array = value.As<Napi::Array>();
  std::vector<int64_t> out;
  out.reserve(array.Length());
  for (uint32_t i = 0; i < array.Length(); ++i) {
    out.push_back(integerOf(array.Get(i), std::string(name) + "[" + std::to_string(i) + "]"));
  }
  return out;
}

}  // namespace

Napi::Object frameIndexToJs(Napi::Env env, const FrameIndex& index) {
  auto object = Napi::Object::New(env);
  object.Set("byTimestamp", index.byTimestamp);
  object.Set("frameCount", static_cast<double>(index.frameCount));
  object.Set("pts", numbers(env, index.pts));
  object.Set("keyframes", numbers(env, index.keyframes));
  object.Set("keyframeSeekTs", numbers(env, index.keyframeSeekTs));
  object.Set("damagedFrames", numbers(env, index.damagedFrames));
  object.Set("firstPacketPos", static_cast<double>(index.firstPacketPos));
  if (index.firstPacketDts == AV_NOPTS_VALUE) {
    object.Set("firstPacketDts", env.Null());
  } else {
    object.Set("firstPacketDts", static_cast<double>(index.firstPacketDts));
  }
  object.Set("startSeekTs", static_cast<double>(index.startSeekTs));
  object.Set("spanTs", static_cast<double>(index.spanTs));
  return object;
}

FrameIndex frameIndexFromJs(const Napi::Value& value) {
  if (!value.IsObject()) throw Error::type("expected frameIndex to be an object (a reader's frameIndex)");
  const auto object = value.As<Napi::Object>();
  FrameIndex index;
  const auto byTimestamp = object.Get("byTimestamp");
  if (!byTimestamp.IsBoolean()) throw Error::type("expected frameIndex.byTimestamp to be a boolean");
  index.byTimestamp = byTimestamp.As<Napi::Boolean>().Value();
  index.frameCount = integerOf(object.Get("frameCount"), "frameCount");
  index.pts = integersOf(object, "pts");
  index.keyframes = integersOf(object, "keyframes");
  index.keyframeSeekTs = integersOf(object, "keyframeSeekTs");
  index.damagedFrames = integersOf(object, "damagedFrames");
  index.firstPacketPos = integerOf(object.Get("firstPacketPos"), "firstPacketPos");
  const auto dts = object.Get("firstPacketDts");
  index.firstPacketDts = dts.IsNull() ? AV_NOPTS_VALUE : integerOf(dts, "firstPacketDts");
  index.startSeekTs = integerOf(object.Get("startSeekTs"), "startSeekTs");
  index.spanTs = integerOf(object.Get("spanTs"), "spanTs");
  index.checkConsistent();
  return index;
}

}  // namespace torchvideo::binding
