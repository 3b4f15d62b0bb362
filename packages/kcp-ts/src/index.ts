/**
 * kcp-ts, the pure core: no sockets, no timers, no clock of its own. The
 * caller passes the time and receives datagrams through a callback, as with
 * ikcp.c, so it runs under any transport (UDP, a test's virtual link, a
 * WebRTC data channel...). The UDP server, client and Duplex stream are in
 * `kcp-ts/node`.
 */
export {
  Kcp,
  KcpCommand,
  KcpInputError,
  KcpRecvError,
  KcpSendError,
  KCP_OVERHEAD,
  MAX_FRAGMENTS,
  seqDiff,
  encodeHeader,
  decodeHeader,
  inspectDatagram,
  emptyKcpStats,
  type KcpHeader,
  type KcpOptions,
  type KcpCongestionControl,
  type KcpOutput,
  type KcpSendOps,
  type KcpStats,
  type DatagramFault,
  type DatagramInspection,
} from './kcp.js';
export { TokenBucketPacer } from './pacing.js';
export { LiveRateController, type LiveRateOptions, type LiveRatePhase } from './congestion.js';
export { DEFAULT_KCP_TUNING, KCP_TUNING_PRESETS, type KcpTuning } from './tuning.js';
export { FecCodec, FEC_HEADER_SIZE, type FecSetting, type FecStats } from './fec/fec-codec.js';
export { ReedSolomon } from './fec/reed-solomon.js';
