// Module entry: registers the native classes and functions on a per-environment AddonData.
#include <napi.h>

#include "binding/addon_data.h"
#include "binding/js_errors.h"
#include "binding/model.h"
#include "binding/preprocess.h"
#include "binding/tensor.h"
#include "binding/video_reader.h"
#include "cpp/caching_cpu_allocator.h"
#include "cpp/device.h"
#include "cpp/versions.h"
#include "cpp/video/ffmpeg_log.h"

namespace torchvideo::binding {
namespace {

// Enough for the activations of these networks at batch 8 several times over.
constexpr size_t kCpuCacheBytes = size_t{2} * 1024 * 1024 * 1024;

void setErrorClass(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) throw Napi::TypeError::New(info.Env(), "expected errorClass to be a function");
  AddonData::of(info.Env()).errorClass = Napi::Persistent(info[0].As<Napi::Function>());
}

Napi::Value cudaIsAvailable(const Napi::CallbackInfo& info) {
  return callNative(info.Env(), [&]() -> Napi::Value { return Napi::Boolean::New(info.Env(), cudaAvailable()); });
}

Napi::Value cudaCount(const Napi::CallbackInfo& info) {
  return callNative(info.Env(), [&]() -> Napi::Value { return Napi::Number::New(info.Env(), cudaDeviceCount()); });
}

// The external memory total V8 holds for this isolate (what AdjustExternalMemory reported), for tests:
// process.memoryUsage().external counts ArrayBuffer backing stores only.
Napi::Value adjustedExternalMemory(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(),
                           static_cast<double>(Napi::MemoryManagement::AdjustExternalMemory(info.Env(), 0)));
}

// Bytes LibTorch's CPU block cache holds free for reuse (cpp/caching_cpu_allocator.h), for tests.
Napi::Value cachedCpuBytesValue(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(cachedCpuBytes()));
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  configureFfmpegLogging();
  installCachingCpuAllocator(kCpuCacheBytes);
  auto* data = new AddonData();
  env.SetInstanceData(data);
  const auto tensor = TensorWrap::define(env);
  const auto model = ModelWrap::define(env);
  data->tensorConstructor = Napi::Persistent(tensor);
  data->modelConstructor = Napi::Persistent(model);
  const auto videoReader = VideoReaderWrap::define(env);
  data->videoReaderConstructor = Napi::Persistent(videoReader);
  exports.Set("VideoReader", videoReader);
  exports.Set("preprocess", Napi::Function::New<preprocess>(env, "preprocess"));
  exports.Set("Tensor", tensor);
  exports.Set("Model", model);
  exports.Set("setErrorClass", Napi::Function::New<setErrorClass>(env, "setErrorClass"));
  exports.Set("cudaIsAvailable", Napi::Function::New<cudaIsAvailable>(env, "cudaIsAvailable"));
  exports.Set("cudaDeviceCount", Napi::Function::New<cudaCount>(env, "cudaDeviceCount"));
  exports.Set("adjustedExternalMemory", Napi::Function::New<adjustedExternalMemory>(env, "adjustedExternalMemory"));
  exports.Set("cachedCpuBytes", Napi::Function::New<cachedCpuBytesValue>(env, "cachedCpuBytes"));
  exports.Set("libtorchVersion", Napi::String::New(env, libtorchVersion()));
  exports.Set("ffmpegVersion", Napi::String::New(env, ffmpegVersion()));
  return exports;
}

}  // namespace
}  // namespace torchvideo::binding

static Napi::Object InitTorchVideo(Napi::Env env, Napi::Object exports) {
  return torchvideo::binding::init(env, exports);
}

NODE_API_MODULE(torchvideo, InitTorchVideo)
