import type { LiveStream } from '../hub/live-stream.js';
import type { MediaPacket } from '../hub/media-packet.js';
import type { StreamHub } from '../hub/stream-hub.js';
import type { StreamSubscriber } from '../hub/subscriber.js';
import type { Logger } from '../logger.js';
import type { ObjectMeta, ObjectStore } from '../storage/object-store.js';
import { HLS_OBJECT_META, hlsKeys, newBroadcastId, renderVodPlaylist } from '@bridgecast/contracts';
import { BroadcastMuxer, type MuxedSegment, type SkipReason } from './broadcast-muxer.js';
import { LiveWindow, maxSegmentMsFor, parseLivePlaylist, renderRecordingPlaylist, targetDurationFor, type PlaylistSegment } from './playlist.js';
import type { SegmenterLimits } from './segmenter.js';
import { OrderedWriteQueue } from './write-queue.js';

export interface HlsOptions {
  /** Target segment duration (segments follow the GOP when it is longer, up to maxSegmentSeconds). */
  segmentSeconds: number;
  /**
   * No first segment of a broadcast lasts longer: past it a segment is cut at
   * any frame, keyframe or not (default 3 x segmentSeconds). The first
   * segment fixes the broadcast's EXT-X-TARGETDURATION (its rounded
   * duration, at least segmentSeconds); later segments are cut at what that
   * target admits (target + 0.5 s).
   */
  maxSegmentSeconds?: number;
  /** Nor holds more bytes (default 32 MiB), which bounds the memory one stream can pin. */
  maxSegmentBytes?: number;
  /** Segments in the live playlist. */
  windowSegments: number;
  logger: Logger;
  /** Prepended to every object key (HLS_PREFIX); '' by default. */
  prefix?: string;
  /** Segment bytes allowed to wait for storage per stream before new segments are dropped (default 64 MiB). */
  maxQueuedBytes?: number;
  /** How long close() waits for the store to deliver everything (default 10 s). */
  flushTimeoutMs?: number;
  /** Only streams of this app are segmented (default 'live'). */
  app?: string;
  /**
   * Also write the recording's vod.m3u8 when a broadcast ends. In AWS the
   * recording indexer Lambda writes it; on local disk nothing else would,
   * and the keys API hands out its URL.
   */
  writeVodPlaylist?: boolean;
}

export interface HlsStats {
  segmentsWritten: number;
  bytesWritten: number;
  /** Segments refused because storage was too far behind (the queue bound). */
  segmentsDropped: number;
  /** Failed puts (segment, playlist or end.json). */
  writeErrors: number;
  /** Segments cut at the duration or byte cap, where no keyframe came (the next one starts mid-GOP). */
  segmentsCutAtCap: number;
  /** Broadcasts being segmented now. */
  activeBroadcasts: number;
  /** Segment bytes waiting for storage, over all broadcasts. */
  queuedBytes: number;
}

export interface HlsAttachment {
  /** Cuts and writes the last segment of every live stream, the final playlists and end.json, then flushes the store. */
  close(): Promise<void>;
  stats(): HlsStats;
}

/** Content type and caching of each object, and its key: the HLS layout every deployable shares. */
const META = HLS_OBJECT_META;

/** The application whose streams are segmented unless HlsOptions.app says otherwise. */
export const HLS_APP = 'live';

/**
 * Segments every stream the hub publishes into HLS in `store`: each segment
 * is written once under recordings/<stream>/<broadcast>/, the recording
 * playlist grows beside it and the live playlist (live/<stream>/index.m3u8)
 * slides over the same objects. All writes happen off the media path on a
 * bounded per-broadcast queue, in order, so a playlist never names a segment
 * before the segment is stored.
 */
