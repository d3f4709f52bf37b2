#include "binding/trainer.h"

#include <cmath>

#include "binding/addon_data.h"
#include "binding/async_task.h"
#include "binding/cancel.h"
#include "binding/distributed.h"
#include "binding/js_errors.h"
#include "binding/options.h"
#include "binding/release_on_executor.h"
#include "binding/tensor.h"
#include "cpp/device.h"
#include "cpp/errors.h"
#include "cpp/model.h"

namespace torchvideo::binding {
namespace {

Napi::Object optionsObject(const Napi::Value& value) {
  if (!value.IsObject()) throw Error::type("expected options to be an object");
  return value.As<Napi::Object>();
}

template <typename T>
T required(std::optional<T> field, const char* name) {
  if (!field) throw Error::type(std::string("expected options.") + name + " to be set");
  return *field;
}

// A finite number >= 0 (a learning rate, momentum, weight decay); errors name `name`.
double nonNegativeNumber(const Napi::Value& value, const std::string& name) {
  if (!value.IsNumber()) throw Error::type("expected " + name + " to be a number");
  const double number = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(number) || number < 0) {
    throw Error::range("expected " + name + " to be a finite number >= 0, got " + std::to_string(number));
  }
  return number;
}

std::vector<std::string> stringArray(const Napi::Value& value, const std::string& name) {
  if (!value.IsArray()) throw Error::type("expected " + name + " to be an array of strings");
  const auto array = value.As<Napi::Array>();
  std::vector<std::string> strings;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    const Napi::Value item = array.Get(i);
    if (!item.IsString()) throw Error::type("expected " + name + "[" + std::to_string(i) + "] to be a string");
    strings.push_back(item.As<Napi::String>().Utf8Value());
  }
  return strings;
}

// A size in bytes >= 1 (undefined: `fallback`).
int64_t byteCount(const Napi::Value& value, const std::string& name, int64_t fallback) {
  if (value.IsUndefined()) return fallback;
  if (!value.IsNumber()) throw Error::type("expected " + name + " to be a number");
  const double bytes = value.As<Napi::Number>().DoubleValue();
  if (!(bytes >= 1 && bytes <= 9.0e15) || std::floor(bytes) != bytes) {
    throw Error::range("expected " + name + " to be a whole number of bytes >= 1");
  }
  return static_cast<int64_t>(bytes);
}

std::string pathArgument(const Napi::Value& value) {
  if (!value.IsString()) throw Error::type("expected path to be a string");
  return value.As<Napi::String>().Utf8Value();
}

// The TS layer (src/train/trainer.ts) owns the defaults and passes every field.
TrainerOptions readTrainerOptions(const Napi::Value& value) {
  const auto object = optionsObject(value);
  TrainerOptions options;
  options.device = resolveDevice(required(optionalString(object, "device"), "device"));
  const Napi::Value classes = object.Get("numClasses");
  if (!classes.IsNumber()) throw Error::type("expected options.numClasses to be a number");
  const double numClasses = classes.As<Napi::Number>().DoubleValue();
  if (!(numClasses >= 1) || std::floor(numClasses) != numClasses || numClasses > 1e9) {
    throw Error::range("expected options.numClasses to be an integer >= 1");
  }
  options.numClasses = static_cast<int64_t>(numClasses);
  options.labels = stringArray(object.Get("labels"), "options.labels");
  if (static_cast<int64_t>(options.labels.size()) != options.numClasses) {
    throw Error::range("expected options.labels to hold numClasses (" + std::to_string(options.numClasses) +
                       ") names, got " + std::to_string(options.labels.size()));
  }
  options.momentum = nonNegativeNumber(object.Get("momentum"), "options.momentum");
  options.weightDecay = nonNegativeNumber(object.Get("weightDecay"), "options.weightDecay");
  options.freezeBackbone = required(optionalBool(object, "freezeBackbone"), "freezeBackbone");
  options.amp = required(optionalBool(object, "amp"), "amp");
  options.seed = required(optionalUnsigned(object, "seed"), "seed");
  options.intraOpThreads = required(optionalPositiveInt(object, "threads"), "threads");
  return options;
}

Napi::Array stringsToJs(Napi::Env env, const std::vector<std::string>& strings) {
  auto array = Napi::Array::New(env, strings.size());
  for (size_t i = 0; i < strings.size(); ++i) array.Set(i, strings[i]);
  return array;
}

}  // namespace

