// Module entry: registers the native classes and functions on a per-environment AddonData.
#include <napi.h>

#include <chrono>
#include <cstdlib>

#include "binding/addon_data.h"
#include "binding/batcher.h"
#include "binding/cancel.h"
#include "binding/concat.h"
#include "binding/distributed.h"
#include "binding/js_errors.h"
#include "binding/model.h"
#include "binding/preprocess.h"
#include "binding/stream_reader.h"
#include "binding/tensor.h"
#include "binding/trainer.h"
#include "binding/video_reader.h"
#include "cpp/caching_cpu_allocator.h"
#include "cpp/device.h"
#include "cpp/distributed/group.h"
#include "cpp/dtypes.h"
#include "cpp/errors.h"
#include "cpp/versions.h"
#include "cpp/video/ffmpeg_log.h"
#include "cpp/video/preprocessing_defaults.h"

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

// Native CPU memory held by this environment's live tensors (what they reported to V8).
Napi::Value tensorBytesValue(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(AddonData::of(info.Env()).tensorBytes));
}

// Bytes LibTorch's CPU block cache holds free for reuse (cpp/caching_cpu_allocator.h), for tests.
Napi::Value cachedCpuBytesValue(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(cachedCpuBytes()));
}

// Called from process 'exit' by the TS layer with a deadline in ms: see AddonData::quiesce. Returns
// false when native work was still running at the deadline.
Napi::Value quiesce(const Napi::CallbackInfo& info) {
  const double ms = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(ms));
  return Napi::Boolean::New(info.Env(), AddonData::of(info.Env()).quiesce(deadline));
}

// The process ends now with `code`, without exit()'s static destructors: for an exit whose native work
// did not stop by the deadline (a collective stuck on a dead peer; Gloo in LibTorch 1.13 cannot be
// aborted), since LibTorch's destructors would run under it and crash. Node's stdout and stderr are
// synchronous for files, pipes and terminals on Linux, so what was written is out.
void exitNow(const Napi::CallbackInfo& info) {
  const int code = info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 1;
  std::_Exit(code);
}

// Executors that models and trainers on the CPU hold (a disposed one gives its own back): for tests.
Napi::Value objectExecutorCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), AddonData::of(info.Env()).objectExecutors->liveCount());
}

// The tables TS takes its names and defaults from (cpp/ holds the only copy).
Napi::Value dtypeTable(Napi::Env env) {
  auto rows = Napi::Array::New(env, kDtypeTable.size());
  for (size_t i = 0; i < kDtypeTable.size(); ++i) {
    auto row = Napi::Object::New(env);
    row.Set("name", kDtypeTable[i].name);
    row.Set("typedArray", kDtypeTable[i].typedArray);
    rows.Set(i, row);
  }
  return rows;
}

// decodeThreads(): the decode pool's size. decodeThreads(n): grows it to n threads (at most 256).
Napi::Value decodeThreads(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  return callNative(env, [&]() -> Napi::Value {
    auto& pool = AddonData::of(env).decodePool();
    if (!info[0].IsUndefined()) {
      if (!info[0].IsNumber()) throw Error::type("expected threads to be a number");
      const double threads = info[0].As<Napi::Number>().DoubleValue();
      if (!(threads >= 1 && threads <= 256) || threads != static_cast<int>(threads)) {
        throw Error::range("expected threads to be an integer from 1 to 256, got " + std::to_string(threads));
      }
      pool.growTo(static_cast<int>(threads));
    }
    return Napi::Number::New(env, pool.size());
  });
}

Napi::Value errorCodeList(Napi::Env env) {
  auto list = Napi::Array::New(env, codes::kAllCodes.size());
  for (size_t i = 0; i < codes::kAllCodes.size(); ++i) list.Set(i, codes::kAllCodes[i]);
  return list;
}

Napi::Value preprocessingDefaults(Napi::Env env) {
  auto numbers = [&](const auto& values) {
    auto array = Napi::Array::New(env, values.size());
    for (size_t i = 0; i < values.size(); ++i) array.Set(i, Napi::Number::New(env, values[i]));
    return array;
  };
  auto object = Napi::Object::New(env);
  object.Set("clipLength", defaults::kClipLength);
  object.Set("frameRate", defaults::kFrameRate);
  object.Set("clipsPerVideo", defaults::kClipsPerVideo);
  object.Set("resizeSize", numbers(std::array<int, 2>{defaults::kResizeHeight, defaults::kResizeWidth}));
  object.Set("cropSize", numbers(std::array<int, 2>{defaults::kCropSize, defaults::kCropSize}));
  object.Set("mean", numbers(defaults::kMean));
  object.Set("std", numbers(defaults::kStd));
  return object;
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
  data->batcherConstructor = Napi::Persistent(BatcherWrap::define(env));
  const auto trainer = TrainerWrap::define(env);
  data->trainerConstructor = Napi::Persistent(trainer);
  const auto processGroup = DistributedGroupWrap::define(env);
  data->processGroupConstructor = Napi::Persistent(processGroup);
  exports.Set("ProcessGroup", processGroup);
  const auto videoReader = VideoReaderWrap::define(env);
  data->videoReaderConstructor = Napi::Persistent(videoReader);
  exports.Set("VideoReader", videoReader);
  exports.Set("StreamReader", StreamReaderWrap::define(env));
  exports.Set("preprocess", Napi::Function::New<preprocess>(env, "preprocess"));
  exports.Set("concat", Napi::Function::New<concat>(env, "concat"));
  exports.Set("Tensor", tensor);
  exports.Set("Model", model);
  exports.Set("Trainer", trainer);
  exports.Set("setErrorClass", Napi::Function::New<setErrorClass>(env, "setErrorClass"));
  exports.Set("cudaIsAvailable", Napi::Function::New<cudaIsAvailable>(env, "cudaIsAvailable"));
  exports.Set("cudaDeviceCount", Napi::Function::New<cudaCount>(env, "cudaDeviceCount"));
  exports.Set("tensorBytes", Napi::Function::New<tensorBytesValue>(env, "tensorBytes"));
  exports.Set("cachedCpuBytes", Napi::Function::New<cachedCpuBytesValue>(env, "cachedCpuBytes"));
  exports.Set("quiesce", Napi::Function::New<quiesce>(env, "quiesce"));
  exports.Set("exitNow", Napi::Function::New<exitNow>(env, "exitNow"));
  exports.Set("cancelToken", Napi::Function::New<newCancelToken>(env, "cancelToken"));
  exports.Set("cancel", Napi::Function::New<raiseCancelToken>(env, "cancel"));
  exports.Set("objectExecutorCount", Napi::Function::New<objectExecutorCount>(env, "objectExecutorCount"));
  exports.Set("decodeThreads", Napi::Function::New<decodeThreads>(env, "decodeThreads"));
  exports.Set("dtypes", dtypeTable(env));
  exports.Set("errorCodes", errorCodeList(env));
  exports.Set("preprocessingDefaults", preprocessingDefaults(env));
  exports.Set("libtorchVersion", Napi::String::New(env, libtorchVersion()));
  exports.Set("ffmpegVersion", Napi::String::New(env, ffmpegVersion()));
  return exports;
}

}  // namespace
}  // namespace torchvideo::binding

static Napi::Object InitTorchVideo(Napi::Env env, Napi::Object exports) {
  torchvideo::DistributedGroup::prepareEnvironment();
  return torchvideo::binding::init(env, exports);
}

NODE_API_MODULE(torchvideo, InitTorchVideo)
