/**
 * kcp-ts for Node: many KCP sessions on one UDP socket (KcpServerEndpoint),
 * a client (connectKcp), each session a Duplex (KcpStream), the
 * anti-amplification gate for unverified peers and Reed-Solomon FEC per link.
 */
export {
  KcpServerEndpoint,
  connectKcp,
  DEFAULT_KCP_ENDPOINT_LIMITS,
  DEFAULT_SOCKET_BUFFER_BYTES,
  type KcpSocketBuffers,
  type KcpEndpointLimits,
  type KcpEndpointStats,
  type KcpDropReason,
  type KcpSessionInfo,
  type KcpServerEndpointOptions,
  type KcpClientOptions,
} from './endpoint.js';
export { KcpStream, KcpStreamError, KcpScheduler, type KcpStreamOptions, type KcpStreamErrorCode, type KcpTransport } from './stream.js';
export { AmplificationGate, type AmplificationCounters } from './amplification.js';
export { FecLink, type FecSetting } from './fec-link.js';
