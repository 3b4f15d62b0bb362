/**
 * `bridgecast <command>`. Each command lives in its own module under cli/
 * and is loaded only when used, so `serve` does not pay for the others.
 */
const COMMANDS: Record<string, { summary: string; run: (argv: string[]) => Promise<number> }> = {
  serve: {
    summary: 'run the media service (RTMP, RTMP over KCP, HTTP-FLV, HLS, API)',
    run: async (argv) => (await import('./cli/serve.js')).runServe(argv),
  },
  'kcp-push': {
    summary: 'local RTMP in, KCP out: lets OBS/ffmpeg publish over KCP',
    run: async (argv) => (await import('./cli/kcp-push.js')).runKcpPush(argv),
  },
  'kcp-pull': {
    summary: 'KCP in, local HTTP-FLV/RTMP out: lets ffplay/VLC/browsers watch over KCP',
    run: async (argv) => (await import('./cli/kcp-pull.js')).runKcpPull(argv),
  },
  keys: {
    summary: 'issue, list, rotate and revoke stream keys (local server or deployed API)',
    run: async (argv) => (await import('./cli/keys.js')).runKeysCommand(argv),
  },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`);
  return `Usage: bridgecast <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nRun "bridgecast <command> --help" for a command's options.\n`;
}

const [command = 'serve', ...rest] = process.argv.slice(2);
if (command === 'help' || command === '--help' || command === '-h') {
  process.stdout.write(usage());
} else if (!COMMANDS[command]) {
  process.stderr.write(`unknown command "${command}"\n\n${usage()}`);
  process.exitCode = 2;
} else {
  const code = await COMMANDS[command].run(rest);
  // Listeners and timers of a finished command must not keep the process alive.
  process.exit(code);
}
