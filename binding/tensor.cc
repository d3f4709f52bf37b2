#include "binding/tensor.h"

#include <memory>
#include <thread>

#include "binding/addon_data.h"
#include "binding/async_task.h"
#include "binding/dtype_table.h"
#include "binding/js_errors.h"
#include "binding/options.h"
#include "cpp/device.h"
#include "cpp/dtypes.h"
#include "cpp/errors.h"

namespace torchvideo::binding {
namespace {

// Keeps the JS ArrayBuffer under a zero-copy tensor alive for as long as LibTorch's storage
// points into it. The reference is deleted when the storage dies on the JS thread (the usual
// case: tensors held by JS objects or by async jobs are released there). Should the storage ever
// die on another thread, or after the environment is gone, the reference is left to the
// environment's own teardown instead: N-API may only be called on the JS thread.
struct JsBufferHold {
  napi_env env;
  napi_ref reference;
  std::thread::id jsThread;
  std::weak_ptr<bool> envAlive;

  static void release(void* context) {
    std::unique_ptr<JsBufferHold> hold(static_cast<JsBufferHold*>(context));
    if (std::this_thread::get_id() == hold->jsThread && !hold->envAlive.expired()) {
      napi_delete_reference(hold->env, hold->reference);
    }
  }
};

Napi::ArrayBuffer copyToArrayBuffer(Napi::Env env, const torch::Tensor& contiguous) {
  auto copy = Napi::ArrayBuffer::New(env, contiguous.nbytes());
  std::memcpy(copy.Data(), contiguous.data_ptr(), contiguous.nbytes());
  return copy;
}

}  // namespace

Napi::Function TensorWrap::define(Napi::Env env) {
  return DefineClass(env, "NativeTensor",
                     {
                         StaticMethod<&TensorWrap::fromTypedArray>("fromTypedArray"),
                         InstanceAccessor<&TensorWrap::shape>("shape"),
                         InstanceAccessor<&TensorWrap::dtype>("dtype"),
                         InstanceAccessor<&TensorWrap::device>("device"),
                         InstanceAccessor<&TensorWrap::disposed>("disposed"),
                         InstanceMethod<&TensorWrap::data>("data"),
                         InstanceMethod<&TensorWrap::to>("to"),
                         InstanceMethod<&TensorWrap::dispose>("dispose"),
                     });
}

TensorWrap::TensorWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorWrap>(info) {}

TensorWrap::~TensorWrap() { release(); }

Napi::Object TensorWrap::wrap(Napi::Env env, torch::Tensor tensor) {
  auto object = AddonData::of(env).tensorConstructor.New({});
  auto* self = Unwrap(object);
  self->tensor_ = std::move(tensor);
  if (self->tensor_.device().is_cpu()) {
    self->reportedBytes_ = static_cast<int64_t>(self->tensor_.nbytes());
    Napi::MemoryManagement::AdjustExternalMemory(env, self->reportedBytes_);
    AddonData::of(env).tensorBytes += self->reportedBytes_;
  }
  return object;
}

torch::Tensor TensorWrap::unwrap(Napi::Env env, const Napi::Value& value, const std::string& argument) {
  const auto& constructor = AddonData::of(env).tensorConstructor;
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(constructor.Value())) {
    throw Error::type("expected " + argument + " to be a Tensor");
  }
  return Unwrap(value.As<Napi::Object>())->snapshot(env);
}

const torch::Tensor& TensorWrap::tensorOrThrow(Napi::Env env) const {
  if (disposed_) throw Error::torchvideo(codes::kDisposed, "tensor is disposed");
  // A transferred ArrayBuffer (postMessage, structuredClone with a transfer list) no longer owns the
  // memory LibTorch points into: its new owner may free it at any time.
  if (borrowsJsMemory_ && jsBuffer_.Value().IsDetached()) {
    throw Error::torchvideo(codes::kDisposed,
                            "the tensor's memory is gone: the ArrayBuffer it was made from was transferred "
                            "(postMessage or structuredClone with a transfer list) or detached");
  }
  return tensor_;
}

