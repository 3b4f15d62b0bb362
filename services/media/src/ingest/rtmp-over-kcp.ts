import type { Logger } from '../logger.js';
import type { RtmpSessionManager } from '../rtmp/rtmp-server.js';
import { KcpServerEndpoint, type KcpServerEndpointOptions } from 'kcp-ts/node';

/**
 * The KCP (UDP) listener beside RTMP's TCP one: every KCP conversation is
 * handed to the same RTMP session manager as a TCP socket is, so publish,
 * play, metadata, the GOP cache and authorization behave the same. The
 * session is "verified" (the anti-amplification limit lifts) once the RTMP
 * handshake completes with a C2 that answers our S1: only a peer that
 * receives at its source address can send that, so a spoofer never gets
 * past the 3x limit. A session whose C2 does not is closed.
 */
export async function listenRtmpOverKcp(rtmp: RtmpSessionManager, options: KcpServerEndpointOptions, logger: Logger): Promise<KcpServerEndpoint> {
  const endpoint = new KcpServerEndpoint(options);
  endpoint.on('session', (stream, info) => {
    // A KCP stream errors on dead links and idle timeouts; the RTMP session
    // sees the close, so the error itself only needs logging.
    stream.on('error', (err) => logger.debug({ err, remoteAddress: info.address, conv: info.conv }, 'kcp session error'));
    const session = rtmp.accept(stream, 'kcp', info.address, () => {
      if (session?.connection.c2AnswersS1) stream.markVerified();
      else session?.connection.destroy('RTMP C2 does not answer S1 (unverified UDP source)');
    });
    if (!session) stream.destroy();
  });
  endpoint.on('error', (err) => logger.error({ err }, 'kcp socket error'));
  await endpoint.listen();
  // Linux caps the buffers at net.core.rmem_max / wmem_max without an error; bursts beyond them are lost in the kernel.
  const buffers = endpoint.socketBuffers();
  if (buffers.receive < buffers.requested || buffers.send < buffers.requested) {
    logger.warn({ ...buffers }, 'kcp socket buffers capped by the kernel (raise net.core.rmem_max and net.core.wmem_max where the host allows)');
  } else {
    logger.info({ ...buffers }, 'kcp socket buffers');
  }
  return endpoint;
}