Napi::Function TrainerWrap::define(Napi::Env env) {
  return DefineClass(env, "NativeTrainer",
                     {
                         StaticMethod<&TrainerWrap::create>("create"),
                         StaticMethod<&TrainerWrap::restore>("restore"),
                         InstanceMethod<&TrainerWrap::step>("step"),
                         InstanceMethod<&TrainerWrap::predict>("predict"),
                         InstanceMethod<&TrainerWrap::exportModel>("exportModel"),
                         InstanceMethod<&TrainerWrap::saveCheckpoint>("saveCheckpoint"),
                         InstanceMethod<&TrainerWrap::setDistributed>("setDistributed"),
                         InstanceMethod<&TrainerWrap::syncBuffers>("syncBuffers"),
                         InstanceAccessor<&TrainerWrap::info>("info"),
                         InstanceAccessor<&TrainerWrap::disposed>("disposed"),
                         InstanceMethod<&TrainerWrap::dispose>("dispose"),
                     });
}

TrainerWrap::TrainerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TrainerWrap>(info) {}

std::shared_ptr<Trainer> TrainerWrap::trainerOrThrow() const {
  if (!trainer_) throw Error::torchvideo(codes::kDisposed, "trainer is disposed");
  return trainer_;
}

Napi::Value TrainerWrap::wrap(Napi::Env env, std::shared_ptr<Trainer>& trainer) {
  auto& data = AddonData::of(env);
  auto object = data.trainerConstructor.New({});
  auto* self = Unwrap(object);
  self->envAlive_ = data.alive;
  self->executor_ = data.objectExecutorFor(deviceName(trainer->options().device));
  self->trainer_ = std::move(trainer);
  return object;
}

Napi::Value TrainerWrap::create(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  return promiseOrReject(env, [&]() -> Napi::Value {
    const std::string path = pathArgument(info[0]);
    const auto options = readTrainerOptions(info[1]);
    auto& executor = AddonData::of(env).executorFor(deviceName(options.device));
    return AsyncJob<std::shared_ptr<Trainer>>::start(
        env, executor, [path, options] { return Trainer::create(path, options); }, &TrainerWrap::wrap);
  });
}

Napi::Value TrainerWrap::restore(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  return promiseOrReject(env, [&]() -> Napi::Value {
    const std::string path = pathArgument(info[0]);
    const auto object = optionsObject(info[1]);
    const auto device = resolveDevice(required(optionalString(object, "device"), "device"));
    const int threads = required(optionalPositiveInt(object, "threads"), "threads");
    auto& executor = AddonData::of(env).executorFor(deviceName(device));
    return AsyncJob<std::shared_ptr<Trainer>>::start(
        env, executor, [path, device, threads] { return Trainer::restore(path, device, threads); }, &TrainerWrap::wrap);
  });
}

Napi::Value TrainerWrap::step(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  return promiseOrReject(env, [&]() -> Napi::Value {
    auto trainer = trainerOrThrow();
    const auto clips = TensorWrap::unwrap(env, info[0], "clips");
    const auto labels = TensorWrap::unwrap(env, info[1], "labels");
    checkTrainingBatch(clips, labels, trainer->options().numClasses);
    // The rate is taken now, on the JS thread: a setLearningRate() after this call applies to the
    // steps queued after it, not to this one.
    const double lr = nonNegativeNumber(info[2], "learningRate");
    auto& executor = executor_.get();
    // In a job, a step issues collectives (buffer broadcast, gradient allreduces): in call order.
    auto turn = group_ ? group_->order()->take() : nullptr;
    return AsyncJob<StepResult>::start(
        env, executor,
        [trainer, clips, labels, lr, turn] { return inTurn(turn, [&] { return trainer->step(clips, labels, lr); }); },
        [](Napi::Env env, StepResult& result) -> Napi::Value {
          auto object = Napi::Object::New(env);
          object.Set("loss", result.loss);
          object.Set("correct", Napi::Number::New(env, static_cast<double>(result.correct)));
          object.Set("applied", result.applied);
          object.Set("buckets", result.buckets);
          object.Set("bucketsDuringBackward", result.bucketsDuringBackward);
          object.Set("allreduceExposedMs", result.allreduceExposedSeconds * 1000);
          return object;
        },
        // A step with a turn is never skipped: the turns after it (and the other ranks) wait for it.
        turn ? nullptr : readCancelFlag(info[3]));
  });
}

Napi::Value TrainerWrap::predict(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  return promiseOrReject(env, [&]() -> Napi::Value {
    auto trainer = trainerOrThrow();
    const auto clips = TensorWrap::unwrap(env, info[0], "clips");
    checkModelInputs({clips}, /*isList=*/false);
    auto& executor = executor_.get();
    return AsyncJob<torch::Tensor>::start(
        env, executor, [trainer, clips] { return trainer->predict(clips); },
        [](Napi::Env env, torch::Tensor& logits) -> Napi::Value { return TensorWrap::wrap(env, std::move(logits)); });
  });
}

Napi::Value TrainerWrap::exportModel(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  return promiseOrReject(env, [&]() -> Napi::Value {
    auto trainer = trainerOrThrow();
    const std::string path = pathArgument(info[0]);
    auto& executor = executor_.get();
    return AsyncJob<bool>::start(
        env, executor,
        [trainer, path] {
          trainer->exportModel(path);
          return true;
        },
        [](Napi::Env env, bool&) -> Napi::Value { return env.Undefined(); });
  });
}

