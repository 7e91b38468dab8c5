// The flow's prompts (script text per language; menus refer to them by id) and variables.

import { useMemo, useState } from "react";
import { useT } from "../i18n";
import { PromptLanguages } from "../prompts";
import { useEditor } from "./context";
import { PROMPT_ID_RE, removePrompt, setPromptText, setVariable, VARIABLE_RE } from "./doc";
import type { FlowDoc } from "./doc";

type Edit = (change: (doc: FlowDoc) => FlowDoc, key?: string) => void;

function usedPrompts(doc: FlowDoc): Record<string, string[]> {
  // prompt ids are strings in node configs; a cheap scan finds where each id appears
  const out: Record<string, string[]> = {};
  const ids = new Set(Object.keys(doc.prompts || {}));
  const walk = (value: any, node: string) => {
    if (typeof value === "string") {
      if (ids.has(value)) (out[value] ||= []).includes(node) || out[value].push(node);
    } else if (Array.isArray(value)) value.forEach((v) => walk(v, node));
    else if (value && typeof value === "object") Object.values(value).forEach((v) => walk(v, node));
  };
  for (const [id, node] of Object.entries(doc.nodes)) walk(node.config, id);
  return out;
}

export function PromptsPanel({ doc, readOnly, edit }: { doc: FlowDoc; readOnly: boolean; edit: Edit }) {
  const t = useT();
  const [newId, setNewId] = useState("");
  const [error, setError] = useState("");
  const languages = doc.languages?.length ? doc.languages : ["zh-CN"];
  const prompts = doc.prompts || {};
  const ids = Object.keys(prompts).sort();
  const used = useMemo(() => usedPrompts(doc), [doc]);
  const editor = useEditor();

  const add = () => {
    const id = newId.trim();
    if (!PROMPT_ID_RE.test(id) || id in prompts) {
      setError(t("prompts.badId"));
      return;
    }
    setError("");
    setNewId("");
    edit((d) => setPromptText(d, id, languages[0], ""));
  };

  return (
    <div className="table-panel" data-testid="prompts-panel">
      <h3>{t("prompts.title")}</h3>
      {ids.length === 0 && <p className="muted">{t("prompts.empty")}</p>}
      {ids.map((id) => (
        <div className="prompt-row" key={id} data-testid={`prompt-row-${id}`}>
          <div className="prompt-row-head">
            <code>{id}</code>
            {used[id] && (
              <span className="muted small">
                {t("prompts.usedBy")}: {used[id].join(", ")}
              </span>
            )}
            {!readOnly && (
              <button type="button" className="link danger" onClick={() => edit((d) => removePrompt(d, id))}>
                {t("prompts.remove")}
              </button>
            )}
          </div>
          {languages.map((language) => (
            <div key={language} className="prompt-language">
              <label className="field">
                <span className="muted small">{t("prompts.text", { lang: language })}</span>
                <textarea
                  rows={2}
                  data-testid={`prompt-text-${id}-${language}`}
                  value={prompts[id]?.text?.[language] ?? ""}
                  disabled={readOnly}
                  onChange={(e) => {
                    const text = e.target.value;
                    edit((d) => setPromptText(d, id, language, text), `prompt:${id}:${language}`);
                  }}
                />
              </label>
              <PromptLanguages
                promptId={id}
                languages={[language]}
                items={editor.promptStates}
                canWrite={editor.canRecord}
                onChanged={editor.reloadPrompts}
                showLanguage={false}
              />
            </div>
          ))}
        </div>
      ))}
      {!readOnly && (
        <div className="add-row">
          <input
            data-testid="prompt-add-id"
            placeholder={t("prompts.id")}
            value={newId}
            onChange={(e) => setNewId(e.target.value)}
            onKeyDown={(e) => e.key === "Enter" && add()}
          />
          <button type="button" onClick={add}>
            {t("prompts.add")}
          </button>
        </div>
      )}
      {error && <div className="field-error">{error}</div>}
    </div>
  );
}

const TYPES = ["string", "number", "boolean", "object", "list", "any"] as const;

function parseDefault(type: string, raw: string): any {
  if (raw === "") return undefined;
  if (type === "number") {
    const n = Number(raw);
    return Number.isFinite(n) ? n : raw;
  }
  if (type === "boolean") return raw === "true" || raw === "是" || raw === "1";
  if (type === "object" || type === "list" || type === "any") {
    try {
      return JSON.parse(raw);
    } catch {
      return raw;
    }
  }
  return raw;
}

function showDefault(value: any): string {
  if (value === undefined) return "";
  return typeof value === "string" ? value : JSON.stringify(value);
}

export function VariablesPanel({ doc, readOnly, edit }: { doc: FlowDoc; readOnly: boolean; edit: Edit }) {
  const t = useT();
  const [name, setName] = useState("");
  const [error, setError] = useState("");
  const variables = doc.variables || {};
  const names = Object.keys(variables).sort();
  const add = () => {
    const n = name.trim();
    if (!VARIABLE_RE.test(n) || n in variables) {
      setError(t("variables.badName"));
      return;
    }
    setError("");
    setName("");
    edit((d) => setVariable(d, n, { type: "string" }));
  };
  return (
    <div className="table-panel" data-testid="variables-panel">
      <h3>{t("variables.title")}</h3>
      {names.length === 0 && <p className="muted">{t("variables.empty")}</p>}
      {names.length > 0 && (
        <table className="grid">
          <thead>
            <tr>
              <th>{t("variables.name")}</th>
              <th>{t("variables.type")}</th>
              <th>{t("variables.default")}</th>
              <th>{t("variables.secret")}</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {names.map((n) => {
              const v = variables[n];
              const type = v.type || "string";
              return (
                <tr key={n}>
                  <td>
                    <code>{n}</code>
                  </td>
                  <td>
                    <select
                      value={type}
                      disabled={readOnly}
                      onChange={(e) => edit((d) => setVariable(d, n, { ...v, type: e.target.value }))}
                    >
                      {TYPES.map((ty) => (
                        <option key={ty} value={ty}>
                          {t(`type.${ty}`)}
                        </option>
                      ))}
                    </select>
                  </td>
                  <td>
                    <input
                      value={showDefault(v.default)}
                      disabled={readOnly}
                      onChange={(e) => {
                        const next = { ...v, default: parseDefault(type, e.target.value) };
                        if (next.default === undefined) delete next.default;
                        edit((d) => setVariable(d, n, next), `variable:${n}`);
                      }}
                    />
                  </td>
                  <td>
                    <input
                      type="checkbox"
                      checked={!!v.secret}
                      disabled={readOnly}
                      onChange={(e) => edit((d) => setVariable(d, n, { ...v, secret: e.target.checked }))}
                    />
                  </td>
                  <td>
                    {!readOnly && (
                      <button type="button" className="link danger" onClick={() => edit((d) => setVariable(d, n, null))}>
                        {t("prompts.remove")}
                      </button>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {!readOnly && (
        <div className="add-row">
          <input placeholder={t("variables.name")} value={name} onChange={(e) => setName(e.target.value)} onKeyDown={(e) => e.key === "Enter" && add()} />
          <button type="button" onClick={add}>
            {t("variables.add")}
          </button>
        </div>
      )}
      {error && <div className="field-error">{error}</div>}
    </div>
  );
}
