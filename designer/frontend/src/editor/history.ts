// Undo/redo over immutable documents. A drag is one step (transient changes, then commit);
// typing into one field is one step (changes with the same coalesce key close together).

import { useCallback, useMemo, useReducer } from "react";

const LIMIT = 200;
const COALESCE_MS = 1500;

interface State<D> {
  past: D[];
  present: D;
  future: D[];
  pending: D | null; // the document before a transient change began
  lastKey: string | null;
  lastAt: number;
}

export type Change<D> = D | ((doc: D) => D);

type Action<D> =
  | { kind: "set"; doc: Change<D>; key?: string; at: number }
  | { kind: "transient"; doc: Change<D> }
  | { kind: "commit" }
  | { kind: "undo" }
  | { kind: "redo" }
  | { kind: "reset"; doc: D };

function resolve<D>(change: Change<D>, current: D): D {
  return typeof change === "function" ? (change as (doc: D) => D)(current) : change;
}

function reducer<D>(state: State<D>, action: Action<D>): State<D> {
  switch (action.kind) {
    case "set": {
      const doc = resolve(action.doc, state.present);
      if (doc === state.present) return state;
      const base = state.pending ?? state.present;
      const coalesce =
        action.key != null && action.key === state.lastKey && action.at - state.lastAt < COALESCE_MS && !state.pending;
      return {
        past: coalesce ? state.past : [...state.past, base].slice(-LIMIT),
        present: doc,
        future: [],
        pending: null,
        lastKey: action.key ?? null,
        lastAt: action.at,
      };
    }
    case "transient": {
      const doc = resolve(action.doc, state.present);
      if (doc === state.present) return state;
      return { ...state, present: doc, pending: state.pending ?? state.present };
    }
    case "commit":
      if (!state.pending) return state;
      if (state.pending === state.present) return { ...state, pending: null };
      return {
        ...state,
        past: [...state.past, state.pending].slice(-LIMIT),
        future: [],
        pending: null,
        lastKey: null,
      };
    case "undo": {
      const base = state.pending ?? state.present;
      if (!state.past.length) return state.pending ? { ...state, present: base, pending: null } : state;
      const previous = state.past[state.past.length - 1];
      return {
        past: state.past.slice(0, -1),
        present: previous,
        future: [base, ...state.future],
        pending: null,
        lastKey: null,
        lastAt: 0,
      };
    }
    case "redo": {
      if (!state.future.length) return state;
      const [next, ...rest] = state.future;
      return {
        past: [...state.past, state.pending ?? state.present],
        present: next,
        future: rest,
        pending: null,
        lastKey: null,
        lastAt: 0,
      };
    }
    case "reset":
      return { past: [], present: action.doc, future: [], pending: null, lastKey: null, lastAt: 0 };
  }
}

export interface History<D> {
  doc: D;
  set: (doc: Change<D>, key?: string) => void;
  transient: (doc: Change<D>) => void;
  commit: () => void;
  undo: () => void;
  redo: () => void;
  reset: (doc: D) => void;
  canUndo: boolean;
  canRedo: boolean;
}

export function useHistory<D>(initial: D): History<D> {
  const [state, dispatch] = useReducer(reducer<D>, {
    past: [],
    present: initial,
    future: [],
    pending: null,
    lastKey: null,
    lastAt: 0,
  });
  const set = useCallback((doc: Change<D>, key?: string) => dispatch({ kind: "set", doc, key, at: Date.now() }), []);
  const transient = useCallback((doc: Change<D>) => dispatch({ kind: "transient", doc }), []);
  const commit = useCallback(() => dispatch({ kind: "commit" }), []);
  const undo = useCallback(() => dispatch({ kind: "undo" }), []);
  const redo = useCallback(() => dispatch({ kind: "redo" }), []);
  const reset = useCallback((doc: D) => dispatch({ kind: "reset", doc }), []);
  return useMemo(
    () => ({
      doc: state.present,
      set,
      transient,
      commit,
      undo,
      redo,
      reset,
      canUndo: state.past.length > 0 || state.pending != null,
      canRedo: state.future.length > 0,
    }),
    [state, set, transient, commit, undo, redo, reset],
  );
}
