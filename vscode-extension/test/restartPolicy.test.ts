import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RestartPolicy } from '../src/restartPolicy';

describe('restarting a crashed server', () => {
  it('restarts up to the limit within the window, then stops', () => {
    let now = 0;
    const policy = new RestartPolicy(3, 60_000, () => now);
    assert.deepEqual([policy.shouldRestart(), policy.shouldRestart(), policy.shouldRestart()], [true, true, true]);
    now = 59_000;
    assert.equal(policy.shouldRestart(), false, 'a fourth crash within a minute');
  });

  it('forgets crashes older than the window', () => {
    let now = 0;
    const policy = new RestartPolicy(2, 60_000, () => now);
    policy.shouldRestart();
    policy.shouldRestart();
    now = 61_000;
    assert.equal(policy.shouldRestart(), true);
  });

  it('starts afresh after reset (a restart the user asked for)', () => {
    const policy = new RestartPolicy(1, 60_000, () => 0);
    policy.shouldRestart();
    assert.equal(policy.shouldRestart(), false);
    policy.reset();
    assert.equal(policy.shouldRestart(), true);
  });
});
