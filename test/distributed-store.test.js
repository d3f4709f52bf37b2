'use strict';
// A job whose ranks are all on this host opens no socket beyond loopback: c10d's TCPStore would listen
// on every interface (whatever address it is given), unauthenticated, for the whole job. The test lists
// each rank's listening TCP sockets from /proc while the job runs.
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const t = require('tap');
const { requirePrerequisite } = require('./helpers/prerequisites');
const { ProcessGroup } = require('../dist/internal.js');
const { freePort } = require('../dist/internal.js');
const { torchrunEnvironment } = require('../dist/internal.js');
const { tempDir } = require('./helpers/paths');

if (
  !requirePrerequisite(t, ProcessGroup.backends.includes('gloo'), 'this build has no c10d Gloo (libgloo-dev was missing when it was built)')
)
  process.exit(0);

const FIXTURE = path.join(__dirname, 'fixtures', 'group-rank.js');
const LISTEN = '0A';

// The listening TCP sockets of process `pid`: its socket inodes (/proc/PID/fd) matched against the
// network namespace's socket tables. Addresses as text: '127.0.0.1:PORT', '0.0.0.0:PORT', '[::]:PORT'.
function listeningSockets(pid) {
  const inodes = new Set();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match) inodes.add(match[1]);
    } catch {
      // The descriptor closed meanwhile.
    }
  }
  const found = [];
  for (const table of ['tcp', 'tcp6']) {
    const lines = fs.readFileSync(`/proc/${pid}/net/${table}`, 'utf8').trim().split('\n').slice(1);
    for (const line of lines) {
      const fields = line.trim().split(/\s+/);
      const [local, state, inode] = [fields[1], fields[3], fields[9]];
      if (state !== LISTEN || !inodes.has(inode)) continue;
      const [hex, portHex] = local.split(':');
      const port = parseInt(portHex, 16);
      if (table === 'tcp') {
        // Little-endian 32-bit words, as the kernel prints them.
        const bytes = hex
          .match(/../g)
          .map((b) => parseInt(b, 16))
          .reverse();
        found.push({ address: bytes.join('.'), port, loopback: bytes[0] === 127 });
      } else {
        const words = hex.match(/.{8}/g).map((w) => w.match(/../g).reverse().join(''));
        const text = words.join('');
        const loopback = text === '00000000000000000000000000000001' || text.startsWith('00000000000000000000ffff7f');
        found.push({ address: `[${text}]`, port, loopback });
      }
    }
  }
  return found;
}

function startRank(rank, world, masterPort, env) {
  const child = spawn(process.execPath, [FIXTURE], {
    env: { ...torchrunEnvironment({ rank, worldSize: world, masterAddr: '127.0.0.1', masterPort }), OMP_NUM_THREADS: '1', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const handle = { rank, child, stdout: '', stderr: '' };
  child.stdout.on('data', (chunk) => (handle.stdout += chunk));
  child.stderr.on('data', (chunk) => (handle.stderr += chunk));
  handle.joined = new Promise((resolve, reject) => {
    child.stdout.on('data', () => /"joined"/.test(handle.stdout) && resolve());
    child.on('close', () => reject(new Error(`rank ${rank} ended before joining: ${handle.stderr}`)));
  });
  handle.joined.catch(() => {}); // awaited by the tests that expect a join; a refusal is checked by code
  handle.exit = new Promise((resolve) => child.on('close', (code) => resolve(code)));
  return handle;
}

t.test('a 2-rank job on this host listens on loopback only, and leaves no store behind', async (t) => {
  const tmp = tempDir();
  const masterPort = await freePort();
  const ranks = [0, 1].map((rank) => startRank(rank, 2, masterPort, { TMPDIR: tmp }));
  await Promise.all(ranks.map((r) => r.joined));

  // While every rank is in the job (Gloo's pairs connected, the store open):
  let sockets = 0;
  for (const rank of ranks) {
    const listening = listeningSockets(rank.child.pid);
    sockets += listening.length;
    for (const socket of listening) {
      t.ok(socket.loopback, `rank ${rank.rank} listens on ${socket.address}:${socket.port}: loopback only`);
    }
  }
  t.ok(sockets >= 1, `the ranks' listening sockets were found (${sockets})`);
  const stores = fs.readdirSync(tmp).filter((name) => name.startsWith('torchvideo-job-'));
  t.equal(stores.length, 1, "rank 0 made one folder for the job's store");
  t.equal(fs.statSync(path.join(tmp, stores[0])).mode & 0o777, 0o700, 'private to this user (0700)');

  for (const rank of ranks) rank.child.stdin.write('go\n');
  const codes = await Promise.all(ranks.map((r) => r.exit));
  t.same(codes, [0, 0], `both ranks finished (${ranks.map((r) => r.stderr).join('')})`);
  const results = ranks.map((r) => JSON.parse(r.stdout.trim().split('\n').pop()));
  for (const result of results) {
    t.same(result.sums, [3, 20], `rank ${result.rank}: the allreduce summed both ranks`);
    t.same(result.gathered, [
      { rank: 0, text: '' },
      { rank: 1, text: 'xxx' },
    ]);
  }
  t.notMatch(ranks[0].stderr, /listens on every interface/, 'a local job has nothing exposed to report');
  t.same(
    fs.readdirSync(tmp).filter((name) => name.startsWith('torchvideo-job-')),
    [],
    'the last rank out removed the store',
  );
  fs.rmSync(tmp, { recursive: true });
});

t.test("a stranger on rank 0's port is not a store", async (t) => {
  // Something else answers on the master port: rank 1 refuses it by name instead of trusting its answer.
  const net = require('node:net');
  const masterPort = await freePort();
  const server = net.createServer((socket) => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n')).listen(masterPort, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const rank1 = startRank(1, 2, masterPort, {});
  const code = await rank1.exit;
  server.close();
  t.equal(code, 1);
  t.match(rank1.stderr, /ERR_DISTRIBUTED|cannot join the job/);
  t.match(rank1.stderr, /something other than this job's rank 0 answered on 127\.0\.0\.1:/);
});
