// Starting and stopping code-server (the VS Code workbench, served to a browser) for
// one test run: a fresh user-data and extensions folder every time (a reused one trips
// on a lock file and restores unsaved edits), bound to 127.0.0.1, no auth, no telemetry,
// and its own process group so that stopping it stops the extension host and the Lens
// server under it too.

'use strict';

const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..', '..');
const CODE_SERVER_ENTRY = path.join(REPO, '.cache', 'code-server', 'node_modules', 'code-server', 'out', 'node', 'entry.js');

/** User settings: nothing that phones home, pops up, or restores a previous session. */
const USER_SETTINGS = {
  'telemetry.telemetryLevel': 'off',
  'extensions.autoUpdate': false,
  'extensions.autoCheckUpdates': false,
  'extensions.ignoreRecommendations': true,
  'workbench.enableExperiments': false,
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'git.enabled': false,
  'git.autoRepositoryDetection': false,
  'update.mode': 'none',
  'security.workspace.trust.enabled': false,
  'window.restoreWindows': 'none',
  'files.hotExit': 'off',
  'editor.hover.delay': 200,
  'chat.disableAIFeatures': true,
};

/** Folders of one run under `root`, and the environment that keeps code-server inside them. */
function runFolders(root) {
  const folders = {
    root,
    workspace: path.join(root, 'workspace'),
    userData: path.join(root, 'user-data'),
    extensions: path.join(root, 'extensions'),
    xdg: path.join(root, 'xdg'),
  };
  for (const folder of Object.values(folders)) {
    fs.mkdirSync(folder, { recursive: true });
  }
  // Without these, code-server writes a config with a random password under the home folder.
  const env = {
    ...process.env,
    XDG_CONFIG_HOME: path.join(folders.xdg, 'config'),
    XDG_DATA_HOME: path.join(folders.xdg, 'data'),
    XDG_CACHE_HOME: path.join(folders.xdg, 'cache'),
    XDG_STATE_HOME: path.join(folders.xdg, 'state'),
  };
  return { folders, env };
}

function writeUserSettings(userData, extra) {
  const userFolder = path.join(userData, 'User');
  fs.mkdirSync(userFolder, { recursive: true });
  fs.writeFileSync(path.join(userFolder, 'settings.json'), JSON.stringify({ ...USER_SETTINGS, ...extra }, null, 2));
}

function installExtension(vsix, folders, env) {
  execFileSync(process.execPath, [
    CODE_SERVER_ENTRY,
    '--user-data-dir', folders.userData,
    '--extensions-dir', folders.extensions,
    '--install-extension', vsix,
  ], { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
}

/** A port nothing listens on right now, on 127.0.0.1. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitForHealth(url, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url);
      if (response.ok) {
        return;
      }
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`code-server did not answer ${url} within ${timeoutMs / 1000} s`);
}

/**
 * Starts code-server on the workspace; resolves to { url, pid, stop() } once /healthz answers.
 * `pid` is also the process group id (it runs under setsid semantics: detached).
 */
async function startCodeServer(folders, env, logFile) {
  const port = await freePort();
  const config = path.join(folders.root, 'code-server.yaml');
  fs.writeFileSync(config, [
    `bind-addr: 127.0.0.1:${port}`,
    'auth: none',
    'cert: false',
    'disable-telemetry: true',
    'disable-update-check: true',
    'disable-workspace-trust: true',
    'disable-getting-started-override: true',
    '',
  ].join('\n'));
  const log = fs.openSync(logFile, 'w');
  const child = spawn(process.execPath, [
    CODE_SERVER_ENTRY,
    '--config', config,
    '--user-data-dir', folders.userData,
    '--extensions-dir', folders.extensions,
    folders.workspace,
  ], { env, detached: true, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  const stop = () => stopProcessGroup(child.pid);
  try {
    await waitForHealth(`http://127.0.0.1:${port}/healthz`, 60_000);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url: `http://127.0.0.1:${port}`, pid: child.pid, stop };
}

function groupAlive(pgid) {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM to the whole group (code-server, file watcher, extension host, Lens server), then SIGKILL. */
async function stopProcessGroup(pgid) {
  if (!groupAlive(pgid)) {
    return;
  }
  process.kill(-pgid, 'SIGTERM');
  const deadline = Date.now() + 5_000;
  while (groupAlive(pgid) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (groupAlive(pgid)) {
    process.kill(-pgid, 'SIGKILL');
  }
}

/** Processes of the group whose command line contains `needle`, as [{ pid, args }]. */
function processesInGroup(pgid, needle) {
  const output = execFileSync('ps', ['-e', '-o', 'pid=,pgid=,args='], { encoding: 'utf8' });
  return output
    .split('\n')
    .map((line) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line))
    .filter((match) => match && Number(match[2]) === pgid && match[3].includes(needle))
    .map((match) => ({ pid: Number(match[1]), args: match[3] }));
}

module.exports = {
  REPO,
  CODE_SERVER_ENTRY,
  runFolders,
  writeUserSettings,
  installExtension,
  startCodeServer,
  stopProcessGroup,
  processesInGroup,
};
