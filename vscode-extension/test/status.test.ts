import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { statusPresentation } from '../src/status';
import * as mock from './vscode-mock';

describe('the language status item', () => {
  it('shows models loading as busy', () => {
    const shown = statusPresentation({ state: 'loading', message: 'Loading spaCy' });
    assert.equal(shown.text, 'Lens: loading models');
    assert.equal(shown.detail, 'Loading spaCy');
    assert.equal(shown.busy, true);
  });

  it('shows ready with the device', () => {
    assert.equal(statusPresentation({ state: 'ready', device: 'cpu' }).text, 'Lens: ready · CPU');
    assert.equal(statusPresentation({ state: 'ready', device: 'cuda' }).text, 'Lens: ready · GPU');
    assert.equal(statusPresentation({ state: 'ready', device: 'cpu' }).busy, false);
  });

  it('shows errors with error severity', () => {
    const shown = statusPresentation({ state: 'error', message: 'cannot import server' });
    assert.equal(shown.severity, mock.LanguageStatusSeverity.Error);
    assert.equal(shown.busy, false);
  });
});
