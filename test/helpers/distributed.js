// Shared by the distributed tests: a free loopback port, and N ranks of a script started with the
// environment torchrun gives (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT).
'use strict';
const { spawn } = require('node:child_process');
const { freePort } = require('../../dist/internal.js');
const { torchrunEnvironment } = require('../../dist/internal.js');

/**
 * Starts `world` ranks of `node <args>`; each rank is { child, stdout, stderr, exit } where `exit`
 * resolves with { code, signal, stdout, stderr, ms } (ms: from the start).
 */
async function startRanks(args, world, { env = {}, port, ranks } = {}) {
  const masterPort = port ?? (await freePort());
  const started = Date.now();
  return (ranks ?? [...Array(world).keys()]).map((rank) => {
    const child = spawn(process.execPath, args, {
      // One intra-op thread a rank: the tests' ranks share 2 cores with another test file.
      env: { ...torchrunEnvironment({ rank, worldSize: world, masterAddr: '127.0.0.1', masterPort }), OMP_NUM_THREADS: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const handle = { rank, child, stdout: '', stderr: '' };
    child.stdout.on('data', (chunk) => (handle.stdout += chunk));
    child.stderr.on('data', (chunk) => (handle.stderr += chunk));
    handle.exit = new Promise((resolve) =>
      child.on('close', (code, signal) =>
        resolve({ code, signal, stdout: handle.stdout, stderr: handle.stderr, ms: Date.now() - started }),
      ),
    );
    return handle;
  });
}

/** Resolves once `handle`'s stdout has a line matching `pattern`. */
function waitForLine(handle, pattern) {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (handle.stdout.split('\n').some((line) => pattern.test(line))) {
        handle.child.stdout.off('data', check);
        resolve();
      }
    };
    handle.child.stdout.on('data', check);
    handle.child.on('close', () => reject(new Error(`rank ${handle.rank} ended before printing ${pattern}: ${handle.stderr}`)));
    check();
  });
}

module.exports = { freePort, startRanks, waitForLine };
