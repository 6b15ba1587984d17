/**
 * The browser's way to a lab that listens on a unix socket only (the testbed's laptop: its network
 * is not this host's): each TCP connection to HOST:PORT is piped to the socket, both ways.
 *
 *   node unix-relay.js HOST:PORT SOCKET
 */
const net = require('node:net');

const [listen, socket] = process.argv.slice(2);
const [host, port] = (listen || '').split(':');
if (!host || !port || !socket) {
  process.stderr.write('usage: node unix-relay.js HOST:PORT SOCKET\n');
  process.exit(2);
}

const server = net.createServer(client => {
  const lab = net.connect(socket);
  // A lab not up yet (or gone) ends the browser's connection: Playwright's wait asks again.
  lab.on('error', () => client.destroy());
  client.on('error', () => lab.destroy());
  client.pipe(lab).pipe(client);
});
server.listen(Number(port), host);
process.on('SIGTERM', () => process.exit(0));
