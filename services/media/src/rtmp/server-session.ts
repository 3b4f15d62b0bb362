import { encodeAmf0, encodeAmf0EcmaArray } from '../amf/amf0.js';
import type { AmfObject, AmfValue } from '../amf/amf-value.js';
import type { LiveStream, StreamMetadata } from '../hub/live-stream.js';
import { MediaPacket } from '../hub/media-packet.js';
import type { EgressMeter } from '../hub/egress-meter.js';
import type { WriteFlusher } from '../hub/write-batch.js';
import type { StreamHub } from '../hub/stream-hub.js';
import { KcpStream } from 'kcp-ts/node';
import { LiveDeadlineGate } from '../hub/live-deadline.js';
import { watchKcpDeadline } from '../kcp-link-stats.js';
import type { Logger } from '../logger.js';
import { decodeDataMessage, type RtmpCommand, type RtmpConnection } from './connection.js';
import { MessageType, UserControlEvent, type RtmpMessage } from './messages.js';
import { isValidAppName, isValidStreamName, splitStreamName } from './names.js';
import { RtmpViewer } from './rtmp-viewer.js';
import { statusInfo } from './status.js';

export type PublishDecision =
  | { ok: true; streamId: string }
  | { ok: false; code: 'BadName' | 'Unauthorized' | 'RateLimited' | 'Edge'; reason: string };

/** What a session needs from the rest of the service. */
export interface SessionContext {
  hub: StreamHub;
  logger: Logger;
  /** "rtmp" or "kcp": the transport, for logs, metrics and the stream list. */
  protocol: string;
  remoteAddress: string;
  /**
   * Resolves the name in the publish URL (a stream key, or over KCP a
   * publish proof bound to `serverNonce`) to the stream id viewers use.
   */
  authorizePublish(app: string, key: string, remoteAddress: string, query: URLSearchParams, serverNonce: Buffer | undefined): Promise<PublishDecision>;
  /** Checks a play request (play tokens, private streams); true when playback is allowed. */
  authorizePlay(app: string, name: string, query: URLSearchParams, remoteAddress: string): Promise<boolean>;
  maxViewerBacklogBytes: number;
  /** Live deadline (ms) for viewers on a transport that knows its send queue (KCP); 0: off. */
  liveDeadlineMs?: number;
  /** Egress meter for this transport's viewers. */
  egress: EgressMeter;
  /** False while the server drains: new publishers are refused. */
  acceptingPublishers(): boolean;
  /** Merged writes for this session's viewers; unset writes every packet at once. */
  writeFlusher?: WriteFlusher;
  /** Counts a refused publish by its code (metrics). */
  onPublishRefused?(code: string): void;
  /** Applications this server serves (`live`); connecting to another is refused, as nginx-rtmp does. */
  servesApp(app: string): boolean;
  /** How long a play of a stream that is not live waits for its publisher before NetStream.Play.StreamNotFound. */
  playWaitMs: number;
}

const PUBLISH_REFUSAL_CODES: Record<string, string> = {
  BadName: 'NetStream.Publish.BadName',
  Unauthorized: 'NetStream.Publish.Unauthorized',
  RateLimited: 'NetStream.Publish.Rejected',
  /** An edge server: streams are published at the origin. */
  Edge: 'NetStream.Publish.Rejected',
};

/**
 * The server side of one RTMP session: interprets the commands OBS, ffmpeg,
 * VLC and Flash-era players send, and connects the session to the hub as a
 * publisher or a viewer. Replies follow what those clients expect from FMS,
 * nginx-rtmp and SRS.
 */
export class RtmpServerSession {
  private app = '';
  private nextStreamId = 1;
  private publishing: { stream: LiveStream; streamId: number } | null = null;
  private playing: { viewer: RtmpViewer; app: string; name: string; query: URLSearchParams; streamId: number } | null = null;
  /** Bounds the wait of a play for a stream that is not live yet. */
  private playWaitTimer: NodeJS.Timeout | null = null;
  private publishPending = false;
  readonly log: Logger;

  constructor(readonly connection: RtmpConnection, private readonly ctx: SessionContext) {
    this.log = ctx.logger.child({ remote: ctx.remoteAddress, transport: ctx.protocol });
    connection.on('command', (c) => this.onCommand(c));
    connection.on('media', (m) => this.onMedia(m));
    connection.on('close', (reason) => this.onClose(reason));
  }

  /** What this session plays (app, name and the play request's query), if it is a viewer. */
  get played(): { app: string; name: string; query: URLSearchParams } | null {
    return this.playing && { app: this.playing.app, name: this.playing.name, query: this.playing.query };
  }

  get role(): 'publisher' | 'viewer' | 'idle' {
    return this.publishing ? 'publisher' : this.playing ? 'viewer' : 'idle';
  }

