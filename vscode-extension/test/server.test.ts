import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DOCUMENT_SELECTOR, serverEnvironment } from '../src/server';

describe('the server process', () => {
  it('selects datasets by language and by file pattern, on disk and untitled', () => {
    const filters = DOCUMENT_SELECTOR as { scheme?: string; language?: string; pattern?: string }[];
    for (const language of ['csv', 'tsv', 'jsonl']) {
      assert.ok(filters.some((filter) => filter.language === language && filter.scheme === 'file'));
      assert.ok(filters.some((filter) => filter.language === language && filter.scheme === 'untitled'));
    }
    assert.ok(filters.some((filter) => filter.pattern === '**/*.{csv,tsv,tab,jsonl,ndjson}'));
  });

  it('never reaches a model hub, and keeps the user environment', () => {
    const env = serverEnvironment({ PATH: '/usr/bin', HF_HUB_OFFLINE: '0' });
    assert.equal(env.PATH, '/usr/bin');
    assert.equal(env.TRANSFORMERS_OFFLINE, '1');
    assert.equal(env.HF_HUB_OFFLINE, '0', "a user's explicit choice wins");
  });
});

describe('a crashed server', () => {
  it('is restarted, up to five times in three minutes', async () => {
    // Loaded here, not at the top: the language client needs the vscode mock's fallbacks.
    const { LensServer } = await import('../src/server');
    const { CloseAction } = await import('vscode-languageclient/node');
    const statuses: unknown[] = [];
    const log = { info() {}, warn() {}, error() {}, show() {} } as any;
    const server = new LensServer(log, { onStatus: (status) => statuses.push(status), onReady() {} });
    const onClosed = () => (server as any).onServerClosed();
    for (let crash = 1; crash <= 5; crash++) {
      assert.equal(onClosed().action, CloseAction.Restart, `crash ${crash}`);
    }
    const sixth = onClosed();
    assert.equal(sixth.action, CloseAction.DoNotRestart);
    assert.match(sixth.message, /Restart Server/);
    assert.deepEqual(statuses.at(-1), { state: 'error', message: sixth.message });
  });
});
