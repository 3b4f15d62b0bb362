import { LiveRateController } from 'kcp-ts';
import { KcpStream } from 'kcp-ts/node';
import type { LiveDeadlineGate } from './hub/live-deadline.js';
import type { RtmpClient } from './rtmp/client.js';

/** What one KCP session's sender knows of its path and its queue, for /metrics and relay link states. */
export interface KcpLinkStats {
  /** Estimated bottleneck rate, kbit/s (0: no congestion controller). */
  bandwidthKbit: number;
  minRttMs: number;
  srttMs: number;
  /** Current pacing rate, kbit/s (0: unpaced). */
  pacingKbit: number;
  inflightBytes: number;
  /** Bytes waiting: the writer's queue plus KCP's send queue and flight. */
  queueBytes: number;
  /** Age of the oldest media in the send queue, ms (0 when no live deadline watches this session). */
  queueAgeMs: number;
  /** Frames dropped for lateness by this session's live deadline. */
  lateDroppedFrames: number;
  /** Times the controller took a standing RTT rise for a longer path (a route change) and moved its minimum RTT up. */
  pathChanges: number;
}

/** The live deadline watching each KCP stream, if any (weak: a closed stream takes its entry along). */
const deadlines = new WeakMap<KcpStream, LiveDeadlineGate>();

export function watchKcpDeadline(stream: KcpStream, gate: LiveDeadlineGate): void {
  deadlines.set(stream, gate);
}

export function kcpLinkStats(stream: KcpStream): KcpLinkStats {
  const kcp = stream.kcp;
  const hooks = kcp.sendHooks;
  const controller = hooks instanceof LiveRateController ? hooks : null;
  const gate = deadlines.get(stream);
  return {
    bandwidthKbit: Math.round(controller?.bandwidthKbit ?? 0),
    minRttMs: controller?.minRtt ?? 0,
    srttMs: kcp.srtt,
    pacingKbit: Math.round(controller?.pacingKbit ?? 0),
    inflightBytes: kcp.inflightBytes,
    queueBytes: stream.sendQueueBytes,
    queueAgeMs: Math.round(gate?.lastAgeMs ?? 0),
    lateDroppedFrames: gate?.deadline.totalDropped ?? 0,
    pathChanges: controller?.longerPathsSeen ?? 0,
  };
}

/** A relay link's KCP session: undefined for rtmp:// or while not connected. */
export function relayLinkTransport(client: RtmpClient | null): KcpStream | undefined {
  const transport = client?.connection.transport;
  return transport instanceof KcpStream ? transport : undefined;
}

/** A relay link's KCP stats: undefined for rtmp:// or while not connected. */
export function relayLinkKcpStats(client: RtmpClient | null): KcpLinkStats | undefined {
  const transport = relayLinkTransport(client);
  return transport ? kcpLinkStats(transport) : undefined;
}
