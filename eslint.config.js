// ESLint for the browser client (`make lint`). The client has no build step, so what is linted is
// exactly what the browser loads: ES modules with browser globals only.
import js from "@eslint/js";
import { defineConfig, globalIgnores } from "eslint/config";
import globals from "globals";

// Card titles, names and messages are other people's text: it reaches the page as text nodes
// (ui.js `el`), never as markup.
const markup = "builds markup from strings; use el() from ui.js, which makes text nodes";

export default defineConfig([
  globalIgnores(["web/vendor/", "node_modules/", ".venv/", ".run/", "test-artifacts/"]),
  {
    files: ["web/**/*.js"],
    extends: [js.configs.recommended],
    languageOptions: {
      ecmaVersion: 2024,
      sourceType: "module",
      globals: globals.browser,
    },
    linterOptions: { reportUnusedDisableDirectives: "error" },
    rules: {
      "array-callback-return": "error",
      eqeqeq: "error",
      "no-constructor-return": "error",
      // The CSP's script-src has no 'unsafe-eval': these would throw in the browser.
      "no-eval": "error",
      "no-implied-eval": "error",
      "no-new-func": "error",
      "no-promise-executor-return": "error",
      "no-restricted-properties": [
        "error",
        { property: "innerHTML", message: markup },
        { property: "outerHTML", message: markup },
        { property: "insertAdjacentHTML", message: markup },
        { object: "document", property: "write", message: markup },
      ],
      "no-self-compare": "error",
      "no-template-curly-in-string": "error",
      "no-throw-literal": "error",
      "no-unmodified-loop-condition": "error",
      "no-unreachable-loop": "error",
      // Functions are hoisted; a class or a `let`/`const` read before its line throws.
      "no-use-before-define": ["error", { functions: false, classes: true, variables: true }],
      "prefer-promise-reject-errors": "error",
    },
  },
  {
    files: ["eslint.config.js"],
    extends: [js.configs.recommended],
    languageOptions: { sourceType: "module", globals: globals.node },
  },
]);
