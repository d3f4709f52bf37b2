// A TCP port on 127.0.0.1 that nothing listens on at the moment of asking (the test's own server or
// child takes it next; another process could take it in between, which on a test machine does not happen).
'use strict';
const net = require('node:net');

async function freeTcpPort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

module.exports = { freeTcpPort };