export function attachHls(hub: StreamHub, store: ObjectStore, options: HlsOptions): HlsAttachment {
  const logger = options.logger.child({ component: 'hls' });
  const prefix = options.prefix ?? '';
  const app = options.app ?? HLS_APP;
  const counters = { segmentsWritten: 0, bytesWritten: 0, segmentsDropped: 0, writeErrors: 0, segmentsCutAtCap: 0 };
  const limits: SegmenterLimits = {
    targetMs: options.segmentSeconds * 1000,
    maxMs: (options.maxSegmentSeconds ?? 3 * options.segmentSeconds) * 1000,
    maxBytes: options.maxSegmentBytes ?? 32 * 1024 * 1024,
  };
  if (!(limits.maxMs >= limits.targetMs)) throw new Error('maxSegmentSeconds must not be below segmentSeconds');
  const broadcasts = new Map<LiveStream, BroadcastWriter>();
  /**
   * Per stream id: the live window and the write queue. Both outlive a
   * broadcast, so a reconnect continues the same playlist, and its writes
   * queue behind the previous broadcast's last ones.
   */
  const streamStates = new Map<string, { live: LiveWindow; queue: OrderedWriteQueue }>();

  /**
   * The first broadcast of a stream in this process continues the live
   * playlist an earlier process (a restart, or the task the publisher left)
   * wrote: media sequence, discontinuity sequence and window go on, and the
   * first new segment follows an EXT-X-DISCONTINUITY. Restarting at media
   * sequence 0 would make players that poll the playlist stall or skip.
   */
  const resumeLiveWindow = async (streamId: string, live: LiveWindow): Promise<void> => {
    const key = hlsKeys.livePlaylist(streamId);
    try {
      const body = await store.get(prefix + key);
      const previous = body && parseLivePlaylist(body.toString('utf8'));
      if (!previous) return;
      live.resume(previous);
      logger.info({ streamId, mediaSequence: previous.mediaSequence, segments: previous.segments.length }, 'HLS live playlist continued');
    } catch (err) {
      logger.error({ err, streamId, key }, 'could not read the existing live playlist; it restarts at media sequence 0');
    }
  };

  const put = async (key: string, body: Buffer, meta: ObjectMeta): Promise<boolean> => {
    try {
      await store.put(prefix + key, body, meta);
      counters.bytesWritten += body.length;
      return true;
    } catch (err) {
      counters.writeErrors++;
      logger.error({ err, key }, 'HLS object write failed');
      return false;
    }
  };

  class BroadcastWriter implements StreamSubscriber {
    readonly protocol = 'hls';
    readonly broadcastId = newBroadcastId();
    private readonly streamId: string;
    private readonly queue: OrderedWriteQueue;
    private readonly muxer: BroadcastMuxer;
    private readonly recording: PlaylistSegment[] = [];
    private readonly live: LiveWindow;
    /** The next stored segment follows a gap: a new broadcast (reconnect), or a dropped or failed segment. */
    private liveGap = true;
    private recordingGap = false;
    private nextSeq = 0;
    /** Fixed by the first segment (see targetDurationFor). */
    private targetDuration = 0;
    /** Wall-clock time of the next segment's first frame (EXT-X-PROGRAM-DATE-TIME), running on media time. */
    private nextProgramDateTime = 0;
    private finished = false;
    private readonly skipsLogged = new Set<SkipReason>();
    private capCutsLogged = 0;

    constructor(readonly stream: LiveStream) {
      this.streamId = stream.name;
      let state = streamStates.get(this.streamId);
      if (!state) {
        state = { live: new LiveWindow(options.windowSegments), queue: new OrderedWriteQueue(options.maxQueuedBytes ?? 64 * 1024 * 1024) };
        streamStates.set(this.streamId, state);
        const live = state.live;
        state.queue.enqueue(0, () => resumeLiveWindow(this.streamId, live)); // before any segment of the stream
      }
      this.live = state.live;
      this.queue = state.queue;
      this.muxer = new BroadcastMuxer(
        limits,
        () => stream.metadataInfo.videoCodec !== undefined,
        (segment) => this.store(segment),
        (reason, packet) => this.logSkip(reason, packet),
      );
      logger.info({ streamId: this.streamId, broadcastId: this.broadcastId }, 'HLS broadcast started');
    }

    send(packet: MediaPacket): void {
      if (!this.finished) this.muxer.push(packet);
    }

    end(reason: string): void {
      this.finish(reason);
    }

    /** Cuts the last segment and queues the final recording playlist and end.json; resolves when all is written. */
    finish(reason: string): Promise<void> {
      if (!this.finished) {
        this.finished = true;
        broadcasts.delete(this.stream);
        this.muxer.finish();
        this.queue.enqueue(0, async () => {
          // Only a broadcast that stored segments owns the live playlist (and may end it).
          if (this.recording.length > 0) {
            this.live.end();
            await put(hlsKeys.livePlaylist(this.streamId), Buffer.from(this.live.render()), META.livePlaylist);
          }
          await this.writeRecordingPlaylist(true);
          const end = { streamId: this.streamId, broadcastId: this.broadcastId, segments: this.recording.length, endedAt: new Date().toISOString() };
          if (options.writeVodPlaylist) {
            const segments = this.recording.map((r) => ({ sequence: Number.parseInt(r.uri, 10), durationSeconds: r.durationSec }));
            await put(hlsKeys.vodPlaylist(this.streamId, this.broadcastId), Buffer.from(renderVodPlaylist(segments)), META.vodPlaylist);
          }
          // Last: whoever sees end.json finds everything else in place.
          await put(hlsKeys.endMarker(this.streamId, this.broadcastId), Buffer.from(JSON.stringify(end)), META.endMarker);
          logger.info({ ...end, reason }, 'HLS broadcast ended');
        });
      }
      return this.queue.idle();
    }

    private store(segment: MuxedSegment): void {
      const seq = this.nextSeq++;
      if (seq === 0) this.fixTargetDuration(segment.durationMs);
      if (segment.forcedCut) this.countCapCut(seq, segment);
      const key = hlsKeys.segment(this.streamId, this.broadcastId, seq);
      const durationSec = segment.durationMs / 1000;
      const programDateTime = this.nextProgramDateTime;
      this.nextProgramDateTime += segment.durationMs;
      const targetDuration = this.targetDuration;
      const accepted = this.queue.enqueue(segment.body.length, async () => {
        const meta = { ...META.segment, metadata: { duration: durationSec.toFixed(3), sequence: String(seq) } };
        if (seq === 0) this.live.startBroadcast(targetDuration); // in queue order: after the previous broadcast's last writes
        if (!(await put(key, segment.body, meta))) return this.markGap();
        counters.segmentsWritten++;
        this.recording.push({ uri: `${seq}.ts`, durationSec, discontinuity: this.recordingGap || segment.discontinuity, programDateTime });
        const afterGap = this.liveGap && this.live.continuesEarlierMedia;
        this.live.add({ uri: `../../${key}`, durationSec, discontinuity: afterGap || segment.discontinuity, programDateTime });
        this.recordingGap = false;
        this.liveGap = false;
        await this.writeRecordingPlaylist(false);
        await put(hlsKeys.livePlaylist(this.streamId), Buffer.from(this.live.render()), META.livePlaylist);
      });
      if (!accepted) {
        counters.segmentsDropped++;
        logger.warn({ streamId: this.streamId, broadcastId: this.broadcastId, seq, bytes: segment.body.length, queuedBytes: this.queue.queuedBytes },
          'HLS segment dropped: storage is too far behind');
        // In queue order, so the segments already queued before the drop keep their tags.
        this.queue.enqueue(0, async () => this.markGap());
      }
    }

    /**
     * The first segment shows the publisher's GOP: the broadcast's target
     * duration follows it, and later segments are capped to what it admits.
     * A GOP that grows later (an encoder setting changed mid-stream) is then
     * cut without a keyframe, counted and logged, rather than every
     * stream's target duration being set for the worst case. Its start on
     * the wall clock is now minus its duration: the frame that ended it
     * (the next segment's first) is arriving now.
     */
    private fixTargetDuration(firstSegmentMs: number): void {
      this.targetDuration = targetDurationFor(options.segmentSeconds, firstSegmentMs / 1000);
      this.muxer.capSegmentsAt(maxSegmentMsFor(this.targetDuration));
      this.nextProgramDateTime = Date.now() - firstSegmentMs;
    }

    private countCapCut(seq: number, segment: MuxedSegment): void {
      counters.segmentsCutAtCap++;
      if (this.capCutsLogged++ > 0) return; // once per broadcast: a publisher that stopped sending keyframes does so for every segment
      logger.warn({ streamId: this.streamId, broadcastId: this.broadcastId, seq, cap: segment.forcedCut, durationMs: segment.durationMs, bytes: segment.body.length },
        'HLS segment cut at the cap without a keyframe: the publisher sends none (or only audio), or its keyframe interval grew past the target duration');
    }

    private markGap(): void {
      this.recordingGap = true;
      this.liveGap = true;
    }

    private async writeRecordingPlaylist(ended: boolean): Promise<void> {
      const body = Buffer.from(renderRecordingPlaylist(this.recording, ended, this.targetDuration));
      await put(hlsKeys.recordingPlaylist(this.streamId, this.broadcastId), body, ended ? META.endedRecording : META.growingRecording);
    }

    private logSkip(reason: SkipReason, packet: MediaPacket): void {
      if (this.skipsLogged.has(reason)) return;
      this.skipsLogged.add(reason);
      logger.warn({ streamId: this.streamId, reason, codec: packet.video?.codec ?? packet.audio?.codec }, 'HLS skips packets');
    }
  }

  const onPublish = (stream: LiveStream): void => {
    // A pull from the owner task: the owner writes the stream's HLS; a second writer would fight over its playlist.
    if (stream.app !== app || broadcasts.has(stream) || stream.publisher.clusterPull) return;
    const writer = new BroadcastWriter(stream);
    broadcasts.set(stream, writer);
    stream.addSubscriber(writer);
  };
  hub.on('publish', onPublish);
  for (const stream of hub.list()) onPublish(stream);

  return {
    async close() {
      hub.off('publish', onPublish);
      const writers = [...broadcasts.values()];
      for (const writer of writers) writer.stream.removeSubscriber(writer);
      await Promise.all([...writers.map((w) => w.finish('shutdown')), ...[...streamStates.values()].map((s) => s.queue.idle())]);
      const flushed = await store.flush(options.flushTimeoutMs ?? 10_000);
      if (!flushed) logger.warn('HLS store did not deliver every object before the flush timeout');
    },
    stats() {
      let queuedBytes = 0;
      for (const s of streamStates.values()) queuedBytes += s.queue.queuedBytes;
      return { ...counters, activeBroadcasts: broadcasts.size, queuedBytes };
    },
  };
}
