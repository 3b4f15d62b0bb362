import path from 'node:path';
import type { MediaConfig } from '../config.js';
import type { Logger } from '../logger.js';
import { LocalObjectStore } from './local-object-store.js';
import type { ObjectStore } from './object-store.js';
import { S3ObjectStore } from './s3-object-store.js';

/** Where HLS goes: S3 when HLS_BUCKET is set (through the on-disk spool), else DATA_DIR/hls. */
export async function openHlsStore(config: MediaConfig, logger: Logger): Promise<ObjectStore> {
  if (!config.hlsBucket) return new LocalObjectStore(path.join(config.dataDir, 'hls'));
  return S3ObjectStore.open({
    bucket: config.hlsBucket,
    prefix: config.hlsPrefix,
    spoolDir: path.join(config.dataDir, 'spool'),
    maxSpoolBytes: config.hlsSpoolBytes,
    logger: logger.child({ component: 's3-upload' }),
    client: {
      region: config.awsRegion,
      ...(config.s3Endpoint ? { endpoint: config.s3Endpoint, forcePathStyle: true } : {}),
    },
  });
}
