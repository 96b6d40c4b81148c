// The extension's package.json: what VS Code reads before any code runs.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';

const manifest = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8'));

describe('package.json', () => {
  it('names the extension', () => {
    assert.equal(manifest.name, 'lens');
    assert.equal(manifest.publisher, 'lens-tools');
    assert.equal(manifest.engines.vscode, '^1.90.0');
  });

  it('gives every setting a default and a description', () => {
    const properties = manifest.contributes.configuration.properties;
    const expected = [
      'interpreter', 'columns', 'seedColumn', 'seedValue', 'seedsFile', 'minShare', 'minRows',
      'nearDuplicateThreshold', 'semanticDuplicateThreshold', 'semanticNeighbours', 'semanticNeighbourRatio',
      'semanticWordingRatio', 'semantic', 'syntax', 'spacyModel',
      'embeddingModel', 'device', 'debounceMs', 'severity', 'trace.server',
    ];
    expected.forEach((key) => assert.ok(properties[`lens.${key}`], `lens.${key} is contributed`));
    for (const [key, property] of Object.entries<any>(properties)) {
      assert.ok(key.startsWith('lens.'), key);
      assert.ok('default' in property, `${key} has a default`);
      assert.ok(property.description || property.markdownDescription, `${key} has a description`);
    }
    assert.equal(properties['lens.minShare'].default, 0.02);
    assert.equal(properties['lens.minRows'].default, 5);
    assert.equal(properties['lens.nearDuplicateThreshold'].default, 0.85);
    assert.equal(properties['lens.semanticDuplicateThreshold'].default, 0.8);  // the engine's defaults
    assert.equal(properties['lens.semanticNeighbours'].default, 4);
    assert.equal(properties['lens.semanticNeighbourRatio'].default, 0.525);
    assert.equal(properties['lens.semanticWordingRatio'].default, 0.3);
    assert.equal(properties['lens.debounceMs'].default, 400);
    assert.deepEqual(properties['lens.device'].enum, ['auto', 'cpu', 'cuda']);
    assert.deepEqual(properties['lens.severity'].additionalProperties.enum, ['error', 'warning', 'information', 'hint', 'off']);
  });

  it('puts the commands in one "Lens" category', () => {
    const commands = new Map(manifest.contributes.commands.map((command: any) => [command.command, command]));
    for (const [id, title] of [['lens.restartServer', 'Restart Server'], ['lens.analyzeFileOnDisk', 'Analyze File on Disk'], ['lens.showClusters', 'Show Clusters']]) {
      assert.equal((commands.get(id) as any)?.title, title);
    }
    manifest.contributes.commands.forEach((command: any) => {
      assert.equal(command.category, 'Lens', command.command);
      assert.ok(command.title, `${command.command} has a title`);
    });
  });

  it('has the attribution lens settings of docs/lsp.md', () => {
    const properties = manifest.contributes.configuration.properties;
    const defaults: Record<string, unknown> = {
      model: '', adapter: '', checkpoints: [], trainingData: '', promptTemplate: '',
      method: 'datainf', topK: 10, device: 'auto', tokenHeat: false,
    };
    for (const [key, value] of Object.entries(defaults)) {
      const property = properties[`lens.attribution.${key}`];
      assert.ok(property, `lens.attribution.${key} is contributed`);
      assert.deepEqual(property.default, value, `lens.attribution.${key}'s default`);
      assert.ok(property.markdownDescription, `lens.attribution.${key} has a markdown description`);
    }
    assert.deepEqual(properties['lens.attribution.method'].enum, ['datainf', 'graddot', 'gradcos', 'bm25', 'exact']);
    assert.equal(properties['lens.attribution.method'].enumDescriptions.length, 5);
    assert.equal(properties['lens.attribution.checkpoints'].items.type, 'string');
    assert.equal(properties['lens.attribution.topK'].type, 'integer');
  });

  it('has the attribution commands, with the selection ones in the editor context menu', () => {
    const commands = new Map(manifest.contributes.commands.map((command: any) => [command.command, command]));
    for (const [id, title] of [
      ['lens.attributeSelection', 'Attribute Selection'],
      ['lens.generateAndAttribute', 'Generate and Attribute'],
      ['lens.compareSelection', 'Compare Selection with Text…'],
      ['lens.toggleTokenHeat', 'Toggle Token Heat'],
    ]) {
      assert.equal((commands.get(id) as any)?.title, title);
    }
    ['lens.revealAttribution', 'lens.openAttribution'].forEach((id) => assert.ok(commands.has(id), id));
    const context = manifest.contributes.menus['editor/context'];
    for (const id of ['lens.attributeSelection', 'lens.compareSelection']) {
      assert.equal(context.find((entry: any) => entry.command === id)?.when, 'editorHasSelection', id);
    }
    // Commands that take arguments are not for the palette.
    const hidden = manifest.contributes.menus.commandPalette.filter((entry: any) => entry.when === 'false').map((entry: any) => entry.command);
    ['lens.revealAttribution', 'lens.openAttribution'].forEach((id) => assert.ok(hidden.includes(id), id));
    // Every command a menu names is contributed.
    for (const entries of Object.values<any[]>(manifest.contributes.menus)) {
      entries.forEach((entry) => assert.ok(commands.has(entry.command), entry.command));
    }
  });

  it('contributes the dataset languages and activates on them', () => {
    const languages = Object.fromEntries(manifest.contributes.languages.map((language: any) => [language.id, language.extensions]));
    assert.deepEqual(languages, { csv: ['.csv'], tsv: ['.tsv', '.tab'], jsonl: ['.jsonl', '.ndjson'] });
    ['onLanguage:csv', 'onLanguage:tsv', 'onLanguage:jsonl', 'workspaceContains:**/*.csv', 'workspaceContains:**/*.jsonl'].forEach((event) =>
      assert.ok(manifest.activationEvents.includes(event), event));
  });

  it('has the cluster tree in the Explorer', () => {
    assert.equal(manifest.contributes.views.explorer[0].id, 'lens.clusters');
  });

  it('ships the webview assets and the compiled extension, not the sources or tests', () => {
    const ignore = fs.readFileSync(path.join(__dirname, '..', '..', '.vscodeignore'), 'utf8');
    assert.match(ignore, /^src\/\*\*$/m);
    assert.match(ignore, /^out\/test\/\*\*$/m);
    assert.doesNotMatch(ignore, /^media/m);
  });
});
