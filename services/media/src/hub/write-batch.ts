/**
 * Merged writes, as SRS's "mw": a viewer's packets are collected for a few
 * milliseconds and written with one corked write (one writev syscall)
 * instead of one syscall per audio or video packet. The socket write is by
 * far the largest per-viewer cost of fan-out (the packet's bytes are
 * shared; the syscall is not), so fewer writes buy viewers per core. The
 * price is at most `windowMs` of extra delay. One timer per process, not
 * per viewer.
 */
export interface BatchSink {
  cork(): void;
  uncork(): void;
  write(chunk: Buffer): void;
}

export class WriteFlusher {
  private readonly due = new Set<ViewerWriteBatch>();
  private timer: NodeJS.Timeout | null = null;

  constructor(readonly windowMs: number) {}

  schedule(batch: ViewerWriteBatch): void {
    this.due.add(batch);
    this.timer ??= setTimeout(this.flushAll, this.windowMs);
  }

  private readonly flushAll = (): void => {
    this.timer = null;
    for (const batch of this.due) batch.flush();
    this.due.clear();
  };
}

/** One viewer's pending writes. Without a flusher (or a 0 ms window) writes go straight through. */
export class ViewerWriteBatch {
  private readonly parts: Buffer[] = [];
  /** Bytes collected but not yet handed to the socket: part of the viewer's backlog. */
  pendingBytes = 0;

  constructor(private readonly sink: BatchSink, private readonly flusher: WriteFlusher | undefined) {}

  write(chunk: Buffer): void {
    if (!this.flusher || this.flusher.windowMs === 0) {
      this.sink.write(chunk);
      return;
    }
    if (this.parts.length === 0) this.flusher.schedule(this);
    this.parts.push(chunk);
    this.pendingBytes += chunk.length;
  }

  flush(): void {
    if (this.parts.length === 0) return;
    this.sink.cork();
    for (const part of this.parts) this.sink.write(part);
    this.sink.uncork();
    this.parts.length = 0;
    this.pendingBytes = 0;
  }
}
