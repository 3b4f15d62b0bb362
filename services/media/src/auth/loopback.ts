/**
 * True for addresses and host names that mean this machine: the local API
 * serves only these clients (without API_TOKEN), and the CLI signs requests
 * only to other hosts.
 */
export function isLoopback(hostOrAddress: string | undefined): boolean {
  if (!hostOrAddress) return false;
  const host = hostOrAddress.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host === '::1' || /^(::ffff:)?127\.\d+\.\d+\.\d+$/.test(host);
}
