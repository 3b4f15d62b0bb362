/** The autoscaler as a library (its pure decision and handler factory); the Lambda's entry is `./lambda` (index.ts). */
export * from './decide.js';
export * from './handler.js';
