/** The recording indexer as a library (handler factory and indexer); the Lambda's entry is `./lambda` (index.ts). */
export * from './handler.js';
export * from './indexer.js';
