#include "binding/video_reader.h"

#include <algorithm>

#include "binding/addon_data.h"
#include "binding/async_task.h"
#include "binding/cancel.h"
#include "binding/frame_index_js.h"
#include "binding/js_errors.h"
#include "binding/options.h"
#include "binding/tensor.h"
#include "cpp/device.h"
#include "cpp/errors.h"
#include "cpp/video/clip_batch.h"

namespace torchvideo::binding {
PreprocessOptions readPreprocessOptions(const Napi::Value& value) {
  PreprocessOptions options;
  if (value.IsUndefined()) return options;
  if (!value.IsObject()) throw Error::type("expected options to be an object");
  const auto object = value.As<Napi::Object>();
  options.resizeHeight = optionalPositiveInt(object, "resizeHeight").value_or(options.resizeHeight);
  options.resizeWidth = optionalPositiveInt(object, "resizeWidth").value_or(options.resizeWidth);
  options.cropSize = optionalPositiveInt(object, "cropSize").value_or(options.cropSize);
  for (const auto& [name, target] : {std::pair{"mean", &options.mean}, std::pair{"std", &options.std}}) {
    if (auto values = optionalNumberArray(object, name)) {
      if (values->size() != 3) throw Error::range(std::string("expected options.") + name + " to hold 3 numbers");
      for (size_t c = 0; c < 3; ++c) (*target)[c] = static_cast<float>((*values)[c]);
    }
  }
  options.crops = optionalPositiveInt(object, "crops").value_or(1);
  // trainDraws: [{ top, left, flip }, ...], one per clip (the training preset).
  const auto draws = object.Get("trainDraws");
  if (!draws.IsUndefined()) {
    if (!draws.IsArray()) throw Error::type("expected options.trainDraws to be an array of { top, left, flip }");
    const auto array = draws.As<Napi::Array>();
    for (uint32_t i = 0; i < array.Length(); ++i) {
      const std::string name = "options.trainDraws[" + std::to_string(i) + "]";
      if (!array.Get(i).IsObject()) throw Error::type("expected " + name + " to be an object { top, left, flip }");
      const auto draw = array.Get(i).As<Napi::Object>();
      const auto top = optionalUnsigned(draw, "top"), left = optionalUnsigned(draw, "left");
      const auto flip = optionalBool(draw, "flip");
      if (!top || !left || !flip) throw Error::type("expected " + name + " to have top, left and flip");
      options.trainDraws.push_back({static_cast<int64_t>(*top), static_cast<int64_t>(*left), *flip});
    }
  }
  return options;
}

Napi::Function VideoReaderWrap::define(Napi::Env env) {
  return DefineClass(env, "NativeVideoReader",
                     {
                         StaticMethod<&VideoReaderWrap::open>("open"),
                         InstanceAccessor<&VideoReaderWrap::info>("info"),
                         InstanceAccessor<&VideoReaderWrap::closed>("closed"),
                         InstanceAccessor<&VideoReaderWrap::frameIndex>("frameIndex"),
                         InstanceAccessor<&VideoReaderWrap::decodeStats>("decodeStats"),
                         InstanceMethod<&VideoReaderWrap::readFrames>("readFrames"),
                         InstanceMethod<&VideoReaderWrap::readClips>("readClips"),
                         InstanceMethod<&VideoReaderWrap::close>("close"),
                     });
}

VideoReaderWrap::VideoReaderWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<VideoReaderWrap>(info) {}

std::shared_ptr<VideoReaderWrap::Shared> VideoReaderWrap::readerOrThrow() const {
  if (!shared_) throw Error::torchvideo(codes::kDisposed, "video reader is closed");
  return shared_;
}

Napi::Value VideoReaderWrap::open(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  return promiseOrReject(env, [&]() -> Napi::Value {
    if (!info[0].IsString()) throw Error::type("expected path to be a string");
    const std::string path = info[0].As<Napi::String>().Utf8Value();
    // Options: { threads, frameIndex, skipUnwanted } (VideoDecoderOptions).
    VideoDecoderOptions options;
    if (!info[1].IsUndefined()) {
      if (!info[1].IsObject()) throw Error::type("expected options to be an object");
      const auto object = info[1].As<Napi::Object>();
      if (auto threads = optionalUnsigned(object, "threads"))
        options.threads = static_cast<int>(std::min<uint64_t>(*threads, 1024));
      if (!object.Get("frameIndex").IsUndefined()) options.index = frameIndexFromJs(object.Get("frameIndex"));
      if (auto skip = optionalBool(object, "skipUnwanted")) options.skipUnwanted = *skip;
    }
    return AsyncJob<std::shared_ptr<Shared>>::start(
        env, AddonData::of(env).decodePool(), [path, options] { return std::make_shared<Shared>(path, options); },
        [](Napi::Env env, std::shared_ptr<Shared>& shared) -> Napi::Value {
          auto object = AddonData::of(env).videoReaderConstructor.New({});
          Unwrap(object)->shared_ = std::move(shared);
          return object;
        },
        readCancelFlag(info[1]));
  });
}

Napi::Value VideoReaderWrap::info(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  return callNative(env, [&]() -> Napi::Value {
    const auto& video = readerOrThrow()->decoder.info();
    auto object = Napi::Object::New(env);
    object.Set("durationSec", video.durationSec);
    object.Set("fps", video.fps);
    object.Set("frameCount", static_cast<double>(video.frameCount));
    object.Set("width", video.width);
    object.Set("height", video.height);
    object.Set("codec", video.codec);
    return object;
  });
}

Napi::Value VideoReaderWrap::frameIndex(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  return callNative(env, [&]() -> Napi::Value { return frameIndexToJs(env, readerOrThrow()->decoder.frameIndex()); });
}

Napi::Value VideoReaderWrap::decodeStats(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  return callNative(env, [&]() -> Napi::Value {
    // Read without the decoder's mutex (the counter is atomic): a read in flight must not block JS.
    const auto stats = readerOrThrow()->decoder.stats();
    auto object = Napi::Object::New(env);
    object.Set("framesDecoded", static_cast<double>(stats.framesDecoded));
    object.Set("skipsUnwanted", stats.skipsUnwanted);
    object.Set("planFallbacks", static_cast<double>(stats.planFallbacks));
    return object;
  });
}

Napi::Value VideoReaderWrap::closed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !shared_); }

