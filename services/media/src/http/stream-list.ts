import type { LiveLease } from '../cluster/lease.js';
import { combinedHealth, currentHealth, type LinkHealth } from '../edge/link-health.js';
import type { EdgeLinkRecord } from '../edge/link-record.js';
import type { LiveStream } from '../hub/live-stream.js';

/** A live stream as operators see it (the keys API's list, /api/live: loopback or API_TOKEN callers only). */
export function describeLiveStream(s: LiveStream, now = Date.now()) {
  const video = s.videoSequenceHeader?.video;
  const audio = s.audioSequenceHeader?.audio;
  const viewersByProtocol = s.viewersByProtocol();
  return {
    app: s.app,
    name: s.name,
    publisher: { protocol: s.publisher.protocol, address: s.publisher.remoteAddress },
    video: video ? {
      codec: video.codec,
      width: s.metadataInfo.width ?? null,
      height: s.metadataInfo.height ?? null,
      framerate: s.metadataInfo.framerate ?? null,
    } : null,
    audio: audio ? { codec: audio.codec } : null,
    bitrateKbps: Math.round(s.ingest.bitsPerSecond() / 1000),
    viewers: { total: Object.values(viewersByProtocol).reduce((a, b) => a + b, 0), byProtocol: viewersByProtocol },
    uptimeSeconds: Math.round((now - s.startedAt) / 1000),
    startedAt: new Date(s.startedAt).toISOString(),
  };
}

/**
 * A live stream of the cluster, from its lease: the task that has it
 * (its id and private address), and what this task knows of it. Its owner
 * knows everything; a task pulling it knows the media and its own viewers;
 * any other task only that it is live.
 */
export function describeClusterStream(lease: LiveLease, local: LiveStream | undefined, now = Date.now()) {
  const task = { id: lease.owner, address: lease.address };
  if (local) return { ...describeLiveStream(local, now), task };
  return {
    app: lease.app, name: lease.name, publisher: { protocol: null, address: null },
    video: null, audio: null, bitrateKbps: null, viewers: null, uptimeSeconds: null, startedAt: null, task,
  };
}

export type EdgeLinkView = ReturnType<typeof linksOf>[number];

export type LiveStreamDescription = (ReturnType<typeof describeLiveStream> | ReturnType<typeof describeClusterStream>) & { edgeLinks?: EdgeLinkView[]; upstream?: EdgeLinkView | null };

/** One side's figures of a link, as /api/live shows them. */
function sideView(r: EdgeLinkRecord | undefined, now: number) {
  if (!r) return null;
  const { app: _app, name: _name, edge: _edge, side: _side, ...figures } = r;
  return { ...figures, state: currentHealth(r, now), updatedAt: new Date(r.updatedAt).toISOString() };
}

/** Per link (edge name), the freshest record of each side. */
function linksOf(records: readonly EdgeLinkRecord[], now: number) {
  const byEdge = new Map<string, { origin?: EdgeLinkRecord; edge?: EdgeLinkRecord }>();
  for (const r of records) {
    const entry = byEdge.get(r.edge) ?? {};
    const current = entry[r.side];
    if (!current || current.updatedAt < r.updatedAt) entry[r.side] = r;
    byEdge.set(r.edge, entry);
  }
  return [...byEdge].map(([edge, sides]) => ({
    edge,
    state: combinedHealth([sides.origin, sides.edge], now) as LinkHealth,
    origin: sideView(sides.origin, now),
    edgeSide: sideView(sides.edge, now),
  }));
}

/**
 * The live list with each stream's origin↔edge links. On an origin,
 * `edgeLinks`: every edge carrying the stream, its state (up / behind /
 * down) and both sides' figures (the origin task serving it, the edge task
 * pulling it, as the edge reported). On an edge, `upstream`: its own link
 * to the origin, null when no task of this edge carries the stream.
 */
export function withEdgeLinks<T extends { app: string; name: string }>(streams: T[], records: readonly EdgeLinkRecord[], side: 'origin' | 'edge', now = Date.now()): (T & { edgeLinks?: EdgeLinkView[]; upstream?: EdgeLinkView | null })[] {
  const byStream = new Map<string, EdgeLinkRecord[]>();
  for (const r of records) {
    const key = `${r.app}/${r.name}`;
    byStream.set(key, [...(byStream.get(key) ?? []), r]);
  }
  return streams.map((s) => {
    const links = linksOf(byStream.get(`${s.app}/${s.name}`) ?? [], now);
    return side === 'origin' ? { ...s, edgeLinks: links } : { ...s, upstream: links[0] ?? null };
  });
}

