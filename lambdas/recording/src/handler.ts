import type { S3Event, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { Logger } from 'pino';
import type { RecordingIndexer } from './indexer.js';

/** S3 keys in events are URL-encoded, spaces as '+'. */
const decodeKey = (key: string) => decodeURIComponent(key.replace(/\+/g, ' '));

function objectKeys(event: S3Event | { Event?: string }): string[] {
  if (!('Records' in event) || !Array.isArray(event.Records)) return []; // s3:TestEvent and the like
  return event.Records.filter((r) => r.eventName?.startsWith('ObjectCreated')).map((r) => decodeKey(r.s3.object.key));
}

/**
 * The recording indexer's entry: SQS messages whose bodies are S3 event
 * notifications (a failed message is reported in batchItemFailures, so
 * only it is retried and, after maxReceiveCount, lands in the DLQ), or an
 * S3 event directly.
 */
export function createRecordingHandler(indexer: RecordingIndexer, logger: Logger) {
  return async (event: SQSEvent | S3Event): Promise<SQSBatchResponse | void> => {
    const first = event.Records?.[0] as { eventSource?: string } | undefined;
    if (first?.eventSource !== 'aws:sqs') {
      for (const key of objectKeys(event as S3Event)) await indexer.handleObject(key);
      return;
    }
    const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
    for (const record of (event as SQSEvent).Records) {
      try {
        for (const key of objectKeys(JSON.parse(record.body) as S3Event)) await indexer.handleObject(key);
      } catch (err) {
        logger.error({ err, messageId: record.messageId }, 'indexing failed; the message will be retried');
        batchItemFailures.push({ itemIdentifier: record.messageId });
      }
    }
    return { batchItemFailures };
  };
}
