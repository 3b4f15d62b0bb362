import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, ProjectionType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import type { Construct } from 'constructs';
import { STREAMS_TABLE_SCHEMA, STREAMS_TABLE_TTL_ATTRIBUTE } from '@bridgecast/contracts';

/**
 * The single streams table (see the README): stream records, recordings and
 * the autoscaler's state, keyed pk/sk, with the key-hash index the media
 * service resolves stream keys through. Kept when the stack is deleted.
 */
export function streamsTable(scope: Construct): Table {
  const table = new Table(scope, 'StreamsTable', {
    partitionKey: { name: STREAMS_TABLE_SCHEMA.partitionKey, type: AttributeType.STRING },
    sortKey: { name: STREAMS_TABLE_SCHEMA.sortKey, type: AttributeType.STRING },
    billingMode: BillingMode.PAY_PER_REQUEST,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    encryption: TableEncryption.AWS_MANAGED,
    removalPolicy: RemovalPolicy.RETAIN,
    // Garbage-collects the leases of dead tasks (expiry itself is decided by expiresAt).
    timeToLiveAttribute: STREAMS_TABLE_TTL_ATTRIBUTE,
  });
  table.addGlobalSecondaryIndex({
    indexName: STREAMS_TABLE_SCHEMA.keyHashIndex.name,
    partitionKey: { name: STREAMS_TABLE_SCHEMA.keyHashIndex.partitionKey, type: AttributeType.STRING },
    projectionType: ProjectionType[STREAMS_TABLE_SCHEMA.keyHashIndex.projection],
  });
  return table;
}
