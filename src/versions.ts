import { native } from './native';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const packageJson = require('../package.json') as { version: string };

/** The versions this build runs on. */
export const versions: Readonly<{ torchvideo: string; libtorch: string; ffmpeg: string }> = Object.freeze({
  torchvideo: packageJson.version,
  libtorch: native.libtorchVersion,
  ffmpeg: native.ffmpegVersion,
});
