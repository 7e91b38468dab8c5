// Each node's exits. Static ones come with the node type; computed ones (a menu's keys, a
// branch's rules, a sub-flow's outcomes) are asked of the server, which runs the node type's
// own exits_for(config): POST /api/node-types/{type}/exits. Answers are cached by config.

import { useEffect, useRef, useState } from "react";
import { api } from "../api";
import type { FlowDoc, FlowNodeDoc, NodeTypes } from "./doc";

export interface ExitInfo {
  exits: string[];
  titles: Record<string, { zh: string; en: string }>;
  optional: string[];
}

const MAX_IN_FLIGHT = 4;
const DEBOUNCE_MS = 150;

function cacheKey(node: FlowNodeDoc): string {
  return `${node.type}\u0000${JSON.stringify(node.config || {})}`;
}

function fallbackTitle(exit: string): { zh: string; en: string } {
  if (exit.length === 1 && "0123456789*#".includes(exit)) return { zh: `按 ${exit}`, en: `Key ${exit}` };
  return { zh: exit, en: exit };
}

/** What to show before (or without) the server's answer: the static exits and whatever is
 * wired in the document. */
function provisional(node: FlowNodeDoc, types: NodeTypes): ExitInfo {
  const type = types.byType[node.type];
  const wired = Object.keys(node.exits || {});
  const statics = type ? type.exits : [];
  const exits = [...wired.filter((e) => !statics.includes(e)), ...statics];
  const titles: ExitInfo["titles"] = {};
  for (const e of exits) titles[e] = type?.exit_titles[e] || fallbackTitle(e);
  return { exits, titles, optional: type ? type.optional_exits : [] };
}

export function useExits(doc: FlowDoc, types: NodeTypes | null): Record<string, ExitInfo> {
  const [answers, setAnswers] = useState<Record<string, ExitInfo>>({});
  const asked = useRef(new Set<string>());
  const lastKnown = useRef<Record<string, ExitInfo>>({});
  const queue = useRef<{ key: string; type: string; config: any }[]>([]);
  const inFlight = useRef(0);
  const timer = useRef<number | null>(null);

  useEffect(() => {
    if (!types) return;
    const wanted: { key: string; type: string; config: any }[] = [];
    for (const node of Object.values(doc.nodes)) {
      const type = types.byType[node.type];
      if (!type || !type.exits_from_config) continue;
      const key = cacheKey(node);
      if (asked.current.has(key)) continue;
      asked.current.add(key);
      wanted.push({ key, type: node.type, config: node.config || {} });
    }
    if (!wanted.length) return;
    queue.current.push(...wanted);
    const pump = () => {
      while (inFlight.current < MAX_IN_FLIGHT && queue.current.length) {
        const job = queue.current.shift()!;
        inFlight.current += 1;
        api
          .post<{ exits: string[]; exit_titles: ExitInfo["titles"] }>(
            `/api/node-types/${encodeURIComponent(job.type)}/exits`,
            { config: job.config },
          )
          .then((reply) => {
            const type = types.byType[job.type];
            setAnswers((prev) => ({
              ...prev,
              [job.key]: { exits: reply.exits, titles: reply.exit_titles, optional: type ? type.optional_exits : [] },
            }));
          })
          .catch(() => {
            asked.current.delete(job.key); // ask again on the next change
          })
          .finally(() => {
            inFlight.current -= 1;
            pump();
          });
      }
    };
    if (timer.current != null) window.clearTimeout(timer.current);
    timer.current = window.setTimeout(pump, DEBOUNCE_MS);
  }, [doc, types]);

  useEffect(() => () => {
    if (timer.current != null) window.clearTimeout(timer.current);
  }, []);

  const result: Record<string, ExitInfo> = {};
  if (!types) return result;
  for (const [id, node] of Object.entries(doc.nodes)) {
    const type = types.byType[node.type];
    if (type && !type.exits_from_config) {
      result[id] = staticInfo(types, node.type);
      continue;
    }
    const answer = answers[cacheKey(node)];
    if (answer) {
      lastKnown.current[id] = answer;
      result[id] = answer;
    } else {
      result[id] = lastKnown.current[id] || provisional(node, types);
    }
  }
  return result;
}

const staticCache = new WeakMap<NodeTypes, Record<string, ExitInfo>>();

function staticInfo(types: NodeTypes, typeName: string): ExitInfo {
  let cache = staticCache.get(types);
  if (!cache) {
    cache = {};
    staticCache.set(types, cache);
  }
  if (!cache[typeName]) {
    const type = types.byType[typeName];
    cache[typeName] = { exits: type.exits, titles: type.exit_titles, optional: type.optional_exits };
  }
  return cache[typeName];
}
