// ESLint flat config: neostandard (the standard style the @fastify plugins follow), with TypeScript.
'use strict'

const neostandard = require('neostandard')

module.exports = [
  ...neostandard({ ts: true, ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.tap/**', 'test-artifacts/**'] }),
  {
    rules: {
      // `void promise` marks a promise deliberately not awaited (its errors are handled inside).
      'no-void': ['error', { allowAsStatement: true }],
      // TypeBox's idiom names a schema and its static type alike (`const Ref` and `type Ref`);
      // TypeScript itself refuses a real redeclaration.
      '@typescript-eslint/no-redeclare': 'off'
    }
  }
]
