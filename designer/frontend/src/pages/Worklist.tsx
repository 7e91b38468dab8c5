// The recorders' worklist (/worklist/FLOW): what a flow and its sub-flows still need from the
// studio — TTS placeholders, recordings waiting for approval, recordings made before the
// script changed — with the script, where each prompt is played, ▶, upload and approve, so a
// recorder works through the list without opening the canvas. Rows stay on the page once
// done (shown approved) until "Refresh".

import { useCallback, useEffect, useState } from "react";
import { api, ApiError } from "../api";
import type { Session } from "../api";
import { useLang, useT } from "../i18n";
import { keyOf, PromptActions, StatusBadge } from "../prompts";
import type { PromptItem } from "../prompts";

interface FlowOption {
  id: string;
  name: string;
}

const pending = (i: PromptItem) => (i.status !== "approved" && i.status !== "dynamic") || i.outdated;

export function Worklist({
  flowId,
  session,
  onFlow,
  onOpenFlow,
}: {
  flowId: string | null;
  session: Session;
  onFlow: (id: string) => void;
  onOpenFlow: (id: string) => void;
}) {
  const t = useT();
  const { lang } = useLang();
  const canWrite = session.user.permissions.includes("prompts.write");
  const [flows, setFlows] = useState<FlowOption[] | null>(null);
  const [rows, setRows] = useState<PromptItem[] | null>(null);
  const [error, setError] = useState("");
  const [tick, setTick] = useState(0);
  const [numbers, setNumbers] = useState(false);

  useEffect(() => {
    api
      .get<{ flows: FlowOption[] }>("/api/flows")
      .then((r) => setFlows(r.flows))
      .catch((e) => setError(e instanceof ApiError ? e.text(lang) : String(e)));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  useEffect(() => {
    setRows(null);
    if (!flowId) return;
    let cancelled = false;
    api
      .get<{ worklist: PromptItem[] }>(`/api/flows/${encodeURIComponent(flowId)}/worklist${numbers ? "?numbers=1" : ""}`)
      .then((r) => {
        if (cancelled) return;
        setRows(r.worklist);
        setError("");
      })
      .catch((e) => !cancelled && setError(e instanceof ApiError ? e.text(lang) : String(e)));
    return () => {
      cancelled = true;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [flowId, tick, numbers]);

  // after an upload or approval: the rows' state as the library sees it now (same rows)
  const refreshStates = useCallback(async () => {
    if (!flowId) return;
    try {
      const r = await api.get<{ prompts: PromptItem[] }>(`/api/prompts?flow=${encodeURIComponent(flowId)}`);
      const fresh = new Map(r.prompts.map((i) => [keyOf(i.prompt_id, i.language), i]));
      setRows((old) => old && old.map((row) => fresh.get(keyOf(row.prompt_id, row.language)) ?? row));
    } catch (e) {
      setError(e instanceof ApiError ? e.text(lang) : String(e));
    }
  }, [flowId, lang]);

  const remaining = rows ? rows.filter(pending).length : 0;

  return (
    <div className="flow-list worklist" data-testid="worklist">
      <div className="page-head">
        <h2>{t("worklist.title")}</h2>
      </div>
      <p className="muted intro">{t("worklist.intro")}</p>
      {!canWrite && <p className="warning small">{t("worklist.readOnly")}</p>}
      <div className="toolbar-row">
        <label className="inline-field">
          <span>{t("worklist.flow")}</span>
          <select data-testid="worklist-flow" value={flowId ?? ""} onChange={(e) => e.target.value && onFlow(e.target.value)}>
            <option value="">{t("worklist.choose")}</option>
            {(flows || []).map((f) => (
              <option key={f.id} value={f.id}>
                {f.name} ({f.id})
              </option>
            ))}
          </select>
        </label>
        {flowId && (
          <>
            <label className="inline-field small">
              <input type="checkbox" data-testid="worklist-numbers" checked={numbers} onChange={(e) => setNumbers(e.target.checked)} />
              <span>{t("worklist.numbers")}</span>
            </label>
            <button type="button" data-testid="worklist-refresh" onClick={() => setTick((x) => x + 1)}>
              {t("worklist.refresh")}
            </button>
            <button type="button" className="link" onClick={() => onOpenFlow(flowId)}>
              {t("worklist.openFlow")}
            </button>
          </>
        )}
      </div>
      {error && <p className="field-error">{error}</p>}
      {!flowId && <p className="muted">{t("worklist.pick")}</p>}
      {flowId && rows === null && !error && <p className="muted">{t("app.loading")}</p>}
      {rows && (
        <p className={remaining ? "" : "success"} data-testid="worklist-summary">
          {remaining ? t("worklist.remaining", { n: remaining, total: rows.length }) : t("worklist.done")}
        </p>
      )}
      {rows && rows.length > 0 && (
        <table className="grid worklist-table" data-testid="worklist-table">
          <thead>
            <tr>
              <th>{t("worklist.prompt")}</th>
              <th>{t("worklist.language")}</th>
              <th>{t("worklist.text")}</th>
              <th>{t("worklist.usedBy")}</th>
              <th>{t("worklist.status")}</th>
              <th>{t("worklist.actions")}</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr
                key={keyOf(row.prompt_id, row.language)}
                data-testid={`work-${row.prompt_id}-${row.language}`}
                className={pending(row) ? "" : "done"}
              >
                <td>
                  <code>{row.prompt_id}</code>
                </td>
                <td className="small">{row.language}</td>
                <td className="script">{row.text || <span className="muted">{t("worklist.noText")}</span>}</td>
                <td className="small">
                  {row.used_by.map((u) => (
                    <div key={`${u.flow}/${u.node}`}>
                      {u.flow === flowId ? "" : `${u.flow} · `}
                      <code>{u.node}</code>
                    </div>
                  ))}
                </td>
                <td>
                  <StatusBadge item={row} />
                </td>
                <td>
                  <PromptActions
                    promptId={row.prompt_id}
                    language={row.language}
                    item={row}
                    canWrite={canWrite}
                    onChanged={refreshStates}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
