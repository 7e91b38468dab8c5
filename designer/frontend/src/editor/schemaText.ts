// Node config schemas as the form shows them: titles and descriptions in the chosen
// language, and a uiSchema that gives annotated fields (x-ivrflow) their own widgets.

import { englishStringTranslator, TranslatableString } from "@rjsf/utils";
import type { UiSchema } from "@rjsf/utils";
import { bilingual } from "../i18n";
import type { Lang } from "../i18n";

const localized = { zh: new WeakMap<object, any>(), en: new WeakMap<object, any>() };

function localize(value: any, lang: Lang): any {
  if (Array.isArray(value)) return value.map((v) => localize(v, lang));
  if (value && typeof value === "object") {
    const out: Record<string, any> = {};
    for (const [key, item] of Object.entries(value)) {
      if ((key === "title" || key === "description") && typeof item === "string") {
        out[key] = bilingual(lang, item);
      } else if (key === "enum" || key === "default" || key === "const" || key === "examples") {
        out[key] = item;
      } else {
        out[key] = localize(item, lang);
      }
    }
    return out;
  }
  return value;
}

export function localSchema(schema: Record<string, any>, lang: Lang): Record<string, any> {
  const cache = localized[lang];
  let found = cache.get(schema);
  if (!found) {
    found = localize(schema, lang);
    cache.set(schema, found);
  }
  return found;
}

const WIDGET_OF: Record<string, string> = {
  prompt: "promptId",
  "variable-in": "variableName",
  "variable-out": "variableName",
  queue: "queueName",
  flow: "flowId",
};

function uiFor(schema: any): UiSchema {
  if (!schema || typeof schema !== "object") return {};
  const ui: UiSchema = {};
  const kind = schema["x-ivrflow"];
  if (typeof kind === "string" && WIDGET_OF[kind]) ui["ui:widget"] = WIDGET_OF[kind];
  if ((kind === "expression" || kind === "template") && (schema.maxLength ?? 0) > 200) {
    ui["ui:widget"] = "textarea";
    ui["ui:options"] = { rows: 2 };
  }
  if (schema.type === "object" && schema.properties) {
    for (const [name, sub] of Object.entries(schema.properties)) {
      const child = uiFor(sub);
      if (Object.keys(child).length) ui[name] = child;
    }
  }
  if (schema.type === "object" && schema.additionalProperties && typeof schema.additionalProperties === "object") {
    const child = uiFor(schema.additionalProperties);
    if (Object.keys(child).length) ui.additionalProperties = child;
  }
  if (schema.type === "array" && schema.items && typeof schema.items === "object") {
    const child = uiFor(schema.items);
    if (Object.keys(child).length) ui.items = child;
  }
  return ui;
}

const uiCache = new WeakMap<object, UiSchema>();

export function uiSchemaFor(schema: Record<string, any>): UiSchema {
  let found = uiCache.get(schema);
  if (!found) {
    found = { ...uiFor(schema), "ui:submitButtonOptions": { norender: true } };
    uiCache.set(schema, found);
  }
  return found;
}

const ZH: Partial<Record<TranslatableString, string>> = {
  [TranslatableString.ArrayItemTitle]: "项",
  [TranslatableString.EmptyArray]: "还没有内容，点击下方按钮添加。",
  [TranslatableString.YesLabel]: "是",
  [TranslatableString.NoLabel]: "否",
  [TranslatableString.CloseLabel]: "关闭",
  [TranslatableString.ErrorsLabel]: "错误",
  [TranslatableString.NewStringDefault]: "新值",
  [TranslatableString.AddButton]: "添加",
  [TranslatableString.AddItemButton]: "添加",
  [TranslatableString.CopyButton]: "复制",
  [TranslatableString.MoveDownButton]: "下移",
  [TranslatableString.MoveUpButton]: "上移",
  [TranslatableString.RemoveButton]: "删除",
  [TranslatableString.ClearButton]: "清除",
  [TranslatableString.OptionalObjectAdd]: "添加",
  [TranslatableString.OptionalObjectRemove]: "移除",
  [TranslatableString.OptionalObjectEmptyMsg]: "（未设置）",
  [TranslatableString.KeyLabel]: "%1 名称",
  [TranslatableString.Type]: "类型",
  [TranslatableString.Value]: "值",
};

export function translator(lang: Lang) {
  return (key: TranslatableString, params?: string[]): string => {
    if (lang === "zh" && ZH[key]) {
      let text = ZH[key]!;
      (params || []).forEach((p, i) => (text = text.replace(`%${i + 1}`, p)));
      return text;
    }
    return englishStringTranslator(key, params);
  };
}
