/**
 * A reason the service cannot start that the operator can fix: a setting, a
 * busy port, a data directory held by another instance. `bridgecast serve`
 * prints its message as one line and exits, without a stack trace.
 */
export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}

/** A setting that cannot be used: its variable, its value and what is allowed. */
export class ConfigError extends StartupError {
  constructor(readonly variable: string, value: string, allowed: string) {
    super(`${variable}="${value}" is not valid: ${allowed}`);
    this.name = 'ConfigError';
  }
}

/** Runs the parser of a setting read outside config.ts (KCP tuning, FEC, relays; their messages name the variable and value) so that its refusal is a StartupError. */
export function checkedSetting<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof StartupError) throw err;
    throw new StartupError((err as Error).message);
  }
}

/**
 * Listens with `listen`, turning a port another program holds (or one this
 * user may not bind) into a StartupError that names the port's variable.
 */
export async function listenOrExplain<T>(what: string, variable: string, port: number, listen: () => Promise<T>): Promise<T> {
  try {
    return await listen();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new StartupError(`${what} port ${port} is already in use (another bridgecast serve?): stop that program or set ${variable}`);
    if (code === 'EACCES') throw new StartupError(`${what} port ${port} needs privileges this user does not have: set ${variable} to 1024 or above`);
    if (code === 'EADDRNOTAVAIL') throw new StartupError(`${what}: HOST is not an address of this machine: set HOST to one of its addresses, or 0.0.0.0 for all`);
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') throw new StartupError(`${what}: HOST does not resolve to an address: set HOST to an address of this machine, or 0.0.0.0 for all`);
    throw err;
  }
}
