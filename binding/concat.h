#pragma once

#include <napi.h>

namespace torchvideo::binding {

// concat(tensors: NativeTensor[]) -> Promise<NativeTensor>: torch::cat along dimension 0, on the decode
// pool (a training batch gathered from several videos' clip batches is tens of MB: not a copy for the JS
// thread). Every tensor must have the shape of the first past dimension 0, and its dtype and device.
Napi::Value concat(const Napi::CallbackInfo& info);

}  // namespace torchvideo::binding