  private onCommand(c: RtmpCommand): void {
    switch (c.name) {
      case 'connect': return this.onConnect(c);
      case 'createStream': return this.onCreateStream(c);
      case 'releaseStream':
      case 'FCPublish':
      case 'FCSubscribe':
      case 'getStreamLength':
        // Legacy FMS calls: answered so clients waiting for a reply carry on.
        if (c.transactionId) this.connection.sendCommand(0, '_result', c.transactionId, null, undefined);
        return;
      case 'publish': void this.onPublish(c); return;
      case 'play': void this.onPlay(c, c.args[1]); return;
      case 'play2': return this.onPlay2(c);
      case 'deleteStream':
      case 'closeStream':
      case 'FCUnpublish':
        return this.stopStreams(c.name);
      default:
        this.log.debug({ command: c.name }, 'ignoring unknown RTMP command');
    }
  }

  private onConnect(c: RtmpCommand): void {
    const cmd = (c.args[0] ?? {}) as AmfObject;
    const app = typeof cmd.app === 'string' ? cmd.app.replace(/\/+$/, '').split('?')[0]! : '';
    if (!isValidAppName(app)) {
      this.connection.sendCommand(0, '_error', c.transactionId, null,
        statusInfo('error', 'NetConnection.Connect.Rejected', `invalid application name`));
      this.connection.close(`connect to invalid app`);
      return;
    }
    if (!this.ctx.servesApp(app)) {
      // ffmpeg prints the description ("Server error: ..."); OBS shows that it could not connect.
      this.connection.sendCommand(0, '_error', c.transactionId, null,
        statusInfo('error', 'NetConnection.Connect.InvalidApp', `application "${app}" not found on this server; use rtmp://<host>/live/<stream key>`));
      this.log.warn({ app }, 'connect refused: unknown application');
      setTimeout(() => this.connection.close(`connect to unknown app`), 200).unref();
      return;
    }
    this.app = app;
    this.connection.sendControl(MessageType.WindowAckSize, 2_500_000);
    this.connection.sendSetPeerBandwidth(2_500_000);
    this.connection.sendUserControl(UserControlEvent.StreamBegin, 0);
    const objectEncoding = typeof cmd.objectEncoding === 'number' ? cmd.objectEncoding : 0;
    this.connection.sendCommand(0, '_result', c.transactionId,
      { fmsVer: 'FMS/3,5,7,7009', capabilities: 31, mode: 1 },
      statusInfo('status', 'NetConnection.Connect.Success', 'Connection succeeded.', { objectEncoding }));
    this.log.debug({ app, tcUrl: cmd.tcUrl, flashVer: cmd.flashVer }, 'RTMP connect');
  }

  private onCreateStream(c: RtmpCommand): void {
    this.connection.sendCommand(0, '_result', c.transactionId, null, this.nextStreamId++);
  }

  private async onPublish(c: RtmpCommand): Promise<void> {
    const raw = c.args[1];
    if (!this.app || this.publishing || this.publishPending || typeof raw !== 'string') {
      return this.refusePublish(c.streamId, 'BadName', 'publish without connect, twice, or without a name');
    }
    if (!this.ctx.acceptingPublishers()) {
      return this.refusePublish(c.streamId, 'RateLimited', 'server is draining; reconnect to another instance');
    }
    const { name: key, query } = splitStreamName(raw);
    this.publishPending = true;
    let decision: PublishDecision;
    try {
      decision = await this.ctx.authorizePublish(this.app, key, this.ctx.remoteAddress, query, this.connection.serverNonce);
    } catch (err) {
      this.log.error({ err }, 'publish authorization failed');
      decision = { ok: false, code: 'Unauthorized', reason: 'authorization unavailable' };
    } finally {
      this.publishPending = false;
    }
    if (this.connection.isClosed) return;
    if (!decision.ok) return this.refusePublish(c.streamId, decision.code, decision.reason);

    const result = this.ctx.hub.startPublish(this.app, decision.streamId, {
      protocol: this.ctx.protocol,
      remoteAddress: this.ctx.remoteAddress,
      disconnect: (reason) => this.kick(reason),
    });
    if (!result.ok) return this.refusePublish(c.streamId, 'BadName', result.reason);
    this.publishing = { stream: result.stream, streamId: c.streamId };
    this.connection.sendUserControl(UserControlEvent.StreamBegin, c.streamId);
    this.sendStatus(c.streamId, 'status', 'NetStream.Publish.Start', `${decision.streamId} is now published.`);
    if (result.replaced) {
      this.log.warn({ stream: result.stream.path, replaced: { protocol: result.replaced.protocol, remoteAddress: result.replaced.remoteAddress } },
        'publish took over from a silent publisher');
    }
    this.log.info({ stream: result.stream.path }, 'publish started');
  }

