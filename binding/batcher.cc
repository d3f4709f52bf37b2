#include "binding/batcher.h"

#include <algorithm>

#include "binding/addon_data.h"
#include "binding/async_task.h"
#include "binding/js_errors.h"
#include "binding/tensor.h"
#include "cpp/errors.h"

namespace torchvideo::binding {
namespace {

using serving::BatchOutcome;

// The TS layer (src/batcher.ts) checks and defaults every field.
serving::BatcherOptions readBatcherOptions(const Napi::Value& value) {
  if (!value.IsObject()) throw Error::type("expected options to be an object");
  const auto object = value.As<Napi::Object>();
  auto number = [&](const char* name) {
    const auto field = object.Get(name);
    if (!field.IsNumber()) throw Error::type(std::string("expected options.") + name + " to be a number");
    return field.As<Napi::Number>().DoubleValue();
  };
  serving::BatcherOptions options;
  options.maxBatchSize = static_cast<int64_t>(number("maxBatchSize"));
  options.maxDelayMs = number("maxDelayMs");
  options.maxQueueClips = static_cast<int64_t>(number("maxQueueClips"));
  return options;
}

Napi::Object percentiles(Napi::Env env, const serving::LatencyPercentiles& p) {
  auto object = Napi::Object::New(env);
  object.Set("p50", p.p50);
  object.Set("p90", p.p90);
  object.Set("p99", p.p99);
  return object;
}

}  // namespace

Napi::Function BatcherWrap::define(Napi::Env env) {
  return DefineClass(env, "NativeBatcher",
                     {
                         InstanceMethod<&BatcherWrap::forward>("forward"),
                         InstanceMethod<&BatcherWrap::cancel>("cancel"),
                         InstanceMethod<&BatcherWrap::close>("close"),
                         InstanceMethod<&BatcherWrap::stats>("stats"),
                         InstanceMethod<&BatcherWrap::queuedClips>("queuedClips"),
                         InstanceMethod<&BatcherWrap::dispose>("dispose"),
                     });
}

BatcherWrap::BatcherWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BatcherWrap>(info) {}

BatcherWrap::~BatcherWrap() { release(); }

Napi::Value BatcherWrap::create(Napi::Env env, std::shared_ptr<Model> model, std::shared_ptr<ExecutorHandle> executor,
                                const Napi::Value& options, const Napi::Value& onBatch) {
  const auto batcherOptions = readBatcherOptions(options);
  auto object = AddonData::of(env).batcherConstructor.New({});
  auto* wrap = Unwrap(object);
  wrap->device_ = model->device().str();
  if (onBatch.IsFunction()) wrap->onBatch_ = Napi::Persistent(onBatch.As<Napi::Function>());
  wrap->gate_ = std::make_shared<Gate>();
  wrap->gate_->owner = wrap;
  wrap->channel_ =
      Channel::New(env, "torchvideo-batcher", /*maxQueueSize=*/0, /*initialThreadCount=*/1,
                   new std::shared_ptr<Gate>(wrap->gate_), &BatcherWrap::closeGate, static_cast<void*>(nullptr));
  // Holds the event loop only while requests are pending (pendingAdded).
  wrap->channel_.Unref(env);
  auto run = [model](const std::vector<torch::Tensor>& inputs) {
    return model->forwardInputs(inputs, /*isList=*/true, std::nullopt);
  };
  auto post = [executor](std::function<void()> task) { executor->get().post(std::move(task)); };
  auto deliver = [gate = wrap->gate_, channel = wrap->channel_](std::vector<BatchOutcome> outcomes,
                                                                std::optional<serving::BatchReport> report) mutable {
    auto* delivery = new Delivery{std::move(outcomes), std::move(report)};
    std::unique_lock<std::mutex> lock(gate->mutex);
    if (gate->closed || channel.BlockingCall(delivery) != napi_ok) {
      // Nobody is left to settle: the environment or the batcher is gone.
      lock.unlock();
      delete delivery;
    }
  };
  wrap->batcher_ = serving::Batcher::create(batcherOptions, std::move(run), std::move(post), std::move(deliver));
  auto& batchers = AddonData::of(env).batchers;
  // Drops the entries of batchers already gone, so the list stays as long as the live ones.
  batchers.erase(std::remove_if(batchers.begin(), batchers.end(),
                                [](const std::weak_ptr<serving::Batcher>& weak) { return weak.expired(); }),
                 batchers.end());
  batchers.push_back(wrap->batcher_);
  return object;
}

void BatcherWrap::closeGate(Napi::Env, void*, std::shared_ptr<Gate>* gate) {
  {
    std::lock_guard<std::mutex> lock((*gate)->mutex);
    (*gate)->closed = true;
  }
  delete gate;
}

void BatcherWrap::deliver(Napi::Env env, Napi::Function, std::shared_ptr<Gate>* gate, Delivery* delivery) {
  std::unique_ptr<Delivery> owned(delivery);
  // No environment (it is being torn down), or the wrap is gone: nothing to settle.
  if (env == nullptr || gate == nullptr || (*gate)->owner == nullptr) return;
  Napi::HandleScope scope(env);
  (*gate)->owner->settle(env, *delivery);
}

void BatcherWrap::settle(Napi::Env env, Delivery& delivery) {
  for (auto& outcome : delivery.outcomes) {
    const auto found = pending_.find(outcome.id);
    if (found == pending_.end()) continue;
    auto deferred = found->second;
    pending_.erase(found);
    try {
      switch (outcome.kind) {
        case BatchOutcome::Kind::Done: deferred.Resolve(TensorWrap::wrap(env, std::move(outcome.logits))); break;
        case BatchOutcome::Kind::Failed: deferred.Reject(jsErrorFrom(env, outcome.error).Value()); break;
        case BatchOutcome::Kind::TimedOut:
          deferred.Reject(torchVideoError(env, codes::kTimeout,
                                          "the request was still queued when its timeoutMs passed (it waited " +
                                              std::to_string(static_cast<int64_t>(outcome.queueMs)) +
                                              " ms); it never ran")
                              .Value());
          break;
      }
    } catch (...) {
      deferred.Reject(jsErrorFrom(env, std::current_exception()).Value());
    }
    pendingRemoved(env);
  }
  if (delivery.report && !onBatch_.IsEmpty()) {
    const auto& report = *delivery.report;
    auto queueMs = Napi::Float64Array::New(env, report.queueMs.size());
    std::copy(report.queueMs.begin(), report.queueMs.end(), queueMs.Data());
    // The TS layer's callback catches what a user's onBatch throws.
    onBatch_.Call({Napi::Number::New(env, static_cast<double>(report.clips)),
                   Napi::Number::New(env, static_cast<double>(report.requests)),
                   Napi::Number::New(env, report.computeMs), queueMs});
  }
}

void BatcherWrap::pendingAdded(Napi::Env env) {
  if (pending_.size() != 1) return;
  Ref();
  channel_.Ref(env);
}

void BatcherWrap::pendingRemoved(Napi::Env env) {
  if (!pending_.empty()) return;
  channel_.Unref(env);
  Unref();
}

// forward(input, id, high, timeoutMs | undefined): a promise of the request's logits.
Napi::Value BatcherWrap::forward(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  return promiseOrReject(env, [&]() -> Napi::Value {
    if (!batcher_) throw Error::torchvideo(codes::kDisposed, "the batcher is closed");
    serving::BatchRequest request;
    request.input = TensorWrap::unwrap(env, info[0], "clips");
    // One clip (3, T, H, W) is a batch of one.
    if (request.input.dim() == 4) request.input = request.input.unsqueeze(0);
    checkModelInputs({request.input}, false);
    const auto& device = request.input.device();
    if (!device.is_cpu() && device.str() != device_) {
      throw Error::torchvideo(codes::kDeviceMismatch, "expected clips on the CPU or on the model's device " + device_ +
                                                          ", got a tensor on " + device.str());
    }
    request.id = static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value());
    request.high = info[2].ToBoolean();
    if (info[3].IsNumber()) {
      const auto timeout = std::chrono::duration<double, std::milli>(info[3].As<Napi::Number>().DoubleValue());
      request.deadline = serving::Clock::now() + std::chrono::duration_cast<serving::Clock::duration>(timeout);
    }
    const uint64_t id = request.id;
    auto deferred = Napi::Promise::Deferred::New(env);
    batcher_->submit(std::move(request));
    pending_.emplace(id, deferred);
    pendingAdded(env);
    return deferred.Promise();
  });
}