torch::Tensor TensorWrap::snapshot(Napi::Env env) const {
  const auto& tensor = tensorOrThrow(env);
  // One memcpy on the JS thread (about 0.3 ms for a 16x112x112 clip): the price of a job that cannot
  // see the caller's later writes. Tensors JS cannot write (results, decoded frames) go by reference.
  if (writableFromJs_ && tensor.device().is_cpu()) return tensor.clone(at::MemoryFormat::Contiguous);
  return tensor;
}

void TensorWrap::release() {
  disposed_ = true;
  tensor_ = torch::Tensor();
  jsBuffer_.Reset();
  if (reportedBytes_ != 0) {
    Napi::MemoryManagement::AdjustExternalMemory(Env(), -reportedBytes_);
    AddonData::of(Env()).tensorBytes -= reportedBytes_;
    reportedBytes_ = 0;
  }
}

Napi::Value TensorWrap::fromTypedArray(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  return callNative(env, [&]() -> Napi::Value {
    if (!info[0].IsTypedArray()) throw Error::type("expected data to be a TypedArray");
    const auto array = info[0].As<Napi::TypedArray>();
    const auto scalarType = scalarTypeOfTypedArray(array.TypedArrayType());
    if (!scalarType) {
      std::string kinds;
      for (size_t i = 0; i < kDtypeTable.size(); ++i) {
        kinds += (i == 0 ? "" : i + 1 == kDtypeTable.size() ? " or " : ", ") + std::string(kDtypeTable[i].typedArray);
      }
      throw Error::type("expected data to be a " + kinds);
    }
    const auto shape = nonNegativeIntegers(info[1], "shape");
    // Checked here too, not only in src/tensor.ts: a native caller's shape could overflow the product
    // and so "match" a short array.
    int64_t elements = 1;
    for (const auto size : shape) {
      if (__builtin_mul_overflow(elements, size, &elements)) {
        throw Error::range("expected shape to hold at most 2^63 - 1 elements: its sizes multiply past that");
      }
    }
    if (elements != static_cast<int64_t>(array.ElementLength())) {
      throw Error::range("shape holds " + std::to_string(elements) + " elements but data has " +
                         std::to_string(array.ElementLength()));
    }
    // Native callers bypass src/tensor.ts's checks: memory another thread may write, or that may
    // shrink under the tensor, is refused here too.
    napi_value bufferValue = nullptr;
    NAPI_THROW_IF_FAILED(env, napi_get_typedarray_info(env, array, nullptr, nullptr, nullptr, &bufferValue, nullptr),
                         Napi::Value());
    bool isArrayBuffer = false;
    NAPI_THROW_IF_FAILED(env, napi_is_arraybuffer(env, bufferValue, &isArrayBuffer), Napi::Value());
    if (!isArrayBuffer) {
      throw Error::type(
          "expected data to be backed by an ArrayBuffer, got a SharedArrayBuffer (another thread could "
          "write it while a job reads it)");
    }
    const bool transferred = info[2].IsObject() && info[2].As<Napi::Object>().Get("transferred").ToBoolean();
    auto arrayBuffer = array.ArrayBuffer();
    if (arrayBuffer.IsDetached()) throw Error::type("expected data's ArrayBuffer to be attached, got a detached one");
    auto* base = static_cast<uint8_t*>(arrayBuffer.Data()) + array.ByteOffset();
    napi_ref reference = nullptr;
    NAPI_THROW_IF_FAILED(env, napi_create_reference(env, arrayBuffer, 1, &reference), Napi::Value());
    auto& data = AddonData::of(env);
    auto* hold = new JsBufferHold{env, reference, data.jsThread, data.alive};
    // Zero-copy: LibTorch reads the JS memory directly; the deleter lets the buffer go.
    auto tensor = torch::from_blob(
        base, shape, [hold](void*) { JsBufferHold::release(hold); }, torch::TensorOptions().dtype(*scalarType));
    auto object = data.tensorConstructor.New({});
    auto* self = Unwrap(object);
    self->tensor_ = std::move(tensor);
    self->borrowsJsMemory_ = true;
    self->jsBuffer_ = Napi::Reference<Napi::ArrayBuffer>::New(arrayBuffer, 1);
    // A transferred buffer is reachable by nobody but this tensor until data() hands it out.
    self->writableFromJs_ = !transferred;
    return object;
  });
}

