#include "cpp/caching_cpu_allocator.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>
#include <torch/version.h>

#include <cstdlib>
#include <iterator>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

// LibTorch 2.3 changed c10::Allocator: allocate() is no longer const, and copy_data() (used by
// Allocator::clone) is pure virtual, with default_copy_data() (a memcpy) for plain memory.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
#define TORCHVIDEO_TORCH_ALLOCATOR_2_3 1
#else
#define TORCHVIDEO_TORCH_ALLOCATOR_2_3 0
#endif

namespace torchvideo {
namespace {

constexpr size_t kMinCachedBytes = 256 * 1024;
// Sizes round up to this so nearby sizes (another batch or clip length) share blocks.
constexpr size_t kRounding = 64 * 1024;
// A request may take a cached block up to this much larger (1.5x). A batcher's forward passes vary in
// batch size from one to the next; with exact sizes only, each new size missed the cache and paged
// its whole working set in afresh (r3d_18: a 15-clip batch took 4.7 s instead of 3.0 s after a 16-clip
// one).
constexpr size_t kLargerBlockNumerator = 3;
constexpr size_t kLargerBlockDenominator = 2;
// Above LibTorch's default CPU allocator (priority 0).
constexpr uint8_t kPriority = 10;

class CachingCpuAllocator final : public c10::Allocator {
 public:
  explicit CachingCpuAllocator(size_t capacity) : capacity_(capacity) {}

#if TORCHVIDEO_TORCH_ALLOCATOR_2_3
  c10::DataPtr allocate(size_t bytes) override {
#else
  c10::DataPtr allocate(size_t bytes) const override {
#endif
    void* data = take(bytes);
    return {data, data, &release, c10::Device(c10::DeviceType::CPU)};
  }

#if TORCHVIDEO_TORCH_ALLOCATOR_2_3
  // Blocks are plain host memory, so LibTorch's memcpy is the copy.
  void copy_data(void* dest, const void* src, size_t count) const override { default_copy_data(dest, src, count); }
#endif

  c10::DeleterFnPtr raw_deleter() const override { return &release; }

  size_t cached() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return cachedBytes_;
  }

  static CachingCpuAllocator* instance;

 private:
  static size_t bucketOf(size_t bytes) { return (bytes + kRounding - 1) / kRounding * kRounding; }

  void* take(size_t bytes) const {
    if (bytes < kMinCachedBytes) return c10::alloc_cpu(bytes);
    const size_t bucket = bucketOf(bytes);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      // The smallest cached block that fits, unless it is too much larger. It keeps its own size
      // (sizes_), so it goes back to its own list when freed.
      auto found = free_.lower_bound(bucket);
      if (found != free_.end() && found->first <= bucket / kLargerBlockDenominator * kLargerBlockNumerator) {
        void* data = found->second.back();
        found->second.pop_back();
        cachedBytes_ -= found->first;
        if (found->second.empty()) free_.erase(found);
        return data;
      }
    }
    void* data = c10::alloc_cpu(bucket);
    std::lock_guard<std::mutex> lock(mutex_);
    sizes_[data] = bucket;
    return data;
  }

  // Also receives pointers allocated before this allocator was installed (raw_deallocate callers
  // such as oneDNN look the allocator up at free time): those were never cached and are freed.
  // When caching the block just freed would go over capacity, cached blocks are freed until it
  // fits, smallest sizes first (free_'s order; within one size, the last cached goes first). The block just freed is
  // always kept: it is the likeliest to be asked for again (the same forward pass or preprocessing step comes next). A
  // block larger than the whole capacity is freed.
  static void release(void* data) {
    if (data == nullptr) return;
    auto& self = *instance;
    std::vector<void*> evicted;
    {
      std::lock_guard<std::mutex> lock(self.mutex_);
      auto size = self.sizes_.find(data);
      if (size == self.sizes_.end()) {
        evicted.push_back(data);
      } else if (size->second > self.capacity_) {
        self.sizes_.erase(size);
        evicted.push_back(data);
      } else {
        const size_t bytes = size->second;
        for (auto bucket = self.free_.begin();
             self.cachedBytes_ + bytes > self.capacity_ && bucket != self.free_.end();) {
          while (!bucket->second.empty() && self.cachedBytes_ + bytes > self.capacity_) {
            evicted.push_back(bucket->second.back());
            self.sizes_.erase(bucket->second.back());
            bucket->second.pop_back();
            self.cachedBytes_ -= bucket->first;
          }
          bucket = bucket->second.empty() ? self.free_.erase(bucket) : std::next(bucket);
        }
        self.free_[bytes].push_back(data);
        self.cachedBytes_ += bytes;
      }
    }
    // Freed outside the lock: munmap of large blocks is slow.
    for (void* block : evicted) c10::free_cpu(block);
  }

  const size_t capacity_;
  mutable std::mutex mutex_;
  // Cached blocks by size, ordered so a request finds the smallest that fits. No list is left empty.
  mutable std::map<size_t, std::vector<void*>> free_;
  mutable std::unordered_map<void*, size_t> sizes_;
  mutable size_t cachedBytes_ = 0;
};

CachingCpuAllocator* CachingCpuAllocator::instance = nullptr;

size_t capacityFromEnvironment(size_t fallback) {
  const char* text = std::getenv("TORCHVIDEO_CPU_CACHE_MB");
  if (text == nullptr || *text == '\0') return fallback;
  return static_cast<size_t>(std::strtoull(text, nullptr, 10)) * 1024 * 1024;
}

}  // namespace

void installCachingCpuAllocator(size_t capacityBytes) {
  static std::once_flag once;
  std::call_once(once, [capacityBytes] {
    const size_t capacity = capacityFromEnvironment(capacityBytes);
    if (capacity == 0) return;
    // Never destroyed: tensors freed during process exit may still call into it.
    CachingCpuAllocator::instance = new CachingCpuAllocator(capacity);
    c10::SetCPUAllocator(CachingCpuAllocator::instance, kPriority);
  });
}

size_t cachedCpuBytes() { return CachingCpuAllocator::instance ? CachingCpuAllocator::instance->cached() : 0; }

}  // namespace torchvideo
