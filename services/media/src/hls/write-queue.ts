/**
 * Runs storage writes one after another, in the order they were accepted,
 * off the media path, with a bound on the bytes waiting: when storage falls
 * that far behind, new work is refused (the caller counts and logs it)
 * instead of buffering without limit.
 */
export class OrderedWriteQueue {
  private tail: Promise<void> = Promise.resolve();
  private queued = 0;

  constructor(readonly maxQueuedBytes: number) {}

  get queuedBytes(): number { return this.queued; }

  /**
   * Queues `task` (which must not reject) accounting `bytes`; false when the
   * bound would be exceeded. Zero-byte work (playlists, markers) is never refused.
   */
  enqueue(bytes: number, task: () => Promise<void>): boolean {
    if (bytes > 0 && this.queued > 0 && this.queued + bytes > this.maxQueuedBytes) return false;
    this.queued += bytes;
    this.tail = this.tail.then(task).finally(() => { this.queued -= bytes; });
    return true;
  }

  /** Resolves when everything queued so far has run. */
  idle(): Promise<void> {
    return this.tail;
  }
}