Napi::Value TensorWrap::shape(const Napi::CallbackInfo& info) {
  return callNative(info.Env(), [&]() -> Napi::Value {
    const auto sizes = tensorOrThrow(info.Env()).sizes();
    auto array = Napi::Array::New(info.Env(), sizes.size());
    for (size_t i = 0; i < sizes.size(); ++i) array.Set(i, Napi::Number::New(info.Env(), sizes[i]));
    return array;
  });
}

Napi::Value TensorWrap::dtype(const Napi::CallbackInfo& info) {
  return callNative(info.Env(), [&]() -> Napi::Value {
    return Napi::String::New(info.Env(), dtypeName(tensorOrThrow(info.Env()).scalar_type()));
  });
}

Napi::Value TensorWrap::device(const Napi::CallbackInfo& info) {
  return callNative(info.Env(), [&]() -> Napi::Value {
    return Napi::String::New(info.Env(), deviceName(tensorOrThrow(info.Env()).device()));
  });
}

Napi::Value TensorWrap::disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), disposed_); }

Napi::Value TensorWrap::data(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  return callNative(env, [&]() -> Napi::Value {
    const auto& tensor = tensorOrThrow(env);
    if (!tensor.device().is_cpu()) {
      throw Error::torchvideo(codes::kDeviceMismatch, "tensor is on " + deviceName(tensor.device()) +
                                                          ": call `await tensor.to('cpu')` before data()");
    }
    if (!dtypeByScalarType(tensor.scalar_type())) {
      throw Error::type("tensor dtype " + dtypeName(tensor.scalar_type()) + " has no TypedArray");
    }
    // From here on JS can write the tensor's memory: jobs queued later read a copy.
    writableFromJs_ = true;
    // Memory that already backs a JS ArrayBuffer must not become a second, external one (V8 would
    // then own one allocation twice): that ArrayBuffer itself is returned (src/tensor.ts views it).
    if (borrowsJsMemory_) return jsBuffer_.Value();
    auto contiguous = tensor.contiguous();
    const size_t bytes = contiguous.nbytes();
    if (bytes == 0) return Napi::ArrayBuffer::New(env, 0);
    // Zero-copy: the ArrayBuffer's finalizer owns a reference to the tensor's storage, so the
    // memory stays valid after dispose() until JS drops the buffer too.
    auto* owner = new torch::Tensor(contiguous);
    napi_value buffer;
    const napi_status status = napi_create_external_arraybuffer(
        env, owner->data_ptr(), bytes, [](napi_env, void*, void* hint) { delete static_cast<torch::Tensor*>(hint); },
        owner, &buffer);
    if (status == napi_ok) return Napi::ArrayBuffer(env, buffer);
    // Runtimes that forbid external buffers (Electron's memory cage) get a copy.
    delete owner;
    return copyToArrayBuffer(env, contiguous);
  });
}

Napi::Value TensorWrap::to(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  return promiseOrReject(env, [&]() -> Napi::Value {
    if (!info[0].IsString()) throw Error::type("expected device to be a string such as 'cpu' or 'cuda:0'");
    const auto target = resolveDevice(info[0].As<Napi::String>().Utf8Value());
    const auto source = snapshot(env);
    // A snapshot is already a copy of its own: to its own device it is the result, not copied again.
    const bool copied = !source.is_same(tensor_);
    // Copies to a GPU run on that GPU's executor, copies back on the source's: the executor that
    // owns the device orders the copy after the compute that produced the tensor.
    const auto& executorDevice = target.is_cuda() ? target : source.device();
    auto& executor = AddonData::of(env).executorFor(deviceName(executorDevice));
    return AsyncJob<torch::Tensor>::start(
        env, executor,
        [source, target, copied] {
          return copied && source.device() == target ? source : copyToDevice(source, target);
        },
        [](Napi::Env env, torch::Tensor& result) -> Napi::Value { return wrap(env, std::move(result)); });
  });
}

void TensorWrap::dispose(const Napi::CallbackInfo& info) { release(); }

}  // namespace torchvideo::binding