Napi::Value VideoReaderWrap::readFrames(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  return promiseOrReject(env, [&]() -> Napi::Value {
    auto shared = readerOrThrow();
    auto indices = nonNegativeIntegers(info[0], "indices");
    return AsyncJob<torch::Tensor>::start(
        env, AddonData::of(env).decodePool(),
        [shared, indices] {
          std::lock_guard<std::mutex> lock(shared->mutex);
          return shared->decoder.readFrames(indices);
        },
        [](Napi::Env env, torch::Tensor& frames) -> Napi::Value { return TensorWrap::wrap(env, std::move(frames)); },
        readCancelFlag(info[1]));
  });
}

Napi::Value VideoReaderWrap::readClips(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  return promiseOrReject(env, [&]() -> Napi::Value {
    auto shared = readerOrThrow();
    if (!info[0].IsArray()) throw Error::type("expected clips to be an array of frame index arrays");
    const auto array = info[0].As<Napi::Array>();
    std::vector<std::vector<int64_t>> clips;
    for (uint32_t i = 0; i < array.Length(); ++i)
      clips.push_back(nonNegativeIntegers(array.Get(i), "clips[" + std::to_string(i) + "]"));
    const auto options = readPreprocessOptions(info[1]);
    // Third argument: { raw, pinned } (ClipBatchOutput), and the call's { cancel }.
    ClipBatchOutput output;
    if (!info[2].IsUndefined()) {
      if (!info[2].IsObject()) throw Error::type("expected output options to be an object");
      output.raw = optionalBool(info[2].As<Napi::Object>(), "raw").value_or(false);
      output.pinned = optionalBool(info[2].As<Napi::Object>(), "pinned").value_or(false);
    }
    if (output.pinned && !cudaAvailable()) {
      throw Error::range("pinned (page-locked) clip batches need CUDA, which this LibTorch or machine lacks");
    }
    return AsyncJob<torch::Tensor>::start(
        env, AddonData::of(env).decodePool(),
        [shared, clips, options, output] {
          std::lock_guard<std::mutex> lock(shared->mutex);
          return decodeClipBatch(shared->decoder, clips, options, output);
        },
        [](Napi::Env env, torch::Tensor& batch) -> Napi::Value { return TensorWrap::wrap(env, std::move(batch)); },
        readCancelFlag(info[2]));
  });
}

void VideoReaderWrap::close(const Napi::CallbackInfo& info) { shared_.reset(); }

}  // namespace torchvideo::binding
