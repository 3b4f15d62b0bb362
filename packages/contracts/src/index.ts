/**
 * What two Bridgecast deployables must agree on, stated once. Each file is
 * one contract; the infra, the media service and the Lambdas import it
 * instead of restating names, prefixes and shapes.
 */
export * from './api-error.js';
export * from './broadcast-id.js';
export * from './hls-layout.js';
export * from './streams-table.js';
export * from './vod-playlist.js';
