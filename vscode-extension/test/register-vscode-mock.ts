// Loaded with `node --require` before the tests: makes `require('vscode')` return the
// mock, since the real module only exists inside VS Code's extension host.
//
// vscode-languageclient subclasses a few dozen vscode classes when it loads; names the
// mock doesn't define resolve to an empty class, so that the client's modules load
// (the tests exercise the extension's own logic, not the client's).

import Module = require('module');
import * as mock from './vscode-mock';

const placeholders = new Map<PropertyKey, unknown>();
const vscode = new Proxy(mock as Record<PropertyKey, unknown>, {
  get(target, name) {
    if (name in target) {
      return target[name];
    }
    if (!placeholders.has(name)) {
      placeholders.set(name, class {});
    }
    return placeholders.get(name);
  },
});

const moduleInternals = Module as unknown as {
  _load: (request: string, ...rest: unknown[]) => unknown;
};
const load = moduleInternals._load;
moduleInternals._load = function (request: string, ...rest: unknown[]): unknown {
  return request === 'vscode' ? vscode : load.call(this, request, ...rest);
};
