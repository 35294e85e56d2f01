import { describe, expect, it } from 'vitest';
import { Progress } from '../src/index.js';

function capture(tty: boolean) {
  const chunks: string[] = [];
  return { chunks, stream: { write: (c: string) => chunks.push(c), isTTY: tty, columns: 120 } };
}

describe('Progress', () => {
  it('redraws one line with percent, rate, ETA and fields on a terminal', () => {
    let now = 0;
    const { chunks, stream } = capture(true);
    const p = new Progress({ total: 10, label: 'train', unit: 'img', stream, now: () => now, redrawMs: 0 });
    now = 1000;
    p.tick(5, { loss: 0.5 });
    const line = chunks.at(-1)!;
    expect(line).toMatch(/^\r/);
    expect(line).toMatch(/train/);
    expect(line).toMatch(/50%/);
    expect(line).toMatch(/5\/10/);
    expect(line).toMatch(/5(\.0+)? img\/s/);
    expect(line).toMatch(/eta 0:01/);
    expect(line).toMatch(/loss=0\.5/);
    p.done();
    expect(chunks.join('')).toMatch(/\n$/);
  });

  it('writes occasional plain lines when not on a terminal', () => {
    let now = 0;
    const { chunks, stream } = capture(false);
    const p = new Progress({ total: 100, stream, now: () => now, logEverySec: 10 });
    for (let i = 0; i < 100; i++) {
      now += 500;
      p.tick();
    }
    p.done();
    // 50 s of work at one line per 10 s, plus the final line; never a carriage return.
    expect(chunks.length).toBeGreaterThanOrEqual(5);
    expect(chunks.length).toBeLessThanOrEqual(7);
    expect(chunks.join('')).not.toContain('\r');
    expect(chunks.join('')).toMatch(/100\/100[^\n]*\n$/);
  });
});
