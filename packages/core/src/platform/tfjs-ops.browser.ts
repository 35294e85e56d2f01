// In a bundle tfjs-core's own ESM registration files load fine, and they are all a model needs of
// the union package (whose layers, converter and data would add megabytes to every page).
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops.js';
