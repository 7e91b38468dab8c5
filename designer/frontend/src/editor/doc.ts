// The flow document (see README "The flow document") and pure edits on it. Every edit
// returns a new document and leaves the old one untouched (undo keeps old ones).

export interface FlowNodeDoc {
  type: string;
  version: number;
  label?: string;
  config?: Record<string, any>;
  exits?: Record<string, string | null>;
  ui?: { x?: number; y?: number; color?: string; note?: string };
}

export interface PromptDoc {
  text?: Record<string, string>;
  description?: string;
}

export interface VariableDoc {
  type?: string;
  default?: any;
  secret?: boolean;
  description?: string;
}

export interface FlowDoc {
  schema_version: 1;
  id: string;
  name: string;
  description?: string;
  languages?: string[];
  variables?: Record<string, VariableDoc>;
  prompts?: Record<string, PromptDoc>;
  settings?: Record<string, any>;
  nodes: Record<string, FlowNodeDoc>;
  ui?: Record<string, any>;
  [key: string]: any;
}

export interface NodeType {
  type: string;
  version: number;
  title: { zh: string; en: string };
  description: { zh: string; en: string };
  category: string;
  config_schema: Record<string, any>;
  exits: string[];
  exits_from_config: boolean;
  exit_titles: Record<string, { zh: string; en: string }>;
  optional_exits: string[];
  terminal: boolean;
}

export interface NodeTypes {
  categories: Record<string, { zh: string; en: string }>;
  nodes: NodeType[];
  byType: Record<string, NodeType>;
}

export const NODE_ID_RE = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
export const FLOW_ID_RE = /^[a-z0-9][a-z0-9_.-]{0,63}$/;
export const PROMPT_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_./-]{0,127}$/;
export const VARIABLE_RE = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

export function emptyFlow(id: string, name: string): FlowDoc {
  return {
    schema_version: 1,
    id,
    name,
    languages: ["zh-CN"],
    variables: {},
    prompts: {},
    settings: {},
    nodes: {
      start: { type: "core.start", version: 1, config: {}, exits: {}, ui: { x: 0, y: 0 } },
    },
  };
}

/** A readable, unused node id for a node of `type` ("menu", "menu_2", …). */
export function newNodeId(existing: Record<string, unknown>, type: string, base?: string): string {
  let stem = (base || type.split(".").pop() || "node").replace(/[^A-Za-z0-9_-]/g, "_");
  stem = stem.replace(/_\d+$/, "");
  if (!/^[A-Za-z]/.test(stem)) stem = `n_${stem}`;
  stem = stem.slice(0, 56);
  if (!(stem in existing)) return stem;
  for (let i = 2; ; i++) {
    const id = `${stem}_${i}`;
    if (!(id in existing)) return id;
  }
}

export function addNode(
  doc: FlowDoc,
  nodeType: NodeType,
  position: { x: number; y: number },
): [FlowDoc, string] {
  const id = newNodeId(doc.nodes, nodeType.type);
  const node: FlowNodeDoc = {
    type: nodeType.type,
    version: nodeType.version,
    config: {},
    exits: {},
    ui: { x: Math.round(position.x), y: Math.round(position.y) },
  };
  return [{ ...doc, nodes: { ...doc.nodes, [id]: node } }, id];
}

export function updateNode(doc: FlowDoc, id: string, change: (node: FlowNodeDoc) => FlowNodeDoc): FlowDoc {
  const node = doc.nodes[id];
  if (!node) return doc;
  return { ...doc, nodes: { ...doc.nodes, [id]: change(node) } };
}

export function moveNodes(doc: FlowDoc, positions: Record<string, { x: number; y: number }>): FlowDoc {
  const nodes = { ...doc.nodes };
  for (const [id, p] of Object.entries(positions)) {
    const node = nodes[id];
    if (!node) continue;
    nodes[id] = { ...node, ui: { ...(node.ui || {}), x: Math.round(p.x), y: Math.round(p.y) } };
  }
  return { ...doc, nodes };
}

export function connect(doc: FlowDoc, source: string, exit: string, target: string | null): FlowDoc {
  return updateNode(doc, source, (node) => {
    const exits = { ...(node.exits || {}) };
    if (target) exits[exit] = target;
    else delete exits[exit];
    return { ...node, exits };
  });
}

