// Inspector widgets for annotated config fields: prompt ids (choose one of the flow's
// prompts, or create one with its script text), variable names, queue names, flow ids.

import type { WidgetProps } from "@rjsf/utils";
import { useState } from "react";
import { useT } from "../i18n";
import { PromptLanguages } from "../prompts";
import { RUNTIME_VARIABLES, useEditor } from "./context";
import { defaultLanguage, newPromptId, PROMPT_ID_RE } from "./doc";

const NEW = "__new__";

function preview(text: string | undefined): string {
  if (!text) return "";
  return text.length > 24 ? `${text.slice(0, 24)}…` : text;
}

export function PromptWidget(props: WidgetProps) {
  const { id, value, onChange, disabled, readonly, rawErrors } = props;
  const editor = useEditor();
  const t = useT();
  const prompts = editor.doc.prompts || {};
  const language = defaultLanguage(editor.doc);
  const [creating, setCreating] = useState(false);
  const [newId, setNewId] = useState("");
  const [newText, setNewText] = useState("");
  const [error, setError] = useState("");
  const ids = Object.keys(prompts).sort();
  const current = typeof value === "string" ? value : "";

  const startNew = () => {
    setCreating(true);
    setNewId(newPromptId(editor.doc, editor.nodeId || "prompt"));
    setNewText("");
    setError("");
  };
  const create = () => {
    const pid = newId.trim();
    if (!PROMPT_ID_RE.test(pid) || pid in prompts) {
      setError(t("prompts.badId"));
      return;
    }
    editor.addPrompt(pid, newText);
    onChange(pid);
    setCreating(false);
  };

  return (
    <div className={`prompt-widget${rawErrors?.length ? " invalid" : ""}`}>
      <select
        id={id}
        data-testid="prompt-select"
        value={creating ? NEW : current}
        disabled={disabled || readonly || editor.readOnly}
        onChange={(e) => {
          if (e.target.value === NEW) startNew();
          else {
            setCreating(false);
            onChange(e.target.value || undefined);
          }
        }}
      >
        <option value="">{t("prompts.choose")}</option>
        {current && !(current in prompts) && (
          <option value={current}>
            {current} {t("prompts.missing")}
          </option>
        )}
        {ids.map((pid) => (
          <option key={pid} value={pid}>
            {pid} — {preview(prompts[pid]?.text?.[language])}
          </option>
        ))}
        <option value={NEW}>{t("prompts.new")}</option>
      </select>
      {current && prompts[current]?.text?.[language] && !creating && (
        <div className="prompt-text">“{prompts[current].text![language]}”</div>
      )}
      {current && !creating && (
        <PromptLanguages
          promptId={current}
          languages={editor.doc.languages?.length ? editor.doc.languages : [language]}
          items={editor.promptStates}
          canWrite={editor.canRecord}
          onChanged={editor.reloadPrompts}
        />
      )}
      {creating && (
        <div className="prompt-new" data-testid="prompt-new">
          <label>
            {t("prompts.newId")}
            <input data-testid="prompt-new-id" value={newId} onChange={(e) => setNewId(e.target.value)} />
          </label>
          <label>
            {t("prompts.newText")}
            <textarea
              data-testid="prompt-new-text"
              rows={2}
              value={newText}
              onChange={(e) => setNewText(e.target.value)}
            />
          </label>
          {error && <div className="field-error">{error}</div>}
          <div className="row-buttons">
            <button type="button" className="primary" data-testid="prompt-new-ok" onClick={create}>
              {t("app.ok")}
            </button>
            <button type="button" onClick={() => setCreating(false)}>
              {t("app.cancel")}
            </button>
          </div>
        </div>
      )}
    </div>
  );
}

function ListedInput(props: WidgetProps & { choices: string[]; listId: string }) {
  const { id, value, onChange, disabled, readonly, choices, listId, placeholder } = props;
  const editor = useEditor();
  return (
    <>
      <input
        id={id}
        type="text"
        list={listId}
        value={typeof value === "string" ? value : ""}
        placeholder={placeholder}
        disabled={disabled || readonly || editor.readOnly}
        onChange={(e) => onChange(e.target.value === "" ? undefined : e.target.value)}
      />
      <datalist id={listId}>
        {choices.map((c) => (
          <option key={c} value={c} />
        ))}
      </datalist>
    </>
  );
}

export function VariableWidget(props: WidgetProps) {
  const editor = useEditor();
  const choices = [...Object.keys(editor.doc.variables || {}), ...RUNTIME_VARIABLES];
  return <ListedInput {...props} choices={choices} listId={`${props.id}-variables`} />;
}

export function QueueWidget(props: WidgetProps) {
  const editor = useEditor();
  const queues = new Set<string>();
  for (const node of Object.values(editor.doc.nodes)) {
    const q = node.config?.queue;
    if (typeof q === "string" && q) queues.add(q);
  }
  return <ListedInput {...props} choices={[...queues].sort()} listId={`${props.id}-queues`} />;
}

export function FlowIdWidget(props: WidgetProps) {
  const editor = useEditor();
  return <ListedInput {...props} choices={editor.flows.filter((f) => f !== editor.doc.id)} listId={`${props.id}-flows`} />;
}

export const widgets = {
  promptId: PromptWidget,
  variableName: VariableWidget,
  queueName: QueueWidget,
  flowId: FlowIdWidget,
};
