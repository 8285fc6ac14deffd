export * from './media-types.js';
export * from './digest.js';
export * from './canonical-json.js';
export * from './schemas.js';
export * from './platform.js';