  private refusePublish(streamId: number, code: keyof typeof PUBLISH_REFUSAL_CODES, reason: string): void {
    this.log.warn({ code, reason }, 'publish refused');
    this.ctx.onPublishRefused?.(code);
    this.sendStatus(streamId, 'error', PUBLISH_REFUSAL_CODES[code]!, reason);
    // Give the client time to read the status before the connection goes.
    setTimeout(() => this.connection.close(`publish refused: ${reason}`), 200).unref();
  }

  private async onPlay(c: RtmpCommand, rawName: AmfValue): Promise<void> {
    if (!this.app || typeof rawName !== 'string' || this.publishing) {
      this.sendStatus(c.streamId, 'error', 'NetStream.Play.Failed', 'play without connect or name');
      return;
    }
    const { name, query } = splitStreamName(rawName);
    if (!isValidStreamName(name)) {
      this.sendStatus(c.streamId, 'error', 'NetStream.Play.StreamNotFound', 'invalid stream name');
      return;
    }
    let allowed: boolean;
    try {
      allowed = await this.ctx.authorizePlay(this.app, name, query, this.ctx.remoteAddress);
    } catch (err) {
      this.log.error({ err }, 'play authorization failed');
      allowed = false; // unknown is not allowed: a private stream must not open on a table outage
    }
    if (this.connection.isClosed) return;
    if (!allowed) {
      this.sendStatus(c.streamId, 'error', 'NetStream.Play.Failed', 'play token missing, invalid or expired');
      this.connection.close('play refused');
      return;
    }
    this.stopPlaying();
    const streamId = c.streamId;
    this.connection.sendUserControl(UserControlEvent.StreamIsRecorded, streamId);
    this.connection.sendUserControl(UserControlEvent.StreamBegin, streamId);
    this.sendStatus(streamId, 'status', 'NetStream.Play.Reset', `Playing and resetting ${name}.`);
    this.sendStatus(streamId, 'status', 'NetStream.Play.Start', `Started playing ${name}.`);
    this.connection.sendRaw(5, MessageType.DataAmf0, streamId, 0, encodeAmf0('|RtmpSampleAccess', true, true));
    this.connection.sendRaw(5, MessageType.DataAmf0, streamId, 0,
      encodeAmf0('onStatus', statusInfo('status', 'NetStream.Data.Start', 'Started playing.')));

    const app = this.app;
    // The viewer may wait for its stream to start, so it is looked up on the
    // first packet and kept: the hub's lookup builds a key string per call.
    let viewed: LiveStream | undefined;
    const hasVideo = () => (viewed ??= this.ctx.hub.get(app, name))?.hasVideo ?? true;
    const deadlineMs = this.ctx.liveDeadlineMs ?? 0;
    const deadline = deadlineMs > 0 && this.connection.hasSendQueueDepth
      ? new LiveDeadlineGate(deadlineMs, (kind, ageMs, dropped) =>
        this.log.info({ stream: `${app}/${name}`, kind, queueAgeMs: Math.round(ageMs), dropped }, 'media past the live deadline: dropping late frames'))
      : undefined;
    if (deadline && this.connection.transport instanceof KcpStream) watchKcpDeadline(this.connection.transport, deadline);
    const viewer: RtmpViewer = new RtmpViewer(this.ctx.protocol, this.connection, streamId, this.ctx.maxViewerBacklogBytes, hasVideo,
      (reason) => this.onViewedStreamEnded(viewer, reason), this.ctx.egress, this.ctx.writeFlusher, deadline);
    this.playing = { viewer, app, name, query, streamId };
    this.ctx.hub.subscribe(app, name, viewer, true);
    if (!this.ctx.hub.get(app, name)) this.awaitPublisher(viewer);
    this.log.info({ stream: `${app}/${name}` }, 'play started');
  }

  /**
   * A play of a stream that is not live waits for its publisher (a viewer
   * may arrive first; relay edges pull on demand), but not forever: after
   * playWaitMs the client hears NetStream.Play.StreamNotFound and the
   * connection closes, so ffprobe, rtmpdump and players report it instead of
   * hanging.
   */
  private awaitPublisher(viewer: RtmpViewer): void {
    this.clearPlayWait();
    this.playWaitTimer = setTimeout(() => {
      this.playWaitTimer = null;
      const playing = this.playing;
      if (playing?.viewer !== viewer || this.ctx.hub.get(playing.app, playing.name)) return;
      this.stopPlaying();
      this.sendStatus(playing.streamId, 'error', 'NetStream.Play.StreamNotFound',
        `${playing.app}/${playing.name} is not live (waited ${Math.round(this.ctx.playWaitMs / 1000)} s for its publisher)`);
      this.log.info({ stream: `${playing.app}/${playing.name}`, waitedMs: this.ctx.playWaitMs }, 'play ended: stream not found');
      setTimeout(() => this.connection.close('play of a stream that is not live'), 200).unref();
    }, this.ctx.playWaitMs);
    this.playWaitTimer.unref();
  }

