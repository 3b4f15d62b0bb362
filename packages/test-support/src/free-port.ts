/**
 * A port free on 127.0.0.1 right now, for a child process that must be told
 * its port up front (a media task, nginx). Ask for the protocol the child will
 * bind: a TCP probe says nothing about the UDP port of the same number, and the
 * KCP clients of a test file running alongside hold ephemeral UDP ports from
 * the same range. The port is released before the child binds it, so a caller
 * that can should retry on "already in use" (startLocalCluster does).
 */
import dgram from 'node:dgram';
import net from 'node:net';

export async function freePort(protocol: 'tcp' | 'udp' = 'tcp'): Promise<number> {
  if (protocol === 'udp') {
    const probe = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.bind(0, '127.0.0.1', resolve);
    });
    const { port } = probe.address();
    await new Promise<void>((resolve) => probe.close(resolve));
    return port;
  }
  const probe = net.createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', resolve);
  });
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}
