// The inspector form's validator: JSON Schema 2020-12 without code generation.
//
// @rjsf/validator-ajv8 compiles schemas with `new Function`, which the designer's
// Content-Security-Policy (script-src 'self', no 'unsafe-eval') forbids. @cfworker/json-schema
// interprets schemas instead, so inline validation works under the CSP. Messages are made
// here, in Chinese or English, from the failing keyword and its schema.

import { Validator } from "@cfworker/json-schema";
import type { OutputUnit, Schema } from "@cfworker/json-schema";
import { toErrorSchema } from "@rjsf/utils";
import type {
  CustomValidator,
  ErrorSchema,
  ErrorTransformer,
  RJSFSchema,
  RJSFValidationError,
  UiSchema,
  ValidationData,
  ValidatorType,
} from "@rjsf/utils";
import type { Lang } from "../i18n";

const WRAPPERS = new Set([
  "properties",
  "items",
  "prefixItems",
  "allOf",
  "$ref",
  "$dynamicRef",
  "dependentSchemas",
  "if",
  "then",
  "else",
  "contains",
  "propertyNames",
  "unevaluatedProperties",
  "unevaluatedItems",
  "additionalItems",
]);

function decodeToken(token: string): string {
  return decodeURIComponent(token).replace(/~1/g, "/").replace(/~0/g, "~");
}

