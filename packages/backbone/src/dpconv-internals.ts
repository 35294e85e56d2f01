// '@partialnet/backbone/dpconv': the DPConv split search's module, mask arithmetic and loss parts
// (the training hooks users call are on the main entry).
export {
  DPConv,
  dpconvLayers,
  steSign,
  kron,
  gateMask,
  kroneckerMaskHost,
  gateStates,
  cDivOf,
  firstIllegalGate,
  assertDPConvWidth,
  type DPConvOptions,
} from './dpconv.js';
export { dpconvLosses, combineDPConvLoss, complexityExponent, type DPConvLosses } from './dpconv-loss.js';
export { bakeSplitsDetailed, learnedNDivPerBlock, type BakeResult, type SplitTableOptions } from './dpconv-bake.js';
