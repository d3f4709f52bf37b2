import { native } from './native';

/** What torchvideo's native memory holds beyond live tensors. */
export const memory = Object.freeze({
  /**
   * Bytes of native CPU memory held by the live Tensors of this thread (outputs, copies; not tensors
   * over your own TypedArrays, which V8 already counts). dispose() returns them at once.
   */
  tensorBytes(): number {
    return native.tensorBytes();
  },
  /**
   * Bytes of LibTorch's freed CPU blocks kept for reuse by the next forward pass (the block cache;
   * capped at 2 GiB, or TORCHVIDEO_CPU_CACHE_MB; 0 when the cache is off).
   */
  cpuCacheBytes(): number {
    return native.cachedCpuBytes();
  },
});
