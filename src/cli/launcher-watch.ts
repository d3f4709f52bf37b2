// A rank started by `torchvideo launch` must not outlive its launcher. Each rank gets one more stdio pipe
// (LAUNCHER_FD) whose other end only the launcher holds and never writes: however the launcher ends, even
// by SIGKILL, the kernel closes that end and the rank reads EOF. The rank then stops as on SIGTERM (finetune
// checkpoints first, evaluate stops within a batch; a command with no handler just ends).
import * as fs from 'node:fs';
import * as net from 'node:net';

/** The environment variable that tells a rank which pipe to watch: '<launcher pid>:<fd>'. */
export const LAUNCHER_ENV = 'TORCHVIDEO_LAUNCHER';
/** The rank's fd of the pipe: the one after stdin, stdout and stderr. */
export const LAUNCHER_FD = 3;

/** The variable a launcher gives its ranks (it spawns them with a fourth stdio entry, 'pipe'). */
export function launcherEnvironment(): Record<string, string> {
  return { [LAUNCHER_ENV]: `${process.pid}:${LAUNCHER_FD}` };
}

/**
 * Watches the launcher's pipe when this process is a rank of `torchvideo launch`; returns whether it does.
 * Only the launcher's direct child watches, and only an fd that is a pipe or socket: a process that
 * inherited the variable but not the pipe (a rank's own child) leaves its fds alone. The variable is
 * removed so that no child of this process inherits it.
 */
export function watchLauncher(): boolean {
  const value = process.env[LAUNCHER_ENV];
  delete process.env[LAUNCHER_ENV];
  const match = value === undefined ? null : /^(\d+):(\d+)$/.exec(value);
  if (match === null || Number(match[1]) !== process.ppid) return false;
  const fd = Number(match[2]);
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFIFO() && !stat.isSocket()) return false;
  } catch {
    return false;
  }
  const pipe = new net.Socket({ fd, readable: true, writable: false });
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    process.kill(process.pid, 'SIGTERM');
  };
  pipe.on('end', stop);
  pipe.on('error', stop);
  pipe.resume(); // nothing is ever written: reading only to see the end
  pipe.unref(); // the watch alone does not keep a finished rank alive
  return true;
}
