#include "binding/distributed.h"

#include <cmath>
#include <cstring>

#include "binding/addon_data.h"
#include "binding/async_task.h"
#include "binding/cancel.h"
#include "binding/js_errors.h"
#include "binding/options.h"
#include "binding/release_on_executor.h"
#include "cpp/device.h"
#include "cpp/errors.h"

namespace torchvideo::binding {
namespace {

// Collectives wait on other processes: they get a thread of their own, so a slow rank never holds up
// this process's forwards or decodes.
ThreadPool& collectiveExecutor(Napi::Env env) { return AddonData::of(env).executorFor("distributed"); }

std::string stringArgument(const Napi::Value& value, const std::string& name) {
  if (!value.IsString()) throw Error::type("expected " + name + " to be a string");
  return value.As<Napi::String>().Utf8Value();
}

int integerField(const Napi::Object& object, const char* name, int min, int max) {
  const Napi::Value value = object.Get(name);
  if (!value.IsNumber()) throw Error::type(std::string("expected options.") + name + " to be a number");
  const double number = value.As<Napi::Number>().DoubleValue();
  if (!(number >= min && number <= max) || std::floor(number) != number) {
    throw Error::range(std::string("expected options.") + name + " to be an integer in [" + std::to_string(min) + ", " +
                       std::to_string(max) + "], got " + value.ToString().Utf8Value());
  }
  return static_cast<int>(number);
}

// The TS layer (src/distributed/process-group.ts) resolves the rendezvous and passes every field.
GroupOptions readGroupOptions(const Napi::Value& value) {
  if (!value.IsObject()) throw Error::type("expected options to be an object");
  const auto object = value.As<Napi::Object>();
  GroupOptions options;
  options.worldSize = integerField(object, "worldSize", 1, 1 << 20);
  options.rank = integerField(object, "rank", 0, options.worldSize - 1);
  options.masterAddr = stringArgument(object.Get("masterAddr"), "options.masterAddr");
  options.masterPort = integerField(object, "masterPort", 1, 65535);
  options.agentStore = optionalBool(object, "agentStore").value_or(false);
  options.storePrefix = optionalString(object, "storePrefix").value_or("");
  const Napi::Value timeout = object.Get("timeoutMs");
  if (!timeout.IsNumber()) throw Error::type("expected options.timeoutMs to be a number");
  const double ms = timeout.As<Napi::Number>().DoubleValue();
  if (!(ms >= 1 && ms <= 7 * 24 * 3600e3)) throw Error::range("expected options.timeoutMs to be in [1, 1 week]");
  options.timeout = std::chrono::milliseconds(static_cast<int64_t>(ms));
  options.device = resolveDevice(optionalString(object, "device").value_or("cpu"));
  options.backend = optionalString(object, "backend").value_or("");
  return options;
}

}  // namespace

Napi::Function DistributedGroupWrap::define(Napi::Env env) {
  auto constructor = DefineClass(env, "NativeProcessGroup",
                                 {
                                     StaticMethod<&DistributedGroupWrap::create>("create"),
                                     InstanceMethod<&DistributedGroupWrap::allreduceSum>("allreduceSum"),
                                     InstanceMethod<&DistributedGroupWrap::allgather>("allgather"),
                                     InstanceMethod<&DistributedGroupWrap::barrier>("barrier"),
                                     InstanceAccessor<&DistributedGroupWrap::rank>("rank"),
                                     InstanceAccessor<&DistributedGroupWrap::worldSize>("worldSize"),
                                     InstanceAccessor<&DistributedGroupWrap::backend>("backend"),
                                     InstanceAccessor<&DistributedGroupWrap::exposure>("exposure"),
                                     InstanceMethod<&DistributedGroupWrap::dispose>("dispose"),
                                 });
  constructor.Set("available", Napi::Boolean::New(env, DistributedGroup::available()));
  constructor.Set("glooAvailable", Napi::Boolean::New(env, DistributedGroup::glooAvailable()));
  constructor.Set("ncclAvailable", Napi::Boolean::New(env, DistributedGroup::ncclAvailable()));
  return constructor;
}

DistributedGroupWrap::DistributedGroupWrap(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<DistributedGroupWrap>(info),
      envAlive_(AddonData::of(info.Env()).alive),
      executor_(&collectiveExecutor(info.Env())) {}

std::shared_ptr<DistributedGroup> DistributedGroupWrap::groupOrThrow() const {
  if (!group_) throw Error::torchvideo(codes::kDisposed, "process group is disposed");
  return group_;
}

std::shared_ptr<DistributedGroup> DistributedGroupWrap::unwrap(const Napi::Value& value) {
  const auto env = value.Env();
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(AddonData::of(env).processGroupConstructor.Value())) {
    throw Error::type("expected a ProcessGroup");
  }
  return Unwrap(value.As<Napi::Object>())->groupOrThrow();
}

Napi::Value DistributedGroupWrap::wrap(Napi::Env env, std::shared_ptr<DistributedGroup>& group) {
  auto object = AddonData::of(env).processGroupConstructor.New({});
  Unwrap(object)->group_ = std::move(group);
  return object;
}

Napi::Value DistributedGroupWrap::create(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  return promiseOrReject(env, [&]() -> Napi::Value {
    const auto options = readGroupOptions(info[0]);
    return AsyncJob<std::shared_ptr<DistributedGroup>>::start(
        env, collectiveExecutor(env), [options] { return DistributedGroup::create(options); },
        &DistributedGroupWrap::wrap, readCancelFlag(info[0]));
  });
}

// Sums a Float64Array across ranks; resolves with the sums (a new Float64Array).
Napi::Value DistributedGroupWrap::allreduceSum(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  return promiseOrReject(env, [&]() -> Napi::Value {
    auto group = groupOrThrow();
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
      throw Error::type("expected values to be a Float64Array");
    }
    const auto values = info[0].As<Napi::Float64Array>();
    auto tensor = torch::empty({static_cast<int64_t>(values.ElementLength())}, torch::kFloat64);
    std::memcpy(tensor.data_ptr<double>(), values.Data(), values.ByteLength());
    const std::string what = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "allreduce";
    auto turn = group->order()->take();
    return AsyncJob<torch::Tensor>::start(
        env, collectiveExecutor(env),
        [group, tensor, what, turn]() mutable {
          return inTurn(turn, [&] {
            group->allreduceSum(tensor, what);
            return tensor;
          });
        },
        [](Napi::Env env, torch::Tensor& sums) -> Napi::Value {
          auto array = Napi::Float64Array::New(env, static_cast<size_t>(sums.numel()));
          std::memcpy(array.Data(), sums.data_ptr<double>(), array.ByteLength());
          return array;
        });
  });
}

