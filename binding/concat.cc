#include "binding/concat.h"

#include <vector>

#include "binding/addon_data.h"
#include "binding/async_task.h"
#include "binding/tensor.h"
#include "cpp/errors.h"
#include "cpp/shape_text.h"

namespace torchvideo::binding {
Napi::Value concat(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  return promiseOrReject(env, [&]() -> Napi::Value {
    if (!info[0].IsArray()) throw Error::type("expected tensors to be an array of tensors");
    const auto array = info[0].As<Napi::Array>();
    if (array.Length() == 0) throw Error::range("expected at least one tensor to concatenate");
    std::vector<torch::Tensor> tensors;
    for (uint32_t i = 0; i < array.Length(); ++i) {
      const std::string name = "tensors[" + std::to_string(i) + "]";
      auto tensor = TensorWrap::unwrap(env, array.Get(i), name);
      const auto& first = tensors.empty() ? tensor : tensors.front();
      if (tensor.dim() < 1 || tensor.sizes().slice(1) != first.sizes().slice(1) ||
          tensor.scalar_type() != first.scalar_type() || tensor.device() != first.device()) {
        throw Error::range("expected " + name + " to match tensors[0] " + shapeText(first.sizes()) +
                           " past dimension 0, in dtype and device, got " + shapeText(tensor.sizes()));
      }
      tensors.push_back(std::move(tensor));
    }
    return AsyncJob<torch::Tensor>::start(
        env, AddonData::of(env).decodePool(), [tensors] { return torch::cat(tensors); },
        [](Napi::Env env, torch::Tensor& out) -> Napi::Value { return TensorWrap::wrap(env, std::move(out)); });
  });
}

}  // namespace torchvideo::binding
