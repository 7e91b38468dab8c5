// What the inspector's widgets need from the editor: the document (prompts, variables), the
// node being edited, and ways to add a prompt.

import { createContext, useContext } from "react";
import type { PromptItem } from "../prompts";
import type { FlowDoc } from "./doc";

export interface EditorContextValue {
  doc: FlowDoc;
  nodeId: string | null;
  readOnly: boolean;
  flows: string[];
  addPrompt: (id: string, text: string) => void;
  /** the prompt library's state of the saved flow, by keyOf(prompt, language) */
  promptStates: Record<string, PromptItem>;
  /** prompts.write: may upload and approve recordings */
  canRecord: boolean;
  reloadPrompts: () => void;
}

export const EditorContext = createContext<EditorContextValue>({
  doc: { schema_version: 1, id: "", name: "", nodes: {} },
  nodeId: null,
  readOnly: false,
  flows: [],
  addPrompt: () => {},
  promptStates: {},
  canRecord: false,
  reloadPrompts: () => {},
});

export function useEditor(): EditorContextValue {
  return useContext(EditorContext);
}

export const RUNTIME_VARIABLES = ["caller", "called", "call_id", "language", "last_error"];