Napi::Value TrainerWrap::saveCheckpoint(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  return promiseOrReject(env, [&]() -> Napi::Value {
    auto trainer = trainerOrThrow();
    const std::string path = pathArgument(info[0]);
    const double lr = nonNegativeNumber(info[1], "learningRate");
    if (!info[2].IsString()) throw Error::type("expected metadata to be a string");
    const std::string metadata = info[2].As<Napi::String>().Utf8Value();
    auto& executor = executor_.get();
    return AsyncJob<bool>::start(
        env, executor,
        [trainer, path, lr, metadata] {
          trainer->saveCheckpoint(path, lr, metadata);
          return true;
        },
        [](Napi::Env env, bool&) -> Napi::Value { return env.Undefined(); });
  });
}

// (group, { overlap, bucketBytes, firstBucketBytes }): joins the trainer to a data-parallel job.
Napi::Value TrainerWrap::setDistributed(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  return promiseOrReject(env, [&]() -> Napi::Value {
    auto trainer = trainerOrThrow();
    auto group = DistributedGroupWrap::unwrap(info[0]);
    ReducerOptions reducer;
    if (info[1].IsObject()) {
      const auto object = info[1].As<Napi::Object>();
      reducer.overlap = optionalBool(object, "overlap").value_or(true);
      reducer.bucketBytes = byteCount(object.Get("bucketBytes"), "options.bucketBytes", reducer.bucketBytes);
      reducer.firstBucketBytes =
          byteCount(object.Get("firstBucketBytes"), "options.firstBucketBytes", reducer.firstBucketBytes);
    }
    auto& executor = executor_.get();
    // Noted now, on the JS thread: steps called after this one take their turns in the group's order.
    group_ = group;
    auto turn = group->order()->take();
    return AsyncJob<bool>::start(
        env, executor,
        [trainer, group, reducer, turn] {
          return inTurn(turn, [&] {
            trainer->setDistributed(group, reducer);
            return true;
          });
        },
        [](Napi::Env env, bool&) -> Napi::Value { return env.Undefined(); });
  });
}

Napi::Value TrainerWrap::syncBuffers(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  return promiseOrReject(env, [&]() -> Napi::Value {
    auto trainer = trainerOrThrow();
    auto& executor = executor_.get();
    auto turn = group_ ? group_->order()->take() : nullptr;
    return AsyncJob<bool>::start(
        env, executor,
        [trainer, turn] {
          return inTurn(turn, [&] {
            trainer->syncBuffers();
            return true;
          });
        },
        [](Napi::Env env, bool&) -> Napi::Value { return env.Undefined(); });
  });
}

// Only what never changes after the trainer is made: read on the JS thread while steps run.
Napi::Value TrainerWrap::info(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  return callNative(env, [&]() -> Napi::Value {
    const auto trainer = trainerOrThrow();
    const auto& options = trainer->options();
    auto object = Napi::Object::New(env);
    object.Set("arch", trainer->arch());
    object.Set("numClasses", Napi::Number::New(env, static_cast<double>(options.numClasses)));
    object.Set("labels", stringsToJs(env, options.labels));
    object.Set("device", deviceName(options.device));
    object.Set("momentum", options.momentum);
    object.Set("weightDecay", options.weightDecay);
    object.Set("freezeBackbone", options.freezeBackbone);
    object.Set("amp", options.amp);
    object.Set("seed", Napi::Number::New(env, static_cast<double>(options.seed)));
    object.Set("parameters", Napi::Number::New(env, static_cast<double>(trainer->parameterCount())));
    object.Set("trainedParameters", Napi::Number::New(env, static_cast<double>(trainer->trainedParameterCount())));
    const auto& restoredLr = trainer->restoredLearningRate();
    object.Set("learningRate", restoredLr ? Napi::Value(Napi::Number::New(env, *restoredLr)) : env.Null());
    object.Set("metadata", restoredLr ? Napi::Value(Napi::String::New(env, trainer->restoredMetadata())) : env.Null());
    return object;
  });
}

Napi::Value TrainerWrap::disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !trainer_); }

// The trainer (and through it a process group and a gradient reducer with allreduces in flight) is let go
// on its executor, after the jobs queued before: see release_on_executor.h.
void TrainerWrap::dispose(const Napi::CallbackInfo& info) {
  if (trainer_) releaseOn(executor_.get(), trainer_);
  group_.reset();
  // Given back after the release above: the executor runs it, then its thread is joined off the JS
  // thread (ObjectExecutors::release).
  executor_.reset();
}

TrainerWrap::~TrainerWrap() {
  if (trainer_ && environmentAlive(envAlive_)) releaseOn(executor_.get(), trainer_);
}

}  // namespace torchvideo::binding
