/**
 * This task's private address, where the other tasks pull its streams from.
 * CLUSTER_ADDRESS wins (a local cluster: 127.0.0.1); in ECS the container
 * metadata endpoint v4 names it: with awsvpc networking (Fargate) the
 * container's `Networks[0].IPv4Addresses[0]` is the task ENI's private IP.
 * https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-metadata-endpoint-v4-fargate-response.html
 */
export async function resolveTaskAddress(explicit: string | undefined, metadataUri: string | undefined, fetchImpl: typeof fetch = fetch): Promise<string> {
  if (explicit) return explicit;
  if (!metadataUri) throw new Error('a cluster task needs CLUSTER_ADDRESS or the ECS metadata endpoint (ECS_CONTAINER_METADATA_URI_V4) to know its private address');
  const res = await fetchImpl(metadataUri, { signal: AbortSignal.timeout(2000) });
  if (!res.ok) throw new Error(`container metadata: HTTP ${res.status}`);
  const container = (await res.json()) as { Networks?: { IPv4Addresses?: string[] }[] };
  const address = container.Networks?.[0]?.IPv4Addresses?.[0];
  if (!address) throw new Error('container metadata names no IPv4 address (Networks[0].IPv4Addresses)');
  return address;
}
