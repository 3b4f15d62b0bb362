/** The stream-keys API as a library: the handler factory and the store, also embedded by the media service (its local API). The Lambda's entry is `./lambda` (index.ts). */
export * from './handler.js';
export * from './keys.js';
export * from './store.js';
export * from './urls.js';
export * from './validation.js';
export * from './playback-credentials.js';
export * from './publish-proof.js';
