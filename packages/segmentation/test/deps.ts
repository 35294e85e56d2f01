export { setupBackend, tf } from '@partialnet/core';
export { stageWidth } from '@partialnet/backbone';
