import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { Logger } from '../logger.js';
import { RtmpConnection } from './connection.js';
import type { ChunkReaderLimits } from './chunk-reader.js';
import { RtmpServerSession, type SessionContext } from './server-session.js';

export interface RtmpServerLimits extends ChunkReaderLimits {
  /** Required here: the server always sets it (see ChunkReaderLimits). */
  maxPartialBytes: number;
  maxConnections: number;
  maxConnectionsPerAddress: number;
  /** A peer must finish the handshake and connect within this time. */
  handshakeTimeoutMs: number;
  /** A session that sends nothing for this long is closed (viewers send acks and pings). */
  idleTimeoutMs: number;
}

export const DEFAULT_RTMP_LIMITS: RtmpServerLimits = {
  maxConnections: 5000,
  maxConnectionsPerAddress: 200,
  handshakeTimeoutMs: 10_000,
  idleTimeoutMs: 60_000,
  maxMessageSize: 8 * 1024 * 1024,
  maxChunkStreams: 64,
  maxPartialBytes: 16 * 1024 * 1024,
};

export type SessionContextFactory = (protocol: string, remoteAddress: string) => SessionContext;

interface Counters {
  accepted: number;
  refused: number;
  protocolErrors: number;
}

/**
 * Accepts RTMP sessions from any transport. The TCP listener and the KCP
 * endpoint both hand their byte streams to `accept`, so RTMP over KCP behaves
 * exactly like RTMP over TCP: same sessions, same limits, same hub.
 */
export class RtmpSessionManager {
  readonly sessions = new Set<RtmpServerSession>();
  private readonly perAddress = new Map<string, number>();
  readonly counters: Counters = { accepted: 0, refused: 0, protocolErrors: 0 };

  constructor(
    private readonly contextFor: SessionContextFactory,
    readonly limits: RtmpServerLimits,
    private readonly logger: Logger,
  ) {}

  /**
   * Starts an RTMP session on `transport`. Returns the session, or null if a
   * limit refused it (the transport is then destroyed).
   */
  accept(transport: Duplex, protocol: string, remoteAddress: string, onHandshake?: () => void): RtmpServerSession | null {
    const fromAddress = this.perAddress.get(remoteAddress) ?? 0;
    if (this.sessions.size >= this.limits.maxConnections || fromAddress >= this.limits.maxConnectionsPerAddress) {
      this.counters.refused++;
      this.logger.warn({ remote: remoteAddress, protocol, sessions: this.sessions.size }, 'connection refused: limit reached');
      transport.destroy();
      return null;
    }
    this.counters.accepted++;
    this.perAddress.set(remoteAddress, fromAddress + 1);
    const connection = new RtmpConnection(transport, { role: 'server', limits: this.limits });
    const session = new RtmpServerSession(connection, this.contextFor(protocol, remoteAddress));
    this.sessions.add(session);

    // Handshake deadline, then an idle deadline that any received byte resets.
    let lastReceived = connection.totalBytesReceived;
    let timer = setTimeout(() => connection.destroy('handshake timeout'), this.limits.handshakeTimeoutMs);
    connection.once('handshake', () => {
      clearTimeout(timer);
      timer = setInterval(() => {
        if (connection.totalBytesReceived === lastReceived && session.role !== 'viewer') {
          connection.destroy('idle timeout');
        }
        lastReceived = connection.totalBytesReceived;
      }, this.limits.idleTimeoutMs);
      // Last: it may close the connection (KCP does, for a C2 that does not
      // answer S1), and the close must find the idle timer to clear it.
      onHandshake?.();
    });
    connection.once('close', (reason) => {
      clearTimeout(timer);
      clearInterval(timer);
      if (reason.startsWith('protocol error')) this.counters.protocolErrors++;
      this.sessions.delete(session);
      const n = (this.perAddress.get(remoteAddress) ?? 1) - 1;
      if (n <= 0) this.perAddress.delete(remoteAddress);
      else this.perAddress.set(remoteAddress, n);
    });
    return session;
  }

  /** Ends every session (shutdown). */
  closeAll(reason: string): void {
    for (const session of this.sessions) session.kick(reason);
  }
}

/**
 * The RTMP TCP listener; with `tls` (certificate and key, PEM) it is RTMPS:
 * the same sessions inside TLS, as OBS and ffmpeg speak it (rtmps://).
 * RTMPS sessions count as "rtmp" in metrics and the stream list.
 */
export function listenRtmpTcp(manager: RtmpSessionManager, host: string, port: number, tlsOptions?: { cert: Buffer; key: Buffer }): Promise<net.Server> {
  const onSocket = (socket: net.Socket) => {
    socket.on('error', () => {}); // reported through the connection's close reason
    manager.accept(socket, 'rtmp', socket.remoteAddress ?? 'unknown');
  };
  const server = tlsOptions
    ? tls.createServer({ ...tlsOptions, minVersion: 'TLSv1.2', handshakeTimeout: manager.limits.handshakeTimeoutMs }, (socket) => {
      socket.setNoDelay(true);
      onSocket(socket);
    })
    : net.createServer({ noDelay: true }, onSocket);
  // A failed TLS handshake (a scanner, a client without the CA) is the client's problem, not the server's.
  server.on('tlsClientError', () => {});
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
