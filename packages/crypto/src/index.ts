export * from './peer-id.js';