  private clearPlayWait(): void {
    if (this.playWaitTimer) clearTimeout(this.playWaitTimer);
    this.playWaitTimer = null;
  }

  /** play2 switches the stream being played (used by Flash's dynamic streaming). */
  private onPlay2(c: RtmpCommand): void {
    const params = (c.args[1] ?? {}) as AmfObject;
    void this.onPlay(c, params.streamName);
  }

  private onViewedStreamEnded(viewer: RtmpViewer, reason: string): void {
    if (this.playing?.viewer !== viewer) return;
    const { streamId, name } = this.playing;
    this.playing = null;
    this.connection.sendUserControl(UserControlEvent.StreamEof, streamId);
    this.sendStatus(streamId, 'status', 'NetStream.Play.UnpublishNotify', `${name} is now unpublished.`);
    this.sendStatus(streamId, 'status', 'NetStream.Play.Stop', `Stopped playing ${name}.`);
    this.log.info({ stream: name, reason, dropped: viewer.backpressure.droppedPackets }, 'play ended');
    // Players treat Play.Stop as the end; close shortly after so they need not.
    setTimeout(() => this.connection.close(`stream ended: ${reason}`), 1000).unref();
  }

  private onMedia(m: RtmpMessage): void {
    const publishing = this.publishing;
    if (!publishing) return; // media from a session that is not publishing is ignored
    if (m.type === MessageType.DataAmf0 || m.type === MessageType.DataAmf3) {
      this.onDataMessage(publishing.stream, m);
      return;
    }
    publishing.stream.push(new MediaPacket(m.type, m.timestamp, m.payload));
  }

  /** Keeps onMetaData (dropping the @setDataFrame wrapper, as viewers expect); other data is relayed as is. */
  private onDataMessage(stream: LiveStream, m: RtmpMessage): void {
    const values = decodeDataMessage(m);
    const [first, second, third] = values;
    if (first === '@setDataFrame' && second === 'onMetaData' || first === 'onMetaData') {
      const meta = ((first === 'onMetaData' ? second : third) ?? {}) as AmfObject;
      stream.metadataInfo = summarizeMetadata(meta);
      const payload = Buffer.concat([encodeAmf0('onMetaData'), encodeAmf0EcmaArray({ ...meta, server: 'Bridgecast' })]);
      stream.push(new MediaPacket(18, m.timestamp, payload));
      return;
    }
    if (m.type === MessageType.DataAmf0) stream.push(new MediaPacket(18, m.timestamp, m.payload));
  }

  private sendStatus(streamId: number, level: 'status' | 'error', code: string, description: string): void {
    this.connection.sendCommand(streamId, 'onStatus', 0, null, statusInfo(level, code, description));
  }

  private stopStreams(command: string): void {
    this.stopPublishing(`${command} from publisher`);
    this.stopPlaying();
  }

  private stopPublishing(reason: string): void {
    if (!this.publishing) return;
    const { stream } = this.publishing;
    this.publishing = null;
    this.ctx.hub.endPublish(stream, reason);
    this.log.info({ stream: stream.path, reason, packets: stream.packetsIn }, 'publish ended');
  }

  private stopPlaying(): void {
    this.clearPlayWait();
    if (!this.playing) return;
    const { viewer, app, name } = this.playing;
    this.playing = null;
    this.ctx.hub.unsubscribe(app, name, viewer);
  }

  /** The server ends this session (revoked key, shutdown, drain). */
  kick(reason: string): void {
    if (this.publishing) {
      this.sendStatus(this.publishing.streamId, 'error', 'NetStream.Publish.Stop', reason);
    }
    this.stopPublishing(reason);
    this.connection.close(reason);
  }

  private onClose(reason: string): void {
    this.stopPublishing(`connection closed: ${reason}`);
    this.stopPlaying();
    const level = reason.startsWith('protocol error') ? 'warn' : 'debug';
    this.log[level]({ reason, bytesIn: this.connection.totalBytesReceived }, 'RTMP session closed');
  }
}

function summarizeMetadata(meta: AmfObject): StreamMetadata {
  const num = (v: AmfValue) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const str = (v: AmfValue) => (typeof v === 'string' ? v.slice(0, 64) : typeof v === 'number' ? String(v) : undefined);
  return {
    width: num(meta.width),
    height: num(meta.height),
    framerate: num(meta.framerate) ?? num(meta.videoframerate),
    videoCodec: str(meta.videocodecid),
    audioCodec: str(meta.audiocodecid),
    encoder: str(meta.encoder),
  };
}
