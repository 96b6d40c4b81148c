// Server answers shaped as docs/lsp.md describes them.
import { ClustersResult, RowInfo } from '../src/protocol';

export const URI = 'file:///data/music_requests.csv';

export function clustersResult(overrides: Partial<ClustersResult> = {}): ClustersResult {
  return {
    uri: URI,
    column: 'query',
    columns: ['query', 'recommended_artists'],
    similarities: ['pos', 'dep', 'token', 'embedding'],
    ks: [3, 5, 8],
    similarity: 'pos',
    k: 3,
    tree_levels: ['syntax', 'lexicon', 'semantics'],
    tree: [
      {
        id: 's1', level: 'syntax', size: 3, rows: [0, 1, 2], pattern: 'songs that make you want to VERB', support: 0.8,
        children: [
          { id: 'l1', level: 'lexicon', size: 2, rows: [0, 1], pattern: 'songs to dance', support: 1, children: [
            { id: 'm1', level: 'semantics', size: 2, rows: [0, 1], pattern: null, support: null, children: [] },
          ] },
          { id: 'l2', level: 'lexicon', size: 1, rows: [2], pattern: null, support: null, children: [] },
        ],
      },
      { id: 's2', level: 'syntax', size: 1, rows: [3], pattern: 'NOUN music', support: 1, children: [] },
    ],
    cut: {
      similarity: 'pos',
      k: 3,
      clusters: [
        { id: 0, level: 'pos', size: 2, rows: [0, 1], pattern: 'songs that make you want to VERB * NOUN', support: 0.5 },
        { id: 1, level: 'pos', size: 1, rows: [2], pattern: ['NOUN', 'music'], support: 1 },
        { id: 2, level: 'pos', size: 1, rows: [3], pattern: null, support: null },
      ],
    },
    ...overrides,
  };
}

export function rowInfo(row: number, words: [string, string, string, number][]): RowInfo {
  let start = 0;
  const tokens = words.map(([text, pos, dep, head]) => {
    const token = { text, start, pos, dep, head };
    start += text.length + 1;
    return token;
  });
  const text = words.map(([word]) => word).join(' ');
  return { row, range: { start: { line: row + 1, character: 0 }, end: { line: row + 1, character: text.length } }, text, tokens };
}

export const DANCE_ROW = rowInfo(0, [
  ['songs', 'NOUN', 'ROOT', 0],
  ['to', 'PART', 'aux', 2],
  ['dance', 'VERB', 'relcl', 0],
]);
