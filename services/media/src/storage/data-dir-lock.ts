import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { StartupError } from '../config-error.js';

/**
 * One server per data directory: the embedded key store (LevelDB) and the
 * HLS tree cannot be shared, and a second instance used to die with the
 * store's "Database is closed". The lock is a pid file created exclusively;
 * one left by a process that no longer runs (a crash, SIGKILL) is taken over.
 */
export interface DataDirLock {
  release(): Promise<void>;
}

const LOCK_FILE = 'bridgecast.pid';

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, owned by someone else
  }
}

export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  await mkdir(dataDir, { recursive: true });
  const file = path.join(dataDir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(file, `${process.pid}\n`, { flag: 'wx' });
      return { release: () => rm(file, { force: true }) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number.parseInt(await readFile(file, 'utf8').catch(() => ''), 10);
    if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isRunning(holder)) {
      throw new StartupError(`DATA_DIR ${dataDir} is in use by another bridgecast (pid ${holder}): stop it, or give this one its own DATA_DIR`);
    }
    await rm(file, { force: true }); // stale: its process is gone
  }
  throw new StartupError(`DATA_DIR ${dataDir}: could not take its lock file ${LOCK_FILE}`);
}
