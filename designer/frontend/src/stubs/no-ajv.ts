// @rjsf/core's index re-exports a test helper (getTestRegistry) that imports
// @rjsf/validator-ajv8, a package it lists only as a dev dependency. The designer does not
// use that helper, nor ajv: ajv compiles schemas with `new Function`, which the designer's
// Content-Security-Policy forbids (see editor/validator.ts). This stub satisfies the import.
const validator = new Proxy(
  {},
  {
    get() {
      throw new Error("@rjsf/validator-ajv8 is not bundled; use editor/validator.ts");
    },
  },
);
export default validator;
