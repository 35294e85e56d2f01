export { tf, setupBackend, loadSafetensors, saveSafetensors } from '@partialnet/core';
export { PartialNet, type PartialNetConfig } from '../src/index.js';
