// The flow editor page: palette, canvas, inspector and side panels, problems, save with
// If-Match (and the conflict dialog), publishing, history and test calls.

import {
  Background,
  Controls,
  MiniMap,
  ReactFlow,
  ReactFlowProvider,
  useReactFlow,
} from "@xyflow/react";
import type { Connection, Edge, EdgeChange, NodeChange } from "@xyflow/react";
import { useCallback, useDeferredValue, useEffect, useMemo, useRef, useState } from "react";
import { api, ApiError, request, revisionOf } from "../api";
import type { Problem, Session } from "../api";
import { formatTime, pick, useLang, useT } from "../i18n";
import type { Lang } from "../i18n";
import { EditorContext } from "./context";
import type { EditorContextValue } from "./context";
import {
  addNode,
  connect,
  copyNodes,
  defaultLanguage,
  moveNodes,
  pasteNodes,
  removeNodes,
  renameNode,
  setPromptText,
} from "./doc";
import type { Clipboard, FlowDoc, NodeType, NodeTypes } from "./doc";
import { useExits } from "./exits";
import type { ExitInfo } from "./exits";
import { FlowNode } from "./FlowNode";
import type { IvrNode, IvrNodeData, PortView } from "./FlowNode";
import { useHistory } from "./history";
import { FlowSettings, NodeInspector } from "./Inspector";
import { autoLayout, needsLayout, NODE_WIDTH, nodeHeight } from "./layout";
import { DRAG_TYPE, Palette } from "./Palette";
import { ProblemsPanel } from "./Problems";
import type { ProblemsState } from "./Problems";
import { HistoryPanel, PublishDialog } from "./Publish";
import { Simulator } from "./Simulator";
import type { SimTrace } from "./Simulator";
import { PromptsPanel, VariablesPanel } from "./Tables";
import { usePromptStates } from "../prompts";

const nodeTypes = { ivr: FlowNode };
const VALIDATE_DELAY_MS = 500;
const CLIPBOARD_KEY = "ivrflow.clipboard";

let typesPromise: Promise<NodeTypes> | null = null;

export function loadNodeTypes(): Promise<NodeTypes> {
  if (!typesPromise) {
    typesPromise = api
      .get<{ categories: NodeTypes["categories"]; nodes: NodeType[] }>("/api/node-types")
      .then((r) => ({ ...r, byType: Object.fromEntries(r.nodes.map((n) => [n.type, n])) }))
      .catch((e) => {
        typesPromise = null;
        throw e;
      });
  }
  return typesPromise;
}

interface Loaded {
  doc: FlowDoc;
  revision: number;
  types: NodeTypes;
  flows: string[];
  meta: { updated_by: string; updated_at: string };
}

