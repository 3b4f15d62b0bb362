import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import dynalite from 'dynalite';
import { STREAMS_TABLE_SCHEMA } from '@bridgecast/contracts';

/**
 * A DynamoDB-compatible server (dynalite, LevelDB underneath) embedded in
 * the process, for running without AWS: same SDK calls, same table schema
 * as the CDK stack. It listens on a loopback ephemeral port only.
 */
export interface LocalDynamo {
  endpoint: string;
  client: DynamoDBDocumentClient;
  tableName: string;
  close(): Promise<void>;
}

export interface LocalDynamoOptions {
  /** Data goes to `<dataDir>/dynamodb` and survives restarts; omit for an in-memory table (tests). */
  dataDir?: string;
  tableName?: string;
}

export const LOCAL_STREAMS_TABLE = 'bridgecast-streams';

/** The streams table as the contracts define it (the CDK stack declares the same). */
async function ensureStreamsTable(client: DynamoDBClient, tableName: string): Promise<void> {
  const schema = STREAMS_TABLE_SCHEMA;
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: schema.partitionKey, AttributeType: 'S' },
          { AttributeName: schema.sortKey, AttributeType: 'S' },
          { AttributeName: schema.keyHashIndex.partitionKey, AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: schema.partitionKey, KeyType: 'HASH' },
          { AttributeName: schema.sortKey, KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [
          // KEYS_ONLY: the store confirms every index hit against the base item anyway.
          { IndexName: schema.keyHashIndex.name, KeySchema: [{ AttributeName: schema.keyHashIndex.partitionKey, KeyType: 'HASH' }], Projection: { ProjectionType: schema.keyHashIndex.projection } },
        ],
      }),
    );
  } catch (err) {
    if ((err as Error).name !== 'ResourceInUseException') throw err; // already there from an earlier run
  }
}

export async function startLocalDynamo(options: LocalDynamoOptions = {}): Promise<LocalDynamo> {
  const tableName = options.tableName ?? LOCAL_STREAMS_TABLE;
  let dbPath: string | undefined;
  if (options.dataDir) {
    dbPath = path.join(options.dataDir, 'dynamodb');
    await mkdir(dbPath, { recursive: true });
  }
  // Tables become ACTIVE at once instead of after dynalite's simulated 500 ms.
  const server = dynalite({ path: dbPath, createTableMs: 0, updateTableMs: 0, deleteTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // dynalite checks that requests are signed, not by whom.
  const raw = new DynamoDBClient({ endpoint, region: 'local', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  const close = async () => {
    raw.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  try {
    await ensureStreamsTable(raw, tableName);
  } catch (err) {
    await close();
    throw err;
  }
  const client = DynamoDBDocumentClient.from(raw, { marshallOptions: { removeUndefinedValues: true } });
  return { endpoint, client, tableName, close };
}