function pointerTokens(location: string): string[] {
  const body = location.replace(/^#/, "");
  if (!body) return [];
  return body.split("/").slice(1).map(decodeToken);
}

function schemaAt(root: any, location: string): any {
  let node = root;
  for (const token of pointerTokens(location)) {
    if (node == null) return undefined;
    node = node[token];
  }
  return node;
}

function toProperty(tokens: string[]): string {
  return tokens.map((t) => (/^[A-Za-z_$][\w$]*$/.test(t) || /^\d+$/.test(t) ? `.${t}` : `['${t}']`)).join("");
}

function describe(lang: Lang, keyword: string, sub: any, error: string): string {
  const zh = lang === "zh";
  const value = sub ? sub[keyword] : undefined;
  switch (keyword) {
    case "required":
      return zh ? "必填" : "required";
    case "minItems":
      return zh ? `至少 ${value} 项` : `at least ${value} item(s)`;
    case "maxItems":
      return zh ? `最多 ${value} 项` : `at most ${value} items`;
    case "minLength":
      return value === 1 ? (zh ? "不能为空" : "must not be empty") : zh ? `至少 ${value} 个字符` : `at least ${value} characters`;
    case "maxLength":
      return zh ? `最多 ${value} 个字符` : `at most ${value} characters`;
    case "minimum":
      return zh ? `不能小于 ${value}` : `must be at least ${value}`;
    case "maximum":
      return zh ? `不能大于 ${value}` : `must be at most ${value}`;
    case "exclusiveMinimum":
      return zh ? `须大于 ${value}` : `must be more than ${value}`;
    case "exclusiveMaximum":
      return zh ? `须小于 ${value}` : `must be less than ${value}`;
    case "pattern":
      return zh ? `格式不对（${value}）` : `wrong format (${value})`;
    case "enum":
      return zh ? `只能是：${(value || []).join("、")}` : `must be one of: ${(value || []).join(", ")}`;
    case "const":
      return zh ? `只能是 ${JSON.stringify(value)}` : `must be ${JSON.stringify(value)}`;
    case "type": {
      const names: Record<string, [string, string]> = {
        string: ["文本", "text"],
        integer: ["整数", "a whole number"],
        number: ["数字", "a number"],
        boolean: ["是/否", "yes/no"],
        array: ["列表", "a list"],
        object: ["对象", "an object"],
        null: ["空", "empty"],
      };
      const types = (Array.isArray(value) ? value : [value]).map((t: string) => (names[t] || [t, t])[zh ? 0 : 1]);
      return zh ? `应为${types.join("或")}` : `must be ${types.join(" or ")}`;
    }
    case "additionalProperties":
      return zh ? "不允许的字段" : "field not allowed";
    case "uniqueItems":
      return zh ? "不能有重复项" : "items must be unique";
    case "not":
      return zh ? "此值不可用" : "this value is not allowed";
    case "minProperties":
      return zh ? `至少 ${value} 项` : `at least ${value} entries`;
    case "maxProperties":
      return zh ? `最多 ${value} 项` : `at most ${value} entries`;
    case "anyOf":
    case "oneOf":
      return zh ? "取值不符合要求" : "value does not fit";
    default:
      return error;
  }
}

function toRjsfErrors(lang: Lang, schema: any, units: OutputUnit[]): RJSFValidationError[] {
  const out: RJSFValidationError[] = [];
  const seen = new Set<string>();
  for (const unit of units) {
    if (WRAPPERS.has(unit.keyword)) continue;
    let tokens = pointerTokens(unit.instanceLocation);
    const keywordTokens = pointerTokens(unit.keywordLocation);
    const sub = schemaAt(schema, "#/" + keywordTokens.slice(0, -1).map(encodeURIComponent).join("/"));
    if (unit.keyword === "required") {
      const missing = /property "([^"]+)"/.exec(unit.error);
      if (missing) tokens = [...tokens, missing[1]];
    } else if (unit.keyword === "additionalProperties") {
      const extra = /Property "([^"]+)"/.exec(unit.error);
      if (extra) tokens = [...tokens, extra[1]];
    }
    const property = toProperty(tokens);
    const msg = describe(lang, unit.keyword, sub, unit.error);
    const key = `${property}|${msg}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({
      name: unit.keyword,
      property,
      message: msg,
      params: {},
      stack: `${property || "."} ${msg}`,
      schemaPath: unit.keywordLocation,
    });
  }
  return out;
}

/** rjsf's validator interface on @cfworker/json-schema. */
export class CspSafeValidator implements ValidatorType<any, RJSFSchema, any> {
  private cache = new WeakMap<object, Validator>();
  lang: Lang;

  constructor(lang: Lang) {
    this.lang = lang;
  }

  private compiled(schema: RJSFSchema, rootSchema?: RJSFSchema): Validator {
    const key = schema as object;
    let found = this.cache.get(key);
    if (!found) {
      const copy: Schema = JSON.parse(JSON.stringify(schema));
      if (rootSchema && rootSchema !== schema && (rootSchema as any).$defs && !(copy as any).$defs) {
        (copy as any).$defs = JSON.parse(JSON.stringify((rootSchema as any).$defs));
      }
      found = new Validator(copy, "2020-12", false);
      this.cache.set(key, found);
    }
    return found;
  }

  rawValidation<Result = any>(schema: RJSFSchema, formData?: any): { errors?: Result[]; validationError?: Error } {
    try {
      const result = this.compiled(schema).validate(formData);
      return { errors: result.errors as unknown as Result[] };
    } catch (exc) {
      return { validationError: exc as Error };
    }
  }

  validateFormData(
    formData: any,
    schema: RJSFSchema,
    customValidate?: CustomValidator<any, RJSFSchema, any>,
    transformErrors?: ErrorTransformer<any, RJSFSchema, any>,
    uiSchema?: UiSchema<any, RJSFSchema, any>,
  ): ValidationData<any> {
    let errors: RJSFValidationError[];
    try {
      errors = toRjsfErrors(this.lang, schema, this.compiled(schema).validate(formData).errors);
    } catch {
      errors = [];
    }
    if (transformErrors) errors = transformErrors(errors, uiSchema);
    const errorSchema: ErrorSchema<any> = toErrorSchema(errors);
    if (customValidate) {
      // custom validation is not used by the designer; keep the signature honest
      void customValidate;
    }
    return { errors, errorSchema };
  }

  isValid(schema: RJSFSchema, formData: any, rootSchema: RJSFSchema): boolean {
    try {
      return this.compiled(schema, rootSchema).validate(formData).valid;
    } catch {
      return false;
    }
  }

  reset(): void {
    this.cache = new WeakMap();
  }
}
