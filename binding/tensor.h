// The native half of src/tensor.ts: a JS object owning one at::Tensor.
#pragma once

#include <napi.h>
#include <torch/torch.h>

namespace torchvideo::binding {

class TensorWrap : public Napi::ObjectWrap<TensorWrap> {
 public:
  static Napi::Function define(Napi::Env env);
  // A new JS tensor owning `tensor`, whose native memory is reported to V8.
  static Napi::Object wrap(Napi::Env env, torch::Tensor tensor);
  // The tensor behind a JS value, as a job queued now may read it later on another thread: a tensor
  // whose memory JS can still write (made over a caller's TypedArray, or whose data() was handed out)
  // is copied here, on the JS thread, so that nothing the caller does after the call returns (refill,
  // transfer or shrink its buffer) reaches the job. TypeError naming `argument`; ERR_DISPOSED.
  static torch::Tensor unwrap(Napi::Env env, const Napi::Value& value, const std::string& argument);

  explicit TensorWrap(const Napi::CallbackInfo& info);
  ~TensorWrap() override;

 private:
  static Napi::Value fromTypedArray(const Napi::CallbackInfo& info);
  Napi::Value shape(const Napi::CallbackInfo& info);
  Napi::Value dtype(const Napi::CallbackInfo& info);
  Napi::Value device(const Napi::CallbackInfo& info);
  Napi::Value disposed(const Napi::CallbackInfo& info);
  Napi::Value data(const Napi::CallbackInfo& info);
  Napi::Value to(const Napi::CallbackInfo& info);
  void dispose(const Napi::CallbackInfo& info);

  const torch::Tensor& tensorOrThrow(Napi::Env env) const;
  // tensorOrThrow(), copied when JS can write its memory (see unwrap).
  torch::Tensor snapshot(Napi::Env env) const;
  void release();

  torch::Tensor tensor_;
  bool disposed_ = false;
  // Bytes reported to V8 with AdjustExternalMemory; 0 for tensors over a JS buffer, which V8
  // already counts.
  int64_t reportedBytes_ = 0;
  // True for tensors made by fromTypedArray: their storage is a JS ArrayBuffer, `jsBuffer_`.
  bool borrowsJsMemory_ = false;
  Napi::Reference<Napi::ArrayBuffer> jsBuffer_;
  // True while JS code can write the tensor's memory: the caller's own array (fromTypedArray without
  // transfer), or any tensor whose data() was handed out. Jobs then read a copy (snapshot()).
  bool writableFromJs_ = false;
};

}  // namespace torchvideo::binding
