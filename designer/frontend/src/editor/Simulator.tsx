// The test-call panel: a simulated call on the saved draft over the /api/simulate WebSocket
// (see designer/simulation.py for the events). Keypad in; prompts heard, nodes entered,
// variables and the end out. The canvas highlights the active node and the path taken.

import { memo, useEffect, useRef, useState } from "react";
import { message, useLang, useT } from "../i18n";
import type { FlowDoc } from "./doc";

export interface SimTrace {
  active: string | null;
  visited: string[];
  edges: string[]; // "source::exit"
}

interface Line {
  kind: string;
  text: string;
  node?: string;
}

type Status = "idle" | "connecting" | "live" | "ended";

const KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"];

function edgeBetween(doc: FlowDoc, from: string, to: string): string | null {
  const exits = doc.nodes[from]?.exits || {};
  for (const [name, target] of Object.entries(exits)) if (target === to) return `${from}::${name}`;
  return null;
}

export const Simulator = memo(SimulatorView);

function SimulatorView({
  getDoc,
  canRun,
  prepare,
  onTrace,
}: {
  getDoc: () => FlowDoc;
  canRun: boolean;
  prepare: () => Promise<boolean>;
  onTrace: (trace: SimTrace | null) => void;
}) {
  const t = useT();
  const { lang } = useLang();
  const [caller, setCaller] = useState("13800138000");
  const [at, setAt] = useState("");
  const [status, setStatus] = useState<Status>("idle");
  const [lines, setLines] = useState<Line[]>([]);
  const [vars, setVars] = useState<Record<string, any>>({});
  const [waiting, setWaiting] = useState<number | null>(null);
  const [audio, setAudio] = useState(false);
  const socket = useRef<WebSocket | null>(null);
  const trace = useRef<SimTrace>({ active: null, visited: [], edges: [] });
  const docRef = useRef(getDoc());
  docRef.current = getDoc();
  const audioQueue = useRef<string[]>([]);
  const player = useRef<HTMLAudioElement | null>(null);
  const log = useRef<HTMLDivElement | null>(null);

  const push = (line: Line) => setLines((prev) => [...prev, line]);

  useEffect(() => {
    log.current?.scrollTo({ top: log.current.scrollHeight });
  }, [lines]);

  useEffect(
    () => () => {
      socket.current?.close();
      onTrace(null);
    },
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [],
  );

  const playNext = () => {
    const url = audioQueue.current.shift();
    if (!url) return;
    const el = player.current || new Audio();
    player.current = el;
    el.src = url;
    el.onended = playNext;
    el.onerror = playNext;
    el.play().catch(playNext);
  };

  const nodeName = (id: string) => {
    const label = docRef.current.nodes[id]?.label;
    return label ? `${label}（${id}）` : id;
  };

  const handle = (event: any) => {
    switch (event.type) {
      case "node": {
        if (event.depth !== 0) {
          push({ kind: "node sub", text: t("sim.node", { node: `${event.flow} / ${event.label || event.node}` }) });
          break;
        }
        const prev = trace.current.active;
        const edge = prev ? edgeBetween(docRef.current, prev, event.node) : null;
        trace.current = {
          active: event.node,
          visited: trace.current.visited.includes(event.node) ? trace.current.visited : [...trace.current.visited, event.node],
          edges: edge && !trace.current.edges.includes(edge) ? [...trace.current.edges, edge] : trace.current.edges,
        };
        onTrace({ ...trace.current });
        push({ kind: "node", text: t("sim.node", { node: nodeName(event.node) }), node: event.node });
        break;
      }
      case "prompt": {
        const text = event.text || (lang === "zh" ? event.text_zh : event.text_en) || "";
        push({ kind: "prompt", text: t("sim.heard", { text }), node: event.node });
        if (audio) {
          for (const p of event.prompts || []) {
            if (p.kind === "prompt" && p.id) {
              audioQueue.current.push(`/api/prompts/${encodeURIComponent(p.language || "zh-CN")}/${p.id}/audio`);
            }
          }
          if (player.current?.paused !== false) playNext();
        }
        break;
      }
      case "input":
        setWaiting(event.wait_ms ?? null);
        break;
      case "collected":
        setWaiting(null);
        push({ kind: "collected", text: t("sim.collected", { digits: event.digits || "—" }), node: event.node });
        break;
      case "vars":
        setVars(event.vars || {});
        break;
      case "transfer":
        push({ kind: "transfer", text: t("sim.transfer", { queue: event.queue, status: event.status }) });
        break;
      case "dial":
        push({ kind: "transfer", text: t("sim.dial", { number: event.number, status: event.status }) });
        break;
      case "voicemail":
        push({ kind: "transfer", text: t("sim.voicemail", { mailbox: event.mailbox, status: event.status }) });
        break;
      case "record":
        push({ kind: "transfer", text: t("sim.record", { status: event.status }) });
        break;
      case "ignored":
        push({ kind: "ignored", text: t("sim.ignored", { msg: message(lang, event) }) });
        break;
      case "error": {
        const problems = (event.problems || []).map((p: any) => message(lang, p)).join("；");
        push({ kind: "error", text: t("sim.error", { msg: [message(lang, event), problems].filter(Boolean).join(" ") }) });
        break;
      }
      case "end": {
        setWaiting(null);
        setStatus("ended");
        const steps = event.trace?.steps?.length;
        push({
          kind: "end",
          text: t("sim.ended", { msg: message(lang, event) || event.outcome }) + (steps ? ` · ${t("sim.steps", { n: steps })}` : ""),
        });
        trace.current = { ...trace.current, active: null };
        onTrace({ ...trace.current });
        break;
      }
      default:
        break;
    }
  };

  const start = async () => {
    if (!(await prepare())) return;
    docRef.current = getDoc();
    socket.current?.close();
    setLines([]);
    setVars({});
    setWaiting(null);
    trace.current = { active: null, visited: [], edges: [] };
    onTrace({ ...trace.current });
    setStatus("connecting");
    const proto = window.location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${proto}://${window.location.host}/api/simulate`);
    socket.current = ws;
    ws.onopen = () => {
      setStatus("live");
      const start: Record<string, any> = { type: "start", flow: docRef.current.id, source: "draft" };
      if (caller.trim()) start.caller = caller.trim();
      if (at) start.at = at.replace("T", " ");
      ws.send(JSON.stringify(start));
    };
    ws.onmessage = (m) => {
      try {
        handle(JSON.parse(m.data));
      } catch {
        /* a malformed event is skipped */
      }
    };
    ws.onclose = () => {
      if (socket.current === ws) {
        socket.current = null;
        setStatus((s) => (s === "ended" ? s : "ended"));
        setWaiting(null);
      }
    };
  };

  const press = (digits: string) => {
    const ws = socket.current;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    ws.send(JSON.stringify({ type: "keys", digits }));
    push({ kind: "pressed", text: t("sim.pressed", { digits }) });
  };

  const hangup = () => {
    const ws = socket.current;
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "hangup" }));
  };

  const live = status === "live" || status === "connecting";
  const varNames = Object.keys(vars).sort();

  return (
    <div className="simulator" data-testid="simulator">
      <h3>{t("sim.title")}</h3>
      <div className="sim-options">
        <label className="field">
          <span>{t("sim.caller")}</span>
          <input data-testid="sim-caller" value={caller} disabled={live} onChange={(e) => setCaller(e.target.value)} />
        </label>
        <label className="field">
          <span>{t("sim.at")}</span>
          <input type="datetime-local" data-testid="sim-at" value={at} disabled={live} onChange={(e) => setAt(e.target.value)} />
        </label>
        <label className="check">
          <input type="checkbox" checked={audio} onChange={(e) => setAudio(e.target.checked)} /> {t("sim.audio")}
        </label>
      </div>
      <p className="muted small">{t("sim.saveFirst")}</p>
      <div className="row-buttons">
        <button type="button" className="primary" data-testid="sim-start" disabled={live || !canRun} onClick={start}>
          {t("sim.start")}
        </button>
        <button type="button" className="danger" data-testid="sim-hangup" disabled={!live} onClick={hangup}>
          {t("sim.hangup")}
        </button>
      </div>
      <div className="sim-status" data-testid="sim-status" data-status={status}>
        {status === "idle" && t("sim.idle")}
        {status === "connecting" && t("sim.connecting")}
        {status === "live" && (waiting != null ? t("sim.waiting", { s: Math.round(waiting / 100) / 10 }) : t("sim.inCall"))}
      </div>
      <div className="keypad" data-testid="keypad">
        {KEYS.map((k) => (
          <button
            type="button"
            key={k}
            data-testid={`key-${k === "*" ? "star" : k === "#" ? "hash" : k}`}
            disabled={status !== "live"}
            className={waiting != null ? "ready" : ""}
            onClick={() => press(k)}
          >
            {k}
          </button>
        ))}
      </div>
      <h4>{t("sim.transcript")}</h4>
      <div className="sim-log" ref={log} data-testid="sim-log">
        {lines.map((line, i) => (
          <div key={i} className={`sim-line ${line.kind}`} data-kind={line.kind}>
            {line.text}
          </div>
        ))}
      </div>
      {varNames.length > 0 && (
        <>
          <h4>{t("sim.variables")}</h4>
          <table className="grid small" data-testid="sim-vars">
            <tbody>
              {varNames.map((n) => (
                <tr key={n}>
                  <td>
                    <code>{n}</code>
                  </td>
                  <td>{typeof vars[n] === "string" ? vars[n] : JSON.stringify(vars[n])}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </div>
  );
}
