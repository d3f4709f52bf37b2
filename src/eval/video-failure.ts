// Which errors are a video's own problem. A job over many videos reports a video that cannot be opened or
// decoded and goes on; anything else (out of memory, a disposed model or pool, a native failure, a bug
// such as a TypeError) would fail every later video the same way and turn the report into an accuracy
// over whatever happened to survive, so it ends the job with the error instead.
import { TorchVideoError } from '../errors';

const VIDEO_CODES = new Set(['ERR_VIDEO_OPEN', 'ERR_VIDEO_DECODE', 'ERR_FILE_NOT_FOUND', 'ERR_NOT_A_FILE', 'ERR_NO_VIDEO_STREAM']);

/** True for a TorchVideoError about the video itself: it cannot be opened or decoded, is not found, not a file, has no video stream. */
export function isVideoFailure(error: unknown): boolean {
  return error instanceof TorchVideoError && VIDEO_CODES.has(error.code);
}

/** How a video's failure reads in a report: the message and its code. */
export function failureText(error: unknown): string {
  const code = (error as { code?: string }).code;
  return `${(error as Error).message}${code ? ` (${code})` : ''}`;
}
