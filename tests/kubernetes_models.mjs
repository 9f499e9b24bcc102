// Validate Kubernetes objects with the schemas of the npm packages kubernetes-models (core API)
// and @kubernetes-models/argo-rollouts (Argo Rollouts CRDs), both generated from the upstream
// API definitions, in two ways:
//   1. the packages' JSON-schema validators (types, required fields, formats, enums);
//   2. TypeScript's excess-property check against the packages' generated types, which the
//      validators lack: an unknown or misspelled field is an error, as `kubectl apply` (strict
//      field validation) would make it.
//   node tests/kubernetes_models.mjs NODE_MODULES OBJECTS.json
// OBJECTS.json is a list of objects. Prints one line per object: `ok KIND/NAME`,
// `error KIND/NAME: ...` or `no-schema APIVERSION KIND` (a kind neither package has); exits 1
// when any object has an error (tests/test_kubernetes_recipes.py).
import { readFileSync, mkdtempSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [root, objectsFile] = process.argv.slice(2);
const MODELS = {
  "argoproj.io/v1alpha1": "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1",
  "batch/v1": "kubernetes-models/batch/v1",
  "apps/v1": "kubernetes-models/apps/v1",
  "networking.k8s.io/v1": "kubernetes-models/networking.k8s.io/v1",
  v1: "kubernetes-models/v1",
};

function modelPath(object) {
  const folder = MODELS[object.apiVersion];
  if (!folder) return null;
  const path = join(root, folder, `${object.kind}.js`);
  return existsSync(path) ? path : null;
}

const objects = JSON.parse(readFileSync(objectsFile, "utf8"));
const lines = [];
let failed = false;
const typed = [];
for (const [i, object] of objects.entries()) {
  const label = `${object.kind}/${object.metadata?.name}`;
  const path = modelPath(object);
  if (path === null) {
    lines[i] = `no-schema ${object.apiVersion} ${object.kind}`;
    continue;
  }
  const module = await import(pathToFileURL(path).href);
  try {
    new module[object.kind](object).validate();
    lines[i] = `ok ${label}`;
  } catch (e) {
    lines[i] = `error ${label}: ${String(e.message).replace(/\s+/g, " ")}`;
    failed = true;
  }
  typed.push([i, label, path.replace(/\.js$/, ".d.ts"), object]);
}

if (typed.length) {
  const ts = (await import(pathToFileURL(join(root, "typescript", "lib", "typescript.js")).href))
    .default;
  const dir = mkdtempSync(join(tmpdir(), "k8s-models-"));
  const file = join(dir, "objects.ts");
  const source = typed
    .map(([i, , dts, object]) => {
      const kind = object.kind;
      return `import type { I${kind} as T${i} } from ${JSON.stringify(dts.replace(/\.d\.ts$/, ".js"))};\n` +
        `export const o${i}: T${i} = ${JSON.stringify(object)};\n`;
    })
    .join("");
  writeFileSync(file, source);
  const program = ts.createProgram([file], {
    noEmit: true,
    strict: true,
    skipLibCheck: true,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    target: ts.ScriptTarget.ES2022,
  });
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const text = ts.flattenDiagnosticMessageText(d.messageText, " ");
    let owner = null;
    if (d.file && d.file.fileName === file && d.start !== undefined) {
      const line = d.file.getLineAndCharacterOfPosition(d.start).line;
      owner = typed[Math.floor(line / 2)];
    }
    if (owner) {
      lines[owner[0]] = `error ${owner[1]}: ${text}`;
    } else {
      lines.push(`error (types): ${text}`);
    }
    failed = true;
  }
}
console.log(lines.join("\n"));
process.exit(failed ? 1 : 0);
