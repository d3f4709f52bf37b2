#include "binding/model.h"

#include <thread>

#include "binding/addon_data.h"
#include "binding/async_task.h"
#include "binding/js_errors.h"
#include "binding/options.h"
#include "binding/tensor.h"
#include "cpp/device.h"
#include "cpp/dtypes.h"
#include "cpp/errors.h"

namespace torchvideo::binding {
namespace {

ModelOptions readModelOptions(const Napi::Value& value) {
  ModelOptions options;
  if (value.IsUndefined()) return options;
  if (!value.IsObject()) throw Error::type("expected options to be an object");
  const auto object = value.As<Napi::Object>();
  options.device = resolveDevice(optionalString(object, "device").value_or("cpu"));
  options.optimize = optionalBool(object, "optimize").value_or(true);
  options.warmup = optionalBool(object, "warmup").value_or(true);
  options.half = optionalBool(object, "half").value_or(false);
  options.intraOpThreads =
      optionalPositiveInt(object, "threads").value_or(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  if (auto shape = optionalIntArray(object, "warmupShape")) options.warmupShape = *shape;
  return options;
}

// The network takes (B, 3, T, H, W) float32. A list of clips is stacked into one batch: each clip
// (3, T, H, W), or each a batch of its own (B_i, 3, T, H, W), concatenated.
torch::Tensor batchOf(const std::vector<torch::Tensor>& clips) {
  if (clips.size() == 1) return clips[0];
  const bool stacked = clips[0].dim() == 4;
  return stacked ? torch::stack(clips) : torch::cat(clips);
}

void checkInput(const torch::Tensor& tensor, const std::string& argument, int64_t rank) {
  if (tensor.scalar_type() != torch::kFloat32) {
    throw Error::type("expected " + argument + " to be a float32 tensor, got " + dtypeName(tensor.scalar_type()));
  }
  if (tensor.dim() != rank) {
    throw Error::range("expected " + argument + " to have " + std::to_string(rank) + " dimensions (" +
                       (rank == 5 ? "B, 3, T, H, W" : "3, T, H, W") + "), got shape " + c10::str(tensor.sizes()));
  }
  if (tensor.size(rank - 4) != 3) {
    throw Error::range("expected " + argument + " to have 3 colour channels in dimension " +
                       std::to_string(rank - 4) + ", got shape " + c10::str(tensor.sizes()));
  }
}

std::vector<torch::Tensor> readInputs(Napi::Env env, const Napi::Value& value) {
  std::vector<torch::Tensor> inputs;
  if (!value.IsArray()) {
    inputs.push_back(TensorWrap::unwrap(env, value, "input"));
    checkInput(inputs.back(), "input", 5);
    return inputs;
  }
  const auto array = value.As<Napi::Array>();
  if (array.Length() == 0) throw Error::range("expected input to be a non-empty array of tensors");
  for (uint32_t i = 0; i < array.Length(); ++i) {
    const std::string name = "input[" + std::to_string(i) + "]";
    inputs.push_back(TensorWrap::unwrap(env, array.Get(i), name));
    checkInput(inputs.back(), name, inputs.front().dim() == 4 ? 4 : 5);
    if (inputs.back().sizes().slice(inputs.back().dim() - 4) != inputs.front().sizes().slice(inputs.front().dim() - 4)) {
      throw Error::range("expected every clip to have the shape of input[0] " + c10::str(inputs.front().sizes()) +
                         ", got " + name + " " + c10::str(inputs.back().sizes()));
    }
  }
  return inputs;
}

}  // namespace

Napi::Function ModelWrap::define(Napi::Env env) {
  return DefineClass(env, "NativeModel",
                     {
                         StaticMethod<&ModelWrap::load>("load"),
                         InstanceMethod<&ModelWrap::forward>("forward"),
                         InstanceAccessor<&ModelWrap::info>("info"),
                         InstanceAccessor<&ModelWrap::disposed>("disposed"),
                         InstanceMethod<&ModelWrap::dispose>("dispose"),
                     });
}

ModelWrap::ModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelWrap>(info) {}

std::shared_ptr<Model> ModelWrap::live() const {
  if (!model_) throw Error::torchvideo(codes::kDisposed, "model is disposed");
  return model_;
}

std::shared_ptr<Model> ModelWrap::unwrap(Napi::Env env, const Napi::Value& value, const std::string& argument) {
  const auto& constructor = AddonData::of(env).modelConstructor;
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(constructor.Value())) {
    throw Error::type("expected " + argument + " to be a Model");
  }
  return Unwrap(value.As<Napi::Object>())->live();
}

Napi::Value ModelWrap::load(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  return promiseOrReject(env, [&]() -> Napi::Value {
    if (!info[0].IsString()) throw Error::type("expected path to be a string");
    const std::string path = info[0].As<Napi::String>().Utf8Value();
    const auto options = readModelOptions(info[1]);
    auto& executor = AddonData::of(env).executorFor(deviceName(options.device));
    return AsyncJob<std::shared_ptr<Model>>::start(
        env, executor, [path, options] { return Model::load(path, options); },
        [](Napi::Env env, std::shared_ptr<Model>& model) -> Napi::Value {
          auto object = AddonData::of(env).modelConstructor.New({});
          Unwrap(object)->model_ = std::move(model);
          return object;
        });
  });
}

Napi::Value ModelWrap::forward(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  return promiseOrReject(env, [&]() -> Napi::Value {
    auto model = live();
    auto inputs = readInputs(env, info[0]);
    auto& executor = AddonData::of(env).executorFor(deviceName(model->device()));
    return AsyncJob<torch::Tensor>::start(
        env, executor, [model, inputs] { return model->forward(batchOf(inputs)); },
        [](Napi::Env env, torch::Tensor& logits) -> Napi::Value { return TensorWrap::wrap(env, std::move(logits)); });
  });
}

Napi::Value ModelWrap::info(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  return callNative(env, [&]() -> Napi::Value {
    const auto model = live();
    auto object = Napi::Object::New(env);
    object.Set("arch", model->arch());
    object.Set("numClasses", model->numClasses() >= 0 ? Napi::Value(Napi::Number::New(env, model->numClasses()))
                                                      : env.Null());
    object.Set("parameters", Napi::Number::New(env, static_cast<double>(model->parameterCount())));
    object.Set("device", deviceName(model->device()));
    object.Set("optimized", model->optimized());
    return object;
  });
}

Napi::Value ModelWrap::disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !model_); }

void ModelWrap::dispose(const Napi::CallbackInfo& info) { model_.reset(); }

}  // namespace torchvideo::binding
