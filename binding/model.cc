#include "binding/model.h"

#include "binding/addon_data.h"
#include "binding/async_task.h"
#include "binding/batcher.h"
#include "binding/cancel.h"
#include "binding/js_errors.h"
#include "binding/options.h"
#include "binding/tensor.h"
#include "binding/video_reader.h"
#include "cpp/device.h"
#include "cpp/errors.h"

namespace torchvideo::binding {
namespace {

// The TS layer (src/model.ts) owns the defaults and passes every field.
ModelOptions readModelOptions(const Napi::Value& value) {
  if (!value.IsObject()) throw Error::type("expected options to be an object");
  const auto object = value.As<Napi::Object>();
  auto required = [&](auto read, const char* name) {
    auto field = read(object, name);
    if (!field) throw Error::type(std::string("expected options.") + name + " to be set");
    return *field;
  };
  ModelOptions options;
  options.device = resolveDevice(required(optionalString, "device"));
  options.optimize = required(optionalBool, "optimize");
  options.warmup = required(optionalBool, "warmup");
  options.half = required(optionalBool, "half");
  options.bf16 = required(optionalBool, "bf16");
  options.quantized = required(optionalBool, "quantized");
  options.intraOpThreads = required(optionalPositiveInt, "threads");
  options.warmupShape = required(optionalIntArray, "warmupShape");
  return options;
}

struct ModelInputs {
  std::vector<torch::Tensor> tensors;
  bool isList = false;
};

ModelInputs readInputs(Napi::Env env, const Napi::Value& value) {
  ModelInputs inputs;
  inputs.isList = value.IsArray();
  if (!inputs.isList) {
    inputs.tensors.push_back(TensorWrap::unwrap(env, value, "input"));
  } else {
    const auto array = value.As<Napi::Array>();
    for (uint32_t i = 0; i < array.Length(); ++i) {
      inputs.tensors.push_back(TensorWrap::unwrap(env, array.Get(i), "input[" + std::to_string(i) + "]"));
    }
  }
  checkModelInputs(inputs.tensors, inputs.isList);
  return inputs;
}

ModelInputs readFrameInputs(Napi::Env env, const Napi::Value& value) {
  if (!value.IsArray()) throw Error::type("expected input to be an array of uint8 frame tensors");
  ModelInputs inputs;
  inputs.isList = true;
  const auto array = value.As<Napi::Array>();
  for (uint32_t i = 0; i < array.Length(); ++i) {
    inputs.tensors.push_back(TensorWrap::unwrap(env, array.Get(i), "input[" + std::to_string(i) + "]"));
  }
  checkFrameInputs(inputs.tensors);
  return inputs;
}

}  // namespace

Napi::Function ModelWrap::define(Napi::Env env) {
  return DefineClass(env, "NativeModel",
                     {
                         StaticMethod<&ModelWrap::load>("load"),
                         InstanceMethod<&ModelWrap::forward>("forward"),
                         InstanceMethod<&ModelWrap::batcher>("batcher"),
                         InstanceAccessor<&ModelWrap::info>("info"),
                         InstanceAccessor<&ModelWrap::disposed>("disposed"),
                         InstanceMethod<&ModelWrap::dispose>("dispose"),
                     });
}

ModelWrap::ModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelWrap>(info) {}

std::shared_ptr<Model> ModelWrap::modelOrThrow() const {
  if (!model_) throw Error::torchvideo(codes::kDisposed, "model is disposed");
  return model_;
}

Napi::Value ModelWrap::load(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  return promiseOrReject(env, [&]() -> Napi::Value {
    if (!info[0].IsString()) throw Error::type("expected path to be a string");
    const std::string path = info[0].As<Napi::String>().Utf8Value();
    const auto options = readModelOptions(info[1]);
    // Loading runs on the device's shared executor; the model gets its own when it exists, so a
    // load that fails or is aborted leaves no thread behind.
    auto& executor = AddonData::of(env).executorFor(deviceName(options.device));
    return AsyncJob<std::shared_ptr<Model>>::start(
        env, executor, [path, options] { return Model::load(path, options); },
        [](Napi::Env env, std::shared_ptr<Model>& model) -> Napi::Value {
          auto object = AddonData::of(env).modelConstructor.New({});
          auto* wrap = Unwrap(object);
          wrap->executor_ =
              std::make_shared<ExecutorHandle>(AddonData::of(env).objectExecutorFor(deviceName(model->device())));
          wrap->model_ = std::move(model);
          return object;
        },
        readCancelFlag(info[1]));
  });
}

Napi::Value ModelWrap::forward(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  return promiseOrReject(env, [&]() -> Napi::Value {
    auto model = modelOrThrow();
    // Second argument { preprocess }: the inputs are decoded frames, preprocessed on the model's device.
    std::optional<PreprocessOptions> preprocess;
    if (info[1].IsObject() && !info[1].As<Napi::Object>().Get("preprocess").IsUndefined()) {
      preprocess = readPreprocessOptions(info[1].As<Napi::Object>().Get("preprocess"));
    }
    ModelInputs inputs;
    if (preprocess) {
      inputs = readFrameInputs(env, info[0]);
    } else {
      inputs = readInputs(env, info[0]);
    }
    return AsyncJob<torch::Tensor>::start(
        env, executor_->get(),
        [model, inputs, preprocess] {
          if (!preprocess) checkFiniteInputs(inputs.tensors, inputs.isList);
          return model->forwardInputs(inputs.tensors, inputs.isList, preprocess);
        },
        [](Napi::Env env, torch::Tensor& logits) -> Napi::Value { return TensorWrap::wrap(env, std::move(logits)); },
        readCancelFlag(info[1]));
  });
}

// batcher(options, onBatch): a dynamic batcher over this network, on its executor.
Napi::Value ModelWrap::batcher(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  return callNative(
      env, [&]() -> Napi::Value { return BatcherWrap::create(env, modelOrThrow(), executor_, info[0], info[1]); });
}

Napi::Value ModelWrap::info(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  return callNative(env, [&]() -> Napi::Value {
    const auto model = modelOrThrow();
    auto object = Napi::Object::New(env);
    object.Set("arch", model->arch());
    object.Set("numClasses",
               model->numClasses() >= 0 ? Napi::Value(Napi::Number::New(env, model->numClasses())) : env.Null());
    object.Set("parameters", Napi::Number::New(env, static_cast<double>(model->parameterCount())));
    object.Set("device", deviceName(model->device()));
    object.Set("optimized", model->optimized());
    return object;
  });
}

Napi::Value ModelWrap::disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !model_); }

// Forwards already queued keep the network and run; the executor is joined off the JS thread once
// they are done (ObjectExecutors::release).
void ModelWrap::dispose(const Napi::CallbackInfo& info) {
  model_.reset();
  executor_.reset();
}

}  // namespace torchvideo::binding
