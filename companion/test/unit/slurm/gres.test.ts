import { parseGresList } from '../../../src/slurm/gres';

describe('parseGresList', () => {
  it('reads typed and untyped GRES with counts', () => {
    expect(parseGresList('gpu:tesla:2')).toEqual([
      { name: 'gpu', type: 'tesla', count: 2 }
    ]);
    expect(parseGresList('gpu:4')).toEqual([
      { name: 'gpu', type: null, count: 4 }
    ]);
    expect(parseGresList('gpu')).toEqual([
      { name: 'gpu', type: null, count: 1 }
    ]);
  });

  it('drops socket and index annotations, even with commas inside them', () => {
    expect(parseGresList('gpu:a100:4(S:0-1),gpu:tesla:1(IDX:0,2)')).toEqual([
      { name: 'gpu', type: 'a100', count: 4 },
      { name: 'gpu', type: 'tesla', count: 1 }
    ]);
    expect(parseGresList('gpu:tesla:0(IDX:N/A)')).toEqual([
      { name: 'gpu', type: 'tesla', count: 0 }
    ]);
  });

  it('reads "(null)" as no GRES', () => {
    expect(parseGresList('(null)')).toEqual([]);
    expect(parseGresList('')).toEqual([]);
  });
});
