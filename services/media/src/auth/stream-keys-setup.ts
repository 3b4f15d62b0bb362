import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { StreamKeyStore } from '@bridgecast/stream-keys';
import type { MediaConfig } from '../config.js';
import type { Logger } from '../logger.js';
import { startLocalDynamo } from './local-dynamo.js';
import { OpenAuthorizer, StreamKeyAuthorizer, type PublishAuthorizer } from './publish-authorizer.js';

/** Who may publish, and the table behind it when stream keys are on. */
export interface PublishAuth {
  readonly authorizer: PublishAuthorizer;
  /** The stream-keys table; undefined with AUTH=none. */
  readonly store: StreamKeyStore | undefined;
  /** True when the table is the embedded one (so this process also serves the keys API). */
  readonly embedded: boolean;
  close(): Promise<void>;
}

/**
 * AUTH=none: any safe stream name may publish. AUTH=keys: keys are resolved
 * through the streams table: the real DynamoDB table named by STREAMS_TABLE
 * in AWS, or a DynamoDB-compatible store embedded in this process (data
 * under DATA_DIR) on a laptop, so both run the very same store code.
 */
export async function setUpPublishAuth(config: MediaConfig, logger: Logger): Promise<PublishAuth> {
  if (config.auth === 'none') {
    return { authorizer: new OpenAuthorizer(), store: undefined, embedded: false, close: async () => {} };
  }
  if (config.streamsTable) {
    const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: config.awsRegion }), {
      marshallOptions: { removeUndefinedValues: true },
    });
    const store = new StreamKeyStore(client, config.streamsTable);
    return {
      authorizer: new StreamKeyAuthorizer({ store, logger }),
      store,
      embedded: false,
      close: async () => client.destroy(),
    };
  }
  const local = await startLocalDynamo({ dataDir: config.dataDir });
  logger.debug({ endpoint: local.endpoint, table: local.tableName }, 'embedded DynamoDB-compatible store started');
  const store = new StreamKeyStore(local.client, local.tableName);
  return { authorizer: new StreamKeyAuthorizer({ store, logger }), store, embedded: true, close: () => local.close() };
}
