import { parseArgs } from 'node:util';
import { describeLinkState, type LinkReporter } from '../relay/link-state.js';
import { parseRelayUrl } from '../relay/relay-config.js';

/** `host:port` (a bare port means 127.0.0.1) → parts. */
export function parseListen(raw: string, flag: string): { host: string; port: number } {
  const match = /^(?:\[?([^\]]*)\]?:)?(\d+)$/.exec(raw);
  const port = Number(match?.[2]);
  if (!match || !Number.isInteger(port) || port > 65535) throw new Error(`${flag} must be host:port, got "${raw}"`);
  return { host: match[1] || '127.0.0.1', port };
}

/** One human-readable line per state change on stdout. */
export function printLinkStates(write: (line: string) => void = (l) => process.stdout.write(l)): LinkReporter {
  return (change) => write(`${new Date().toISOString().slice(11, 19)} ${describeLinkState(change)}\n`);
}

export interface BridgeArgs {
  server: URL;
  listen: { host: string; port: number };
  rtmpListen?: { host: string; port: number };
  idleSeconds?: number;
}

/** Parses a bridge's flags; on --help or an error prints `usage` and returns the exit code instead. */
export function parseBridgeArgs(argv: string[], usage: string, withPullFlags: boolean): { args: BridgeArgs } | { code: number } {
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        server: { type: 'string' },
        listen: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        ...(withPullFlags ? { 'rtmp-listen': { type: 'string' }, idle: { type: 'string' } } : {}),
      },
      strict: true,
    });
    if (values.help) {
      process.stdout.write(usage);
      return { code: 0 };
    }
    if (typeof values.server !== 'string' || typeof values.listen !== 'string') throw new Error('--server and --listen are required');
    const rtmpListen = values['rtmp-listen'];
    const idle = values.idle;
    const idleSeconds = typeof idle === 'string' ? Number(idle) : undefined;
    if (idleSeconds !== undefined && !(idleSeconds >= 0)) throw new Error('--idle must be a number of seconds');
    return {
      args: {
        server: parseRelayUrl(values.server),
        listen: parseListen(values.listen, '--listen'),
        rtmpListen: typeof rtmpListen === 'string' ? parseListen(rtmpListen, '--rtmp-listen') : undefined,
        idleSeconds,
      },
    };
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${usage}`);
    return { code: 2 };
  }
}

/** Runs until SIGINT/SIGTERM, then closes. */
export function runUntilSignal(close: () => Promise<void>): Promise<number> {
  return new Promise((resolve) => {
    const stop = (signal: string) => {
      process.stdout.write(`${signal}: stopping\n`);
      void close().then(() => resolve(0));
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}