// cancel(id): true when the request was still queued; it is then rejected here and never runs.
Napi::Value BatcherWrap::cancel(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  const auto id = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  if (!batcher_ || !batcher_->cancel(id)) return Napi::Boolean::New(env, false);
  const auto found = pending_.find(id);
  if (found != pending_.end()) {
    auto deferred = found->second;
    pending_.erase(found);
    deferred.Reject(torchVideoError(env, codes::kNative, "the request was aborted before it ran").Value());
    pendingRemoved(env);
  }
  return Napi::Boolean::New(env, true);
}

void BatcherWrap::close(const Napi::CallbackInfo&) {
  if (batcher_) batcher_->close();
}

Napi::Value BatcherWrap::stats(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  return callNative(env, [&]() -> Napi::Value {
    if (!batcher_ && !finalStats_) throw Error::torchvideo(codes::kDisposed, "the batcher is disposed");
    const auto stats = batcher_ ? batcher_->stats() : *finalStats_;
    auto object = Napi::Object::New(env);
    object.Set("requests", static_cast<double>(stats.requests));
    object.Set("clips", static_cast<double>(stats.clips));
    object.Set("batches", static_cast<double>(stats.batches));
    auto sizes = Napi::Object::New(env);
    for (const auto& [size, count] : stats.batchSizes) sizes.Set(std::to_string(size), static_cast<double>(count));
    object.Set("batchSizes", sizes);
    object.Set("queueMs", percentiles(env, stats.queueMs));
    object.Set("computeMs", percentiles(env, stats.computeMs));
    object.Set("rejected", static_cast<double>(stats.rejected));
    object.Set("timedOut", static_cast<double>(stats.timedOut));
    object.Set("aborted", static_cast<double>(stats.aborted));
    object.Set("failed", static_cast<double>(stats.failed));
    object.Set("queuedClips", static_cast<double>(stats.queuedClips));
    object.Set("queuedRequests", static_cast<double>(stats.queuedRequests));
    return object;
  });
}

Napi::Value BatcherWrap::queuedClips(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), batcher_ ? static_cast<double>(batcher_->queuedClips()) : 0.0);
}

// After close() and every request settled: stops the timer thread and lets the model go.
void BatcherWrap::dispose(const Napi::CallbackInfo&) { release(); }

void BatcherWrap::release() {
  if (batcher_) {
    batcher_->shutdown();
    finalStats_ = batcher_->stats();
    batcher_.reset();
  }
  if (gate_) {
    {
      std::lock_guard<std::mutex> lock(gate_->mutex);
      const bool open = !gate_->closed;
      gate_->closed = true;
      gate_->owner = nullptr;
      if (open) channel_.Release();
    }
    gate_.reset();
  }
}

}  // namespace torchvideo::binding
