import { describe, expect, it } from 'vitest';
import { parseRunInfo } from '../src/run-info.js';
import { resolveRunConfig } from '../src/run-config.js';

describe('parseRunInfo (the pure state.json check pages use)', () => {
  const state = { iter: 5, epoch: 0, batchInEpoch: 5, randomState: 1, extra: { task: 'detection', config: resolveRunConfig({ preset: 'retinanet-t0' }, 2), classNames: ['a', 'b'], categoryIds: [1, 2] } };

  it('returns the run info of a detection checkpoint', () => {
    const { info, state: s } = parseRunInfo(JSON.parse(JSON.stringify(state)), 'state.json');
    expect(s.iter).toBe(5);
    expect(info.classNames).toEqual(['a', 'b']);
    expect(info.config.model.kind).toBe('retinanet');
  });

  it('names the file and the field when it is not a detection run', () => {
    expect(() => parseRunInfo({ ...state, extra: { task: 'classification' } }, 'x/state.json')).toThrow(/x\/state\.json: field 'extra\.task': expected 'detection'/);
    expect(() => parseRunInfo({ ...state, extra: { ...state.extra, classNames: undefined } }, 'y.json')).toThrow(/y\.json: fields 'extra\.classNames'/);
    expect(() => parseRunInfo(null, 'z.json')).toThrow(/z\.json: expected a JSON object/);
  });
});
