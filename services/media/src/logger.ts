import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs for production; when stdout is a terminal (a developer
 * running `npm start`) they are pretty-printed by pino-pretty instead.
 */
export function createLogger(level: string, pretty = process.stdout.isTTY === true): Logger {
  if (pretty) {
    return pino({
      level,
      transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } },
    });
  }
  return pino({ level, base: { service: 'bridgecast-media' } });
}

/** A logger that drops everything: for tests and embedded use. */
export const silentLogger: Logger = pino({ level: 'silent' });
