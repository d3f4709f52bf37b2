// The native half of src/distributed/process-group.ts: a c10d process group whose joining and
// collectives run on their own executor ('distributed'), off the JS thread: they wait on other ranks.
#pragma once

#include <napi.h>

#include <memory>

#include "cpp/distributed/group.h"
#include "cpp/thread_pool.h"

namespace torchvideo::binding {

class DistributedGroupWrap : public Napi::ObjectWrap<DistributedGroupWrap> {
 public:
  static Napi::Function define(Napi::Env env);
  explicit DistributedGroupWrap(const Napi::CallbackInfo& info);
  ~DistributedGroupWrap() override;
  // The group behind a JS ProcessGroup object (for Trainer.setDistributed); throws for anything else.
  static std::shared_ptr<DistributedGroup> unwrap(const Napi::Value& value);

 private:
  static Napi::Value create(const Napi::CallbackInfo& info);
  Napi::Value allreduceSum(const Napi::CallbackInfo& info);
  Napi::Value allgather(const Napi::CallbackInfo& info);
  Napi::Value barrier(const Napi::CallbackInfo& info);
  Napi::Value rank(const Napi::CallbackInfo& info);
  Napi::Value worldSize(const Napi::CallbackInfo& info);
  Napi::Value backend(const Napi::CallbackInfo& info);
  Napi::Value exposure(const Napi::CallbackInfo& info);
  void dispose(const Napi::CallbackInfo& info);

  std::shared_ptr<DistributedGroup> groupOrThrow() const;
  static Napi::Value wrap(Napi::Env env, std::shared_ptr<DistributedGroup>& group);

  std::shared_ptr<DistributedGroup> group_;
  // For the finalizer: the executor the group is released on, valid while the environment lives.
  std::weak_ptr<bool> envAlive_;
  ThreadPool* executor_;
};

}  // namespace torchvideo::binding