// Every rank's string (JSON, in the TS layer), in rank order.
Napi::Value DistributedGroupWrap::allgather(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  return promiseOrReject(env, [&]() -> Napi::Value {
    auto group = groupOrThrow();
    const std::string bytes = stringArgument(info[0], "value");
    const std::string what = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "allgather";
    auto turn = group->order()->take();
    return AsyncJob<std::vector<std::string>>::start(
        env, collectiveExecutor(env),
        [group, bytes, what, turn] { return inTurn(turn, [&] { return group->allgatherBytes(bytes, what); }); },
        [](Napi::Env env, std::vector<std::string>& strings) -> Napi::Value {
          auto array = Napi::Array::New(env, strings.size());
          for (size_t i = 0; i < strings.size(); ++i) array.Set(i, Napi::String::New(env, strings[i]));
          return array;
        });
  });
}

Napi::Value DistributedGroupWrap::barrier(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  return promiseOrReject(env, [&]() -> Napi::Value {
    auto group = groupOrThrow();
    const std::string what = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "barrier";
    auto turn = group->order()->take();
    return AsyncJob<bool>::start(
        env, collectiveExecutor(env),
        [group, what, turn] {
          return inTurn(turn, [&] {
            group->barrier(what);
            return true;
          });
        },
        [](Napi::Env env, bool&) -> Napi::Value { return env.Undefined(); });
  });
}

Napi::Value DistributedGroupWrap::rank(const Napi::CallbackInfo& info) {
  return callNative(info.Env(), [&]() -> Napi::Value { return Napi::Number::New(info.Env(), groupOrThrow()->rank()); });
}

Napi::Value DistributedGroupWrap::worldSize(const Napi::CallbackInfo& info) {
  return callNative(info.Env(),
                    [&]() -> Napi::Value { return Napi::Number::New(info.Env(), groupOrThrow()->worldSize()); });
}

Napi::Value DistributedGroupWrap::backend(const Napi::CallbackInfo& info) {
  return callNative(info.Env(),
                    [&]() -> Napi::Value { return Napi::String::New(info.Env(), groupOrThrow()->backend()); });
}

Napi::Value DistributedGroupWrap::exposure(const Napi::CallbackInfo& info) {
  return callNative(info.Env(),
                    [&]() -> Napi::Value { return Napi::String::New(info.Env(), groupOrThrow()->exposure()); });
}

// Queued collectives keep the group alive; it leaves the job when the last one ends. Leaving joins
// Gloo's and the heartbeat's threads, which can take up to the collective timeout after a peer died:
// never on the JS thread.
void DistributedGroupWrap::dispose(const Napi::CallbackInfo& info) {
  releaseOn(collectiveExecutor(info.Env()), group_);
}

DistributedGroupWrap::~DistributedGroupWrap() {
  // Garbage collected without dispose(): the same hand-over, while the environment's executors exist.
  if (group_ && environmentAlive(envAlive_)) releaseOn(*executor_, group_);
}

}  // namespace torchvideo::binding
