import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeEach, describe, it } from 'node:test';
import {
  checkInterpreter,
  DEFAULT_PYTHON,
  expandInterpreterPath,
  findInterpreter,
  interpreterProblemMessage,
  pythonExtensionInterpreter,
} from '../src/interpreter';
import * as mock from './vscode-mock';

const repoRoot = path.resolve(__dirname, '..', '..', '..');
const repoPython = path.join(repoRoot, '.venv', 'bin', 'python');

describe('finding the interpreter', () => {
  beforeEach(() => mock.resetMock());

  it('prefers lens.interpreter', async () => {
    const found = await findInterpreter('/opt/py/bin/python', '/ws', async () => '/from/python/extension');
    assert.deepEqual(found, { path: '/opt/py/bin/python', source: 'setting' });
  });

  it("falls back to the Python extension's active interpreter", async () => {
    const found = await findInterpreter('  ', '/ws', async () => '/envs/a/bin/python');
    assert.deepEqual(found, { path: '/envs/a/bin/python', source: 'python-extension' });
  });

  it('falls back to python3', async () => {
    const found = await findInterpreter('', '/ws', async () => undefined);
    assert.deepEqual(found, { path: DEFAULT_PYTHON, source: 'default' });
  });

  it('expands ${workspaceFolder}, ~ and relative paths', () => {
    assert.equal(expandInterpreterPath('${workspaceFolder}/.venv/bin/python', '/ws'), '/ws/.venv/bin/python');
    assert.equal(expandInterpreterPath('~/py/bin/python', '/ws'), path.join(os.homedir(), 'py/bin/python'));
    assert.equal(expandInterpreterPath('.venv/bin/python', '/ws'), '/ws/.venv/bin/python');
    assert.equal(expandInterpreterPath('python3.11', '/ws'), 'python3.11', 'a bare command is looked up on PATH');
  });

  it("asks the Python extension's environments API", async () => {
    mock.installedExtensions.set('ms-python.python', {
      isActive: true,
      exports: {
        environments: {
          getActiveEnvironmentPath: () => ({ id: 'venv', path: '/envs/b' }),
          resolveEnvironment: async () => ({ executable: { uri: { fsPath: '/envs/b/bin/python' } } }),
        },
      },
    });
    assert.equal(await pythonExtensionInterpreter(), '/envs/b/bin/python');
  });

  it('ignores a missing or failing Python extension', async () => {
    assert.equal(await pythonExtensionInterpreter(), undefined);
    mock.installedExtensions.set('ms-python.python', { isActive: false, activate: async () => { throw new Error('boom'); } });
    assert.equal(await pythonExtensionInterpreter(), undefined);
  });
});

describe('checking the interpreter', () => {
  it('reports an interpreter that does not exist, with what to set', async () => {
    const interpreter = { path: '/nonexistent/python', source: 'setting' as const };
    const check = await checkInterpreter(interpreter.path);
    assert.equal(check.ok, false);
    assert.equal(!check.ok && check.reason, 'not-found');
    const message = interpreterProblemMessage(interpreter, check);
    assert.match(message, /\/nonexistent\/python/);
    assert.match(message, /lens\.interpreter/);
  });

  it('reports a Python without Lens, with the install command', async () => {
    // A Python that surely lacks the server: one told to ignore every installed package.
    const python = fs.mkdtempSync(path.join(os.tmpdir(), 'lens-nopkg-'));
    const script = path.join(python, 'python');
    fs.writeFileSync(script, '#!/bin/sh\nexec python3 -I -S "$@"\n', { mode: 0o755 });
    try {
      const interpreter = { path: script, source: 'default' as const };
      const check = await checkInterpreter(script);
      assert.equal(!check.ok && check.reason, 'import-failed');
      assert.match(!check.ok ? check.detail : '', /No module named/);
      const message = interpreterProblemMessage(interpreter, check);
      assert.match(message, /-m pip install/);
      assert.match(message, /lens\.interpreter/);
    } finally {
      fs.rmSync(python, { recursive: true, force: true });
    }
  });

  it('accepts the repository environment', { skip: !fs.existsSync(repoPython) && 'no .venv' }, async () => {
    assert.deepEqual(await checkInterpreter(repoPython), { ok: true });
  });
});
