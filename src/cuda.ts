import { native } from './native';

/** What CUDA this LibTorch build can use. */
export const cuda = Object.freeze({
  /** True when LibTorch was built with CUDA and a device is present. */
  isAvailable(): boolean {
    return native.cudaIsAvailable();
  },
  /** The number of CUDA devices LibTorch sees (0 on a CPU-only build). */
  deviceCount(): number {
    return native.cudaDeviceCount();
  },
});