export function removeNodes(doc: FlowDoc, ids: Iterable<string>): FlowDoc {
  const gone = new Set(ids);
  const nodes: Record<string, FlowNodeDoc> = {};
  for (const [id, node] of Object.entries(doc.nodes)) {
    if (gone.has(id)) continue;
    const exits = node.exits || {};
    if (Object.values(exits).some((t) => t != null && gone.has(t))) {
      const kept: Record<string, string | null> = {};
      for (const [name, target] of Object.entries(exits)) {
        if (target == null || !gone.has(target)) kept[name] = target;
      }
      nodes[id] = { ...node, exits: kept };
    } else {
      nodes[id] = node;
    }
  }
  let settings = doc.settings;
  if (settings && settings.fallback && gone.has(settings.fallback)) {
    settings = { ...settings, fallback: null };
  }
  return { ...doc, nodes, settings };
}

export function renameNode(doc: FlowDoc, from: string, to: string): FlowDoc {
  if (from === to || !(from in doc.nodes) || to in doc.nodes) return doc;
  const nodes: Record<string, FlowNodeDoc> = {};
  for (const [id, node] of Object.entries(doc.nodes)) {
    let next = node;
    const exits = node.exits || {};
    if (Object.values(exits).includes(from)) {
      const renamed: Record<string, string | null> = {};
      for (const [name, target] of Object.entries(exits)) renamed[name] = target === from ? to : target;
      next = { ...node, exits: renamed };
    }
    nodes[id === from ? to : id] = next;
  }
  let settings = doc.settings;
  if (settings && settings.fallback === from) settings = { ...settings, fallback: to };
  return { ...doc, nodes, settings };
}

export interface Clipboard {
  nodes: Record<string, FlowNodeDoc>;
}

/** The selected nodes, with only the exits that stay inside the selection. */
export function copyNodes(doc: FlowDoc, ids: Iterable<string>): Clipboard {
  const chosen = new Set([...ids].filter((id) => id in doc.nodes));
  const nodes: Record<string, FlowNodeDoc> = {};
  for (const id of chosen) {
    const node = doc.nodes[id];
    const exits: Record<string, string | null> = {};
    for (const [name, target] of Object.entries(node.exits || {})) {
      if (target != null && chosen.has(target)) exits[name] = target;
    }
    nodes[id] = JSON.parse(JSON.stringify({ ...node, exits }));
  }
  return { nodes };
}

export function pasteNodes(doc: FlowDoc, clip: Clipboard, offset: { x: number; y: number }): [FlowDoc, string[]] {
  const taken: Record<string, unknown> = { ...doc.nodes };
  const mapping: Record<string, string> = {};
  for (const [id, node] of Object.entries(clip.nodes)) {
    // a second start node is never what anyone wants
    if (node.type === "core.start" && Object.values(doc.nodes).some((n) => n.type === "core.start")) continue;
    const fresh = newNodeId(taken, node.type, id);
    taken[fresh] = true;
    mapping[id] = fresh;
  }
  const nodes = { ...doc.nodes };
  for (const [id, fresh] of Object.entries(mapping)) {
    const node = clip.nodes[id];
    const exits: Record<string, string | null> = {};
    for (const [name, target] of Object.entries(node.exits || {})) {
      if (target != null && mapping[target]) exits[name] = mapping[target];
    }
    nodes[fresh] = {
      ...JSON.parse(JSON.stringify(node)),
      exits,
      ui: { ...(node.ui || {}), x: (node.ui?.x ?? 0) + offset.x, y: (node.ui?.y ?? 0) + offset.y },
    };
  }
  return [{ ...doc, nodes }, Object.values(mapping)];
}

export function setPromptText(doc: FlowDoc, id: string, language: string, text: string): FlowDoc {
  const prompts = { ...(doc.prompts || {}) };
  const prompt = prompts[id] || {};
  prompts[id] = { ...prompt, text: { ...(prompt.text || {}), [language]: text } };
  return { ...doc, prompts };
}

export function removePrompt(doc: FlowDoc, id: string): FlowDoc {
  const prompts = { ...(doc.prompts || {}) };
  delete prompts[id];
  return { ...doc, prompts };
}

export function setVariable(doc: FlowDoc, name: string, variable: VariableDoc | null): FlowDoc {
  const variables = { ...(doc.variables || {}) };
  if (variable) variables[name] = variable;
  else delete variables[name];
  return { ...doc, variables };
}

/** Suggest an unused prompt id from a node id ("main_menu" → "main_menu", "main_menu_2"…). */
export function newPromptId(doc: FlowDoc, base: string): string {
  const existing = doc.prompts || {};
  let stem = base.replace(/[^A-Za-z0-9_./-]/g, "_") || "prompt";
  if (!/^[A-Za-z0-9]/.test(stem)) stem = `p${stem}`;
  if (!(stem in existing)) return stem;
  for (let i = 2; ; i++) if (!(`${stem}_${i}` in existing)) return `${stem}_${i}`;
}

export function defaultLanguage(doc: FlowDoc): string {
  return (doc.languages && doc.languages[0]) || "zh-CN";
}