export function EditorPage({ flowId, session, onBack }: { flowId: string; session: Session; onBack: () => void }) {
  const t = useT();
  const { lang } = useLang();
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [error, setError] = useState("");

  useEffect(() => {
    let cancelled = false;
    Promise.all([
      loadNodeTypes(),
      request<any>("GET", `/api/flows/${encodeURIComponent(flowId)}`),
      api.get<{ flows: { id: string }[] }>("/api/flows"),
    ])
      .then(([types, draft, flows]) => {
        if (cancelled) return;
        setLoaded({
          doc: draft.data.document,
          revision: revisionOf(draft.etag) ?? draft.data.revision,
          types,
          flows: flows.flows.map((f) => f.id),
          meta: { updated_by: draft.data.updated_by, updated_at: draft.data.updated_at },
        });
      })
      .catch((e) => !cancelled && setError(e instanceof ApiError ? e.text(lang) : String(e)));
    return () => {
      cancelled = true;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [flowId]);

  if (error) {
    return (
      <div className="page-message">
        <p className="field-error">{error}</p>
        <button type="button" onClick={onBack}>
          {t("editor.back")}
        </button>
      </div>
    );
  }
  if (!loaded) return <div className="page-message">{t("app.loading")}</div>;
  return (
    <ReactFlowProvider>
      <EditorInner loaded={loaded} session={session} onBack={onBack} />
    </ReactFlowProvider>
  );
}

type Tab = "props" | "prompts" | "variables" | "test" | "history";

interface Conflict {
  who: string;
  when: string;
  revision: number;
  base: number;
  copy: number;
  document: FlowDoc;
}

function isTyping(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  if (!el) return false;
  const tag = el.tagName;
  return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
}

function readClipboard(): Clipboard | null {
  try {
    const raw = window.localStorage.getItem(CLIPBOARD_KEY);
    return raw ? (JSON.parse(raw) as Clipboard) : null;
  } catch {
    return null;
  }
}

function EditorInner({ loaded, session, onBack }: { loaded: Loaded; session: Session; onBack: () => void }) {
  const t = useT();
  const { lang } = useLang();
  const flow = useReactFlow<IvrNode, Edge>();
  const types = loaded.types;
  const readOnly = !session.user.permissions.includes("flows.write");
  const canPublish = session.user.permissions.includes("flows.publish");
  const canSimulate = session.user.permissions.includes("simulate");
  const canRecord = session.user.permissions.includes("prompts.write");

  const initial = useMemo(() => {
    const doc = loaded.doc;
    return needsLayout(doc) ? moveNodes(doc, autoLayout(doc, {})) : doc;
  }, [loaded]);
  const hist = useHistory<FlowDoc>(initial);
  const doc = hist.doc;
  const docRef = useRef(doc);
  docRef.current = doc;

  const [revision, setRevision] = useState(loaded.revision);
  const revisionRef = useRef(revision);
  revisionRef.current = revision;
  const [savedJson, setSavedJson] = useState(() => JSON.stringify(initial));
  // what may lag behind a drag: the unsaved-changes flag, validation, the problems panel
  const settled = useDeferredValue(doc);
  const dirty = useMemo(() => JSON.stringify(settled) !== savedJson, [settled, savedJson]);
  const [saving, setSaving] = useState(false);
  const [status, setStatus] = useState<{ text: string; error?: boolean } | null>(null);
  const [conflict, setConflict] = useState<Conflict | null>(null);
  const [publishing, setPublishing] = useState(false);
  const [historyTick, setHistoryTick] = useState(0);
  const [tab, setTab] = useState<Tab>("props");
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [selectedEdges, setSelectedEdges] = useState<Set<string>>(new Set());
  const [measured, setMeasured] = useState<Record<string, { width: number; height: number }>>({});
  const [problems, setProblems] = useState<ProblemsState>({ problems: [], checking: true, failed: "" });
  const [sim, setSim] = useState<SimTrace | null>(null);
  const pasteCount = useRef(0);

  const exits = useExits(doc, types);
  const exitsRef = useRef(exits);
  exitsRef.current = exits;
  const measuredRef = useRef(measured);
  measuredRef.current = measured;

  // -- validation of the unsaved document (debounced) ------------------------------------
  const validateSeq = useRef(0);
  useEffect(() => {
    const seq = ++validateSeq.current;
    setProblems((p) => ({ ...p, checking: true }));
    const timer = window.setTimeout(() => {
      api
        .post<{ problems: Problem[] }>(
          `/api/flows/${encodeURIComponent(settled.id)}/validate`,
          JSON.stringify(settled),
        )
        .then((r) => {
          if (seq === validateSeq.current) setProblems({ problems: r.problems, checking: false, failed: "" });
        })
        .catch((e) => {
          if (seq === validateSeq.current)
            setProblems({ problems: [], checking: false, failed: e instanceof ApiError ? e.text(lang) : String(e) });
        });
    }, VALIDATE_DELAY_MS);
    return () => window.clearTimeout(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [settled]);

  const problemsByNode = useMemo(() => {
    const out: Record<string, Problem[]> = {};
    for (const p of problems.problems) if (p.node) (out[p.node] ||= []).push(p);
    return out;
  }, [problems]);

  // -- canvas nodes and edges, rebuilt only where something changed ----------------------
  const nodeCache = useRef(new Map<string, { key: unknown[]; node: IvrNode }>());
  const nodes: IvrNode[] = useMemo(() => {
    const out: IvrNode[] = [];
    const seen = new Set<string>();
    const takenBy: Record<string, string[]> = {};
    for (const edge of sim?.edges || []) {
      const [source, exit] = edge.split("::");
      (takenBy[source] ||= []).push(exit);
    }
    for (const [id, node] of Object.entries(doc.nodes)) {
      seen.add(id);
      const info: ExitInfo | undefined = exits[id];
      const nodeProblems = problemsByNode[id];
      const key = [
        node,
        info,
        selected.has(id),
        nodeProblems,
        sim?.active === id,
        sim?.visited.includes(id) ?? false,
        (takenBy[id] || []).join(","),
        lang,
        measured[id],
      ];
      const cached = nodeCache.current.get(id);
      if (cached && cached.key.every((v, i) => v === key[i])) {
        out.push(cached.node);
        continue;
      }
      const rf = buildNode(id, node, info, types, lang, t, selected.has(id), nodeProblems || [], sim, takenBy[id] || []);
      if (measured[id]) rf.measured = measured[id];
      nodeCache.current.set(id, { key, node: rf });
      out.push(rf);
    }
    for (const id of [...nodeCache.current.keys()]) if (!seen.has(id)) nodeCache.current.delete(id);
    return out;
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [doc.nodes, exits, selected, problemsByNode, sim, lang, measured, types]);

  const edgeCache = useRef(new Map<string, Edge>());
  const edgesRef = useRef<Edge[]>([]);
  const edges: Edge[] = useMemo(() => {
    const out: Edge[] = [];
    const taken = new Set(sim?.edges || []);
    const cache = edgeCache.current;
    const next = new Map<string, Edge>();
    for (const [id, node] of Object.entries(doc.nodes)) {
      for (const [exit, target] of Object.entries(node.exits || {})) {
        if (typeof target !== "string" || !(target in doc.nodes)) continue;
        const edgeId = `${id}::${exit}`;
        const isTaken = taken.has(edgeId);
        const selectedEdge = selectedEdges.has(edgeId);
        let edge = cache.get(edgeId);
        if (!edge || edge.target !== target || edge.selected !== selectedEdge || edge.animated !== isTaken) {
          edge = {
            id: edgeId,
            source: id,
            sourceHandle: exit,
            target,
            targetHandle: "in",
            selected: selectedEdge,
            className: isTaken ? "taken" : undefined,
            animated: isTaken,
            type: "default",
          };
        }
        next.set(edgeId, edge);
        out.push(edge);
      }
    }
    edgeCache.current = next;
    // a drag changes positions only: keep the same array so React Flow has nothing to redo
    const previous = edgesRef.current;
    if (previous.length === out.length && previous.every((e, i) => e === out[i])) return previous;
    edgesRef.current = out;
    return out;
  }, [doc.nodes, selectedEdges, sim]);

  useEffect(() => {
    if (!status || status.error) return;
    const timer = window.setTimeout(() => setStatus(null), 4000);
    return () => window.clearTimeout(timer);
  }, [status]);

  // fit the whole flow once every node has its size
  const fitted = useRef(false);
  useEffect(() => {
    if (fitted.current) return;
    const ids = Object.keys(doc.nodes);
    if (ids.length && ids.every((id) => measured[id])) {
      fitted.current = true;
      window.requestAnimationFrame(() => flow.fitView({ maxZoom: 1 }));
    }
  }, [doc.nodes, flow, measured]);

  // -- edits ----------------------------------------------------------------------------
  const edit = useCallback(
    (change: (d: FlowDoc) => FlowDoc, key?: string) => {
      if (readOnly) return;
      hist.set(change, key);
    },
    [hist, readOnly],
  );

  const selectOnly = useCallback((ids: string[]) => {
    setSelected(new Set(ids));
    setSelectedEdges(new Set());
  }, []);

  const onNodesChange = useCallback(
    (changes: NodeChange<IvrNode>[]) => {
      const moves: Record<string, { x: number; y: number }> = {};
      const sizes: Record<string, { width: number; height: number }> = {};
      let selection: Set<string> | null = null;
      for (const c of changes) {
        if (c.type === "position" && c.position && !readOnly) moves[c.id] = c.position;
        else if (c.type === "dimensions" && c.dimensions) sizes[c.id] = c.dimensions;
        else if (c.type === "select") {
          selection ||= new Set(selectedRef.current);
          if (c.selected) selection.add(c.id);
          else selection.delete(c.id);
        }
      }
      if (Object.keys(moves).length) hist.transient((d) => moveNodes(d, moves));
      if (Object.keys(sizes).length) setMeasured((m) => ({ ...m, ...sizes }));
      if (selection) setSelected(selection);
    },
    [hist, readOnly],
  );
  const selectedRef = useRef(selected);
  selectedRef.current = selected;

  const onEdgesChange = useCallback((changes: EdgeChange<Edge>[]) => {
    setSelectedEdges((prev) => {
      let next: Set<string> | null = null;
      for (const c of changes) {
        if (c.type !== "select") continue;
        next ||= new Set(prev);
        if (c.selected) next.add(c.id);
        else next.delete(c.id);
      }
      return next || prev;
    });
  }, []);

  const onConnect = useCallback(
    (c: Connection) => {
      if (!c.source || !c.target || !c.sourceHandle) return;
      edit((d) => connect(d, c.source, c.sourceHandle!, c.target));
    },
    [edit],
  );

  const onReconnect = useCallback(
    (old: Edge, c: Connection) => {
      if (!c.source || !c.target || !c.sourceHandle) return;
      edit((d) => connect(connect(d, old.source, old.sourceHandle!, null), c.source, c.sourceHandle!, c.target));
    },
    [edit],
  );

  const isValidConnection = useCallback(
    (c: Connection | Edge) => !!c.sourceHandle && c.sourceHandle !== "in" && (c.targetHandle ?? "in") === "in",
    [],
  );

  const addAt = useCallback(
    (typeName: string, position: { x: number; y: number }) => {
      const type = types.byType[typeName];
      if (!type || readOnly) return;
      const [next, id] = addNode(docRef.current, type, position);
      hist.set(next);
      docRef.current = next;
      selectOnly([id]);
      setTab("props");
    },
    [hist, readOnly, selectOnly, types],
  );

  const onDrop = useCallback(
    (e: React.DragEvent) => {
      e.preventDefault();
      const typeName = e.dataTransfer.getData(DRAG_TYPE) || e.dataTransfer.getData("text/plain");
      if (!typeName || !types.byType[typeName]) return;
      const p = flow.screenToFlowPosition({ x: e.clientX, y: e.clientY });
      addAt(typeName, { x: p.x - NODE_WIDTH / 2, y: p.y - 20 });
    },
    [addAt, flow, types],
  );

  const addFromPalette = useCallback(
    (typeName: string) => {
      const box = document.querySelector(".canvas")?.getBoundingClientRect();
      const p = box
        ? flow.screenToFlowPosition({ x: box.left + box.width / 2, y: box.top + box.height / 2 })
        : { x: 0, y: 0 };
      addAt(typeName, { x: p.x - NODE_WIDTH / 2 + 20 * (Object.keys(docRef.current.nodes).length % 5), y: p.y });
    },
    [addAt, flow],
  );

  const deleteSelection = useCallback(() => {
    if (readOnly) return;
    const ids = [...selectedRef.current].filter((id) => id in docRef.current.nodes);
    const edgeIds = [...selectedEdgesRef.current];
    if (!ids.length && !edgeIds.length) return;
    hist.set((d) => {
      let next = d;
      for (const edgeId of edgeIds) {
        const [source, exit] = edgeId.split("::");
        next = connect(next, source, exit, null);
      }
      return ids.length ? removeNodes(next, ids) : next;
    });
    setSelected(new Set());
    setSelectedEdges(new Set());
    if (ids.length) setStatus({ text: t("editor.deleted", { n: ids.length }) });
  }, [hist, readOnly, t]);
  const selectedEdgesRef = useRef(selectedEdges);
  selectedEdgesRef.current = selectedEdges;

  const removeIds = useCallback(
    (ids: string[]) => {
      if (readOnly) return;
      hist.set((d) => removeNodes(d, ids));
      setSelected(new Set());
    },
    [hist, readOnly],
  );

  const rename = useCallback(
    (from: string, to: string) => {
      hist.set((d) => renameNode(d, from, to));
      setSelected(new Set([to]));
    },
    [hist],
  );

  const copy = useCallback(() => {
    const ids = [...selectedRef.current];
    if (!ids.length) return;
    const clip = copyNodes(docRef.current, ids);
    try {
      window.localStorage.setItem(CLIPBOARD_KEY, JSON.stringify(clip));
    } catch {
      /* storage full or disabled: nothing to paste later */
    }
    pasteCount.current = 0;
    setStatus({ text: t("editor.copied", { n: ids.length }) });
  }, [t]);

  const paste = useCallback(() => {
    const clip = readClipboard();
    if (!clip || readOnly) return;
    pasteCount.current += 1;
    const offset = 40 * pasteCount.current;
    const [next, created] = pasteNodes(docRef.current, clip, { x: offset, y: offset });
    hist.set(next);
    docRef.current = next;
    selectOnly(created);
    setStatus({ text: t("editor.pasted", { n: created.length }) });
  }, [hist, readOnly, selectOnly, t]);

  const layout = useCallback(() => {
    if (readOnly) return;
    hist.set((d) => moveNodes(d, autoLayout(d, exits)));
    window.setTimeout(() => flow.fitView({ duration: 300 }), 50);
  }, [exits, flow, hist, readOnly]);

  // -- saving ---------------------------------------------------------------------------
  const savingRef = useRef(false);
  const save = useCallback(async (): Promise<boolean> => {
    if (readOnly || savingRef.current) return false;
    const body = JSON.stringify(docRef.current);
    if (body === savedJsonRef.current) return true;
    savingRef.current = true;
    setSaving(true);
    try {
      const reply = await request<{ revision: number }>(
        "PUT",
        `/api/flows/${encodeURIComponent(docRef.current.id)}`,
        body,
        { "If-Match": `"${revisionRef.current}"` },
      );
      const rev = reply.data.revision ?? revisionOf(reply.etag) ?? revisionRef.current + 1;
      setRevision(rev);
      revisionRef.current = rev;
      setSavedJson(body);
      savedJsonRef.current = body;
      setStatus({ text: t("editor.saved", { rev }) });
      return true;
    } catch (e) {
      if (e instanceof ApiError && e.status === 409 && e.body.current) {
        const current = e.body.current;
        setConflict({
          who: current.updated_by || "?",
          when: current.updated_at,
          revision: current.revision,
          base: e.body.your_base_revision ?? revisionRef.current,
          copy: e.body.conflict_id,
          document: current.document,
        });
      } else {
        setStatus({ text: t("editor.saveFailed", { msg: e instanceof ApiError ? e.text(lang) : String(e) }), error: true });
      }
      return false;
    } finally {
      savingRef.current = false;
      setSaving(false);
    }
  }, [lang, readOnly, t]);
  const savedJsonRef = useRef(savedJson);
  savedJsonRef.current = savedJson;

  const reloadTheirs = () => {
    if (!conflict) return;
    const theirs = needsLayout(conflict.document) ? moveNodes(conflict.document, autoLayout(conflict.document, exits)) : conflict.document;
    hist.reset(theirs);
    const json = JSON.stringify(theirs);
    setSavedJson(json);
    savedJsonRef.current = json;
    setRevision(conflict.revision);
    revisionRef.current = conflict.revision;
    setSelected(new Set());
    setConflict(null);
    setStatus({ text: t("editor.saved", { rev: conflict.revision }) });
  };

  const keepMine = () => {
    if (!conflict) return;
    setRevision(conflict.revision);
    revisionRef.current = conflict.revision;
    setConflict(null);
  };

  // -- keyboard -------------------------------------------------------------------------
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const mod = e.ctrlKey || e.metaKey;
      const key = e.key.toLowerCase();
      if (mod && key === "s") {
        e.preventDefault();
        void save();
        return;
      }
      if (isTyping(e.target) || conflict || publishing) return;
      if (mod && key === "z") {
        e.preventDefault();
        if (e.shiftKey) hist.redo();
        else hist.undo();
      } else if (mod && key === "y") {
        e.preventDefault();
        hist.redo();
      } else if (mod && key === "c") {
        copy();
      } else if (mod && key === "x") {
        copy();
        deleteSelection();
      } else if (mod && key === "v") {
        e.preventDefault();
        paste();
      } else if (mod && key === "a") {
        e.preventDefault();
        selectOnly(Object.keys(docRef.current.nodes));
      } else if (!mod && (e.key === "Delete" || e.key === "Backspace")) {
        e.preventDefault();
        deleteSelection();
      } else if (!mod && key === "f") {
        flow.fitView({ duration: 300 });
      } else if (e.key === "Escape") {
        selectOnly([]);
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [conflict, copy, deleteSelection, flow, hist, paste, publishing, save, selectOnly]);

  useEffect(() => {
    const warn = (e: BeforeUnloadEvent) => {
      if (JSON.stringify(docRef.current) !== savedJsonRef.current) {
        e.preventDefault();
      }
    };
    window.addEventListener("beforeunload", warn);
    return () => window.removeEventListener("beforeunload", warn);
  }, []);

  // -- problems → canvas ------------------------------------------------------------------
  const focusNode = useCallback(
    (id: string) => {
      const node = docRef.current.nodes[id];
      if (!node) return;
      selectOnly([id]);
      setTab("props");
      const size = measuredRef.current[id] || {
        width: NODE_WIDTH,
        height: nodeHeight(exitsRef.current[id]?.exits.length ?? 1),
      };
      const zoom = Math.max(flow.getZoom(), 0.9);
      flow.setCenter((node.ui?.x ?? 0) + size.width / 2, (node.ui?.y ?? 0) + size.height / 2, { zoom, duration: 300 });
    },
    [flow, selectOnly],
  );

  const pickProblem = useCallback(
    (p: Problem) => {
      if (p.node && docRef.current.nodes[p.node]) focusNode(p.node);
      else if (p.pointer.startsWith("/prompts")) setTab("prompts");
      else if (p.pointer.startsWith("/variables")) setTab("variables");
      else {
        selectOnly([]);
        setTab("props");
      }
    },
    [focusNode, selectOnly],
  );

  // -- context for the inspector's widgets ------------------------------------------------
  const singleId = selected.size === 1 ? [...selected][0] : null;
  const nodeId = singleId && doc.nodes[singleId] ? singleId : null;
  // the prompt library's state of the saved flow: read again after each save, and a moment
  // later (TTS placeholders are made in the background after a save)
  const promptStates = usePromptStates(doc.id, revision);
  const reloadPrompts = promptStates.reload;
  useEffect(() => {
    const timer = window.setTimeout(reloadPrompts, 1500);
    return () => window.clearTimeout(timer);
  }, [revision, reloadPrompts]);
  const context: EditorContextValue = useMemo(
    () => ({
      doc,
      nodeId,
      readOnly,
      flows: loaded.flows,
      addPrompt: (id: string, text: string) => edit((d) => setPromptText(d, id, defaultLanguage(d), text)),
      promptStates: promptStates.items,
      canRecord,
      reloadPrompts,
    }),
    [doc, nodeId, readOnly, loaded.flows, edit, promptStates.items, canRecord, reloadPrompts],
  );

  const getDoc = useCallback(() => docRef.current, []);
  const prepareCall = useCallback(
    async () => (JSON.stringify(docRef.current) !== savedJsonRef.current && !readOnly ? save() : true),
    [readOnly, save],
  );
  const preparePublish = async () => {
    if (JSON.stringify(docRef.current) !== savedJsonRef.current && !(await save())) return;
    setPublishing(true);
  };

  return (
    <EditorContext.Provider value={context}>
      <div className="editor">
        <div className="toolbar">
          <button
            type="button"
            className="link"
            onClick={() => {
              if (!dirty || window.confirm(t("editor.leave"))) onBack();
            }}
          >
            {t("editor.back")}
          </button>
          <div className="flow-title">
            <strong data-testid="flow-title">{doc.name}</strong> <code className="muted">{doc.id}</code>
          </div>
          <span className={`save-state${dirty ? " dirty" : ""}`} data-testid="save-state" data-dirty={dirty ? "1" : "0"}>
            {readOnly ? t("editor.readOnly") : dirty ? t("editor.unsaved") : t("editor.saved", { rev: revision })}
          </span>
          {status && (
            <span className={`status-line${status.error ? " error" : ""}`} data-testid="status-line">
              {status.text}
            </span>
          )}
          <div className="spacer" />
          <button type="button" onClick={hist.undo} disabled={!hist.canUndo || readOnly} title="Ctrl+Z" data-testid="undo">
            {t("editor.undo")}
          </button>
          <button type="button" onClick={hist.redo} disabled={!hist.canRedo || readOnly} title="Ctrl+Shift+Z" data-testid="redo">
            {t("editor.redo")}
          </button>
          <button type="button" onClick={layout} disabled={readOnly} data-testid="auto-layout">
            {t("editor.layout")}
          </button>
          <button type="button" onClick={() => flow.fitView({ duration: 300 })} title="F">
            {t("editor.fit")}
          </button>
          <button
            type="button"
            className="primary"
            onClick={() => void save()}
            disabled={readOnly || saving || !dirty}
            title="Ctrl+S"
            data-testid="save"
          >
            {saving ? t("editor.saving") : t("editor.save")}
          </button>
          {canPublish && (
            <button type="button" className="accent" onClick={() => void preparePublish()} data-testid="publish">
              {t("editor.publish")}
            </button>
          )}
        </div>
        <div className="workspace">
          <Palette types={types} onAdd={addFromPalette} disabled={readOnly} />
          <div className="canvas" onDragOver={(e) => {
            e.preventDefault();
            e.dataTransfer.dropEffect = "copy";
          }} onDrop={onDrop} data-testid="canvas">
            <ReactFlow<IvrNode, Edge>
              nodes={nodes}
              edges={edges}
              nodeTypes={nodeTypes}
              onNodesChange={onNodesChange}
              onEdgesChange={onEdgesChange}
              onConnect={onConnect}
              onReconnect={onReconnect}
              edgesReconnectable={!readOnly}
              isValidConnection={isValidConnection}
              onNodeDragStop={() => hist.commit()}
              onSelectionDragStop={() => hist.commit()}
              nodesDraggable={!readOnly}
              nodesConnectable={!readOnly}
              deleteKeyCode={null}
              multiSelectionKeyCode={["Control", "Meta"]}
              selectionKeyCode="Shift"
              minZoom={0.02}
              maxZoom={2}
              fitView
              fitViewOptions={{ maxZoom: 1 }}
              onlyRenderVisibleElements={Object.keys(doc.nodes).length > 150}
              proOptions={{ hideAttribution: true }}
            >
              <Background gap={20} />
              <MiniMap pannable zoomable nodeColor={(n) => minimapColor(n as IvrNode)} />
              <Controls showInteractive={false} />
            </ReactFlow>
            {Object.keys(doc.nodes).length <= 1 && <div className="canvas-hint">{t("editor.dropHint")}</div>}
          </div>
          <aside className="sidebar">
            <nav className="tabs">
              {(
                [
                  ["props", t("inspector.title")],
                  ["prompts", t("prompts.title")],
                  ["variables", t("variables.title")],
                  ["test", t("editor.test")],
                  ["history", t("editor.history")],
                ] as [Tab, string][]
              ).map(([id, label]) => (
                <button
                  type="button"
                  key={id}
                  className={tab === id ? "active" : ""}
                  onClick={() => setTab(id)}
                  data-testid={`tab-${id}`}
                >
                  {label}
                </button>
              ))}
            </nav>
            <div className="tab-body">
              {tab === "props" &&
                (nodeId ? (
                  <NodeInspector
                    key={nodeId}
                    doc={doc}
                    nodeId={nodeId}
                    types={types}
                    exits={exits[nodeId]}
                    problems={problemsByNode[nodeId] || []}
                    readOnly={readOnly}
                    edit={edit}
                    rename={rename}
                    remove={removeIds}
                  />
                ) : selected.size > 1 ? (
                  <div className="inspector">
                    <p>{t("inspector.multi", { n: selected.size })}</p>
                    {!readOnly && (
                      <button type="button" className="danger" onClick={deleteSelection}>
                        {t("inspector.delete")}
                      </button>
                    )}
                  </div>
                ) : (
                  <FlowSettings doc={doc} readOnly={readOnly} edit={edit} />
                ))}
              {tab === "prompts" && <PromptsPanel doc={doc} readOnly={readOnly} edit={edit} />}
              {tab === "variables" && <VariablesPanel doc={doc} readOnly={readOnly} edit={edit} />}
              <div style={{ display: tab === "test" ? "block" : "none" }}>
                <Simulator getDoc={getDoc} canRun={canSimulate} prepare={prepareCall} onTrace={setSim} />
              </div>
              {tab === "history" && <HistoryPanel flowId={doc.id} canPublish={canPublish} refresh={historyTick} />}
            </div>
          </aside>
        </div>
        <ProblemsPanel state={problems} doc={settled} onPick={pickProblem} />
        <div className="shortcuts muted small">{t("editor.shortcuts")}</div>
      </div>
      {conflict && (
        <div className="modal-backdrop">
          <div className="modal" role="dialog" aria-modal="true" data-testid="conflict-dialog">
            <h2>{t("conflict.title")}</h2>
            <p data-testid="conflict-text">
              {t("conflict.body", {
                who: conflict.who,
                when: formatTime(lang, conflict.when),
                rev: conflict.revision,
                base: conflict.base,
                copy: conflict.copy,
              })}
            </p>
            <p className="muted small">{t("conflict.keepHint", { rev: conflict.revision })}</p>
            <div className="row-buttons end">
              <button type="button" data-testid="conflict-keep" onClick={keepMine}>
                {t("conflict.keep")}
              </button>
              <button type="button" className="primary" data-testid="conflict-reload" onClick={reloadTheirs}>
                {t("conflict.reload")}
              </button>
            </div>
          </div>
        </div>
      )}
      {publishing && (
        <PublishDialog
          flowId={doc.id}
          revision={revision}
          onClose={() => setPublishing(false)}
          onPublished={() => setHistoryTick((x) => x + 1)}
        />
      )}
    </EditorContext.Provider>
  );
}

const CATEGORY_COLORS: Record<string, string> = {
  basic: "#3b82f6",
  input: "#8b5cf6",
  logic: "#f59e0b",
  integration: "#10b981",
  transfer: "#0891b2",
  flow: "#64748b",
};

function minimapColor(node: IvrNode): string {
  if (node.data?.errors) return "#dc2626";
  return CATEGORY_COLORS[node.data?.category] || "#94a3b8";
}

function buildNode(
  id: string,
  node: FlowDoc["nodes"][string],
  info: ExitInfo | undefined,
  types: NodeTypes,
  lang: Lang,
  t: ReturnType<typeof useT>,
  selected: boolean,
  problems: Problem[],
  sim: SimTrace | null,
  taken: string[],
): IvrNode {
  const type = types.byType[node.type];
  const declared = info?.exits || [];
  const wired = node.exits || {};
  const names = [...declared, ...Object.keys(wired).filter((e) => !declared.includes(e))];
  const ports: PortView[] = names.map((name) => ({
    name,
    title: declared.includes(name) ? pick(lang, info?.titles[name], name) : `${name} ⚠`,
    wired: typeof wired[name] === "string",
    optional: !!info?.optional.includes(name),
    taken: taken.includes(name),
  }));
  const errors = problems.filter((p) => p.severity === "error");
  const data: IvrNodeData = {
    nodeId: id,
    label: node.label || id,
    typeTitle: type ? pick(lang, type.title) : t("node.unknownType", { type: node.type }),
    category: type?.category || "unknown",
    ports,
    errors: errors.length,
    warnings: problems.length - errors.length,
    problemText: problems.map((p) => (lang === "zh" ? p.message_zh : p.message_en)).join("\n"),
    active: sim?.active === id,
    visited: sim?.visited.includes(id) ?? false,
    unknown: !type,
    terminal: !!type?.terminal,
    isStart: node.type === "core.start",
    inputTitle: t("node.input"),
    endTitle: t("node.end"),
  };
  return {
    id,
    type: "ivr",
    position: { x: node.ui?.x ?? 0, y: node.ui?.y ?? 0 },
    data,
    selected,
  };
}
