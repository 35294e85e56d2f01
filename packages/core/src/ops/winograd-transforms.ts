/**
 * Winograd minimal filtering F(m x m, 3 x 3) (Lavin & Gray, "Fast Algorithms for Convolutional
 * Neural Networks", 2015): an m x m output tile of a 3x3 convolution from an alpha x alpha input
 * tile, alpha = m + 2, as Y = A^T [(G g G^T) . (B^T d B)] A. Per output pixel it multiplies
 * alpha^2 / m^2 times instead of 9 (4x fewer for m = 4), and across channels the elementwise
 * product becomes alpha^2 independent matrix products, which is what makes it fast: the heavy
 * part stays in the backend's GEMM.
 *
 * The matrices are the paper's, with interpolation points 0, 1, -1 (m = 2) and 0, 1, -1, 2, -2
 * plus the point at infinity (m = 4). F(4, 3)'s float32 error is a few times that of a direct
 * convolution (its points 2 and -2 scale terms by up to 8); tests bound it.
 */
export type Matrix = readonly (readonly number[])[];

export interface WinogradTransforms {
  /** Output tile side. */
  m: 2 | 4;
  /** Input tile side, m + 2. */
  alpha: number;
  /** Input transform, alpha x alpha: V = B^T d B. */
  BT: Matrix;
  /** Filter transform, alpha x 3: U = G g G^T. */
  G: Matrix;
  /** Output transform, m x alpha: Y = A^T M A. */
  AT: Matrix;
}

export const WINOGRAD_F2: WinogradTransforms = {
  m: 2,
  alpha: 4,
  BT: [
    [1, 0, -1, 0],
    [0, 1, 1, 0],
    [0, -1, 1, 0],
    [0, 1, 0, -1],
  ],
  G: [
    [1, 0, 0],
    [1 / 2, 1 / 2, 1 / 2],
    [1 / 2, -1 / 2, 1 / 2],
    [0, 0, 1],
  ],
  AT: [
    [1, 1, 1, 0],
    [0, 1, -1, -1],
  ],
};

export const WINOGRAD_F4: WinogradTransforms = {
  m: 4,
  alpha: 6,
  BT: [
    [4, 0, -5, 0, 1, 0],
    [0, -4, -4, 1, 1, 0],
    [0, 4, -4, -1, 1, 0],
    [0, -2, -1, 2, 1, 0],
    [0, 2, -1, -2, 1, 0],
    [0, 4, 0, -5, 0, 1],
  ],
  G: [
    [1 / 4, 0, 0],
    [-1 / 6, -1 / 6, -1 / 6],
    [-1 / 6, 1 / 6, -1 / 6],
    [1 / 24, 1 / 12, 1 / 6],
    [1 / 24, -1 / 12, 1 / 6],
    [0, 0, 1],
  ],
  AT: [
    [1, 1, 1, 1, 1, 0],
    [0, 1, -1, 2, -2, 0],
    [0, 1, 1, 4, 4, 0],
    [0, 1, -1, 8, -8, 1],
  ],
};

export function transpose(a: Matrix): number[][] {
  return a[0]!.map((_, j) => a.map((row) => row[j]!));
}

/**
 * kron(G, G), alpha^2 x 9: row a * alpha + b, column i * 3 + j holds G[a][i] G[b][j], so the
 * transformed filter of every (input, output) channel pair is one product with the 3x3 taps
 * flattened in HWIO order: U[alpha^2, Cin * Cout] = kron(G, G) @ g[9, Cin * Cout].
 */
export function filterTransformMatrix(t: WinogradTransforms): number[][] {
  const rows: number[][] = [];
  for (let a = 0; a < t.alpha; a++) {
    for (let b = 0; b < t.alpha; b++) {
      const row: number[] = [];
      for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) row.push(t.G[a]![i]! * t.G[b]![j]!);
      rows.push(row);
    }
  }
  return rows;
}
