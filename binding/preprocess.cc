// preprocess(frames, options): torchvision's VideoClassification transform on the decode pool.
#include "binding/preprocess.h"

#include "binding/addon_data.h"
#include "binding/async_task.h"
#include "binding/tensor.h"
#include "binding/video_reader.h"
#include "cpp/video/preprocess.h"

namespace torchvideo::binding {

Napi::Value preprocess(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  return promiseOrReject(env, [&]() -> Napi::Value {
    auto frames = TensorWrap::unwrap(env, info[0], "frames");
    const auto options = readPreprocessOptions(info[1]);
    return AsyncJob<torch::Tensor>::start(
        env, AddonData::of(env).decodePool(), [frames, options] { return preprocessClip(frames, options); },
        [](Napi::Env env, torch::Tensor& clip) -> Napi::Value { return TensorWrap::wrap(env, std::move(clip)); });
  });
}

}  // namespace torchvideo::binding
