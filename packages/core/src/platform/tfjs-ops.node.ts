// tfjs-core registers neither gradients nor chained tensor methods (x.reshape()); its own ESM files
// that do cannot load in plain Node (extensionless imports). The union package's Node bundle
// registers both into tfjs-core's global registries.
import '@tensorflow/tfjs';
