// A TCP port for a job's store on this machine (torchvideo launch, the tests, the scaling bench).
import * as net from 'node:net';

/** A port that was free a moment ago: the OS picks it for a listener on port 0, which closes at once. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
